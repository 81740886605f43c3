from rest_framework.renderers import BaseRenderer, JSONRenderer


class PdfRenderer(BaseRenderer):
    """Accepts `Accept: application/pdf` for document endpoints.

    The PDF itself is sent as a FileResponse, which no renderer touches; this
    renderer only meets error bodies (problem+json), which it writes as JSON.
    """

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, renderer_context=renderer_context)
