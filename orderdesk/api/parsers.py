import json

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from orderdesk.api.problems import PayloadTooLarge

# No body of the API nests deeper than 4 (an order, its lines, a line); arrays or objects
# nested about a thousand deep exhaust Python's stack in json.loads and json.dumps.
MAX_JSON_DEPTH = 32


class LimitedJSONParser(JSONParser):
    """JSON with a size limit and a nesting limit; the body is never read past settings.API_MAX_BODY_BYTES."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                _("The body is %(size)s bytes; the limit is %(limit)s bytes.") % {"size": f"{int(declared):,}", "limit": f"{limit:,}"}
            )
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(body_over_limit(limit))
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParseError(_("The body is not UTF-8 text.")) from None
        except RecursionError:
            raise _too_deep() from None
        except json.JSONDecodeError as error:
            # Where, not json's own English words: the answer is in the request's language.
            raise ParseError(
                _("The body is not valid JSON (line %(line)d, column %(column)d).") % {"line": error.lineno, "column": error.colno}
            ) from None
        except ValueError:
            raise ParseError(_("The body is not valid JSON.")) from None
        # Counting brackets is cheap; only a body with many of them is walked.
        if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
            raise _too_deep()
        return data


def json_depth(data) -> int:
    """How deep arrays and objects nest in parsed JSON (a scalar is 0), without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _too_deep() -> ParseError:
    return ParseError(
        _("The body is not valid JSON for this API: arrays and objects nest at most %(depth)d deep.") % {"depth": MAX_JSON_DEPTH}
    )


def body_over_limit(limit: int) -> str:
    return _("The body is over the limit of %(limit)s bytes.") % {"limit": f"{limit:,}"}
