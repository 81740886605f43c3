import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from orderdesk.api.problems import PayloadTooLarge


class LimitedJSONParser(JSONParser):
    """JSON with a size limit; the body is never read past settings.API_MAX_BODY_BYTES."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The body is {int(declared):,} bytes; the limit is {limit:,} bytes.")
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The body is over the limit of {limit:,} bytes.")
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParseError("The body is not UTF-8 text.") from None
        except ValueError as error:
            raise ParseError(f"The body is not valid JSON: {error}") from None
