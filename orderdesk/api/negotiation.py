"""Content negotiation that answers the common case at once.

Almost every client of the API sends no Accept header, `*/*` or
`application/json`, and every view's first renderer is JSON: for those DRF's
negotiation parses and ranks the Accept list only to arrive at JSON, a cost
each order submission paid. Anything else (a format suffix, `?format=`,
another media type) gets DRF's full negotiation, 406 included.
"""

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation

_PLAIN_ACCEPTS = frozenset({None, "", "*/*", "application/json"})


def accepts_json_plainly(meta) -> bool:
    """No Accept header, */* or application/json, and no ?format=: JSON, without looking further."""
    return meta.get("HTTP_ACCEPT") in _PLAIN_ACCEPTS and not meta.get("QUERY_STRING")


class JsonFirstContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if format_suffix is None and accepts_json_plainly(request.META) and renderers and renderers[0].media_type == "application/json":
            return renderers[0], renderers[0].media_type
        if format_suffix is None and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE) == "":
            # DRF ignores an empty ?format= and answers in its first format; the schema lists the formats
            # there are, so an empty one is as unknown as any other: 404, as DRF answers an unknown format.
            formats = ", ".join(renderer.format for renderer in renderers)
            raise NotFound(_("The format is empty; this operation answers in: %(formats)s.") % {"formats": formats})
        return super().select_renderer(request, renderers, format_suffix)
