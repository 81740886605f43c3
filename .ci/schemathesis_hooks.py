"""schemathesis hooks for .ci/schemathesis_run.py: the API's own promises, checked on every response.

Loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks (the runner puts .ci on PYTHONPATH).
"""

import json
import re
import uuid

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance as _positive_data_acceptance

_VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
PROBLEM = "application/problem+json"
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Each request with a valid Idempotency-Key gets a key of its own.

    A client sends a new key with each new request; generated keys repeat
    ("0", "A", …), and a key seen before with another body is a 422 the schema
    documents but no generated request can expect. Invalid keys are kept: the
    API must refuse them.
    """
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and _VALID_KEY.match(key):
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
    return None


def _names_a_sku_twice(body) -> bool:
    lines = body.get("lines") if isinstance(body, dict) else None
    if not isinstance(lines, list):
        return False
    skus = [line.get("sku") for line in lines if isinstance(line, dict) and isinstance(line.get("sku"), str)]
    return len(skus) != len(set(skus))


@schemathesis.check
def positive_data_accepted(ctx, response, case):
    """schemathesis's positive_data_acceptance (run with it excluded), except for webhook URLs refused for where they
    lead (below) and order bodies naming a SKU twice:
    "each SKU at most once" is the one rule of an order's body that JSON Schema cannot state (the schema says it
    in words), and the API answers such a body 400."""
    if _names_a_sku_twice(case.body):
        return None
    if _endpoint_url_refused(case, response):
        return None
    return _positive_data_acceptance(ctx, response, case)


def _endpoint_url_refused(case, response) -> bool:
    """A webhook endpoint's URL refused for where it leads (a name that does not resolve, a private address):
    no schema can state what a host name resolves to, and the API answers such a URL 400 naming `url`."""
    if "/webhook-endpoints/" not in case.path or response.status_code != 400:
        return False
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and all(error.get("field") == "url" and error.get("code") == "refused" for error in errors)


@schemathesis.check
def errors_are_problem_json(ctx, response, case):
    """Every 4xx and 5xx is application/problem+json with type, title, status and detail (API.md, "Errors")."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if content_type != PROBLEM:
        raise AssertionError(f"A {response.status_code} answered {content_type or 'no content type'}, not {PROBLEM}")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"A {response.status_code} answered a body that is not JSON") from None
    missing = [name for name in ("type", "title", "status", "detail") if not isinstance(body.get(name), str | int)]
    if missing or body["status"] != response.status_code:
        raise AssertionError(f"A {response.status_code} problem lacks {missing or 'the right status'}: {body}")
    return None


@schemathesis.check
def errors_in_japanese_by_default(ctx, response, case):
    """Without Accept-Language an error's title, detail and every message are Japanese (API.md: errors follow
    Accept-Language, Japanese by default, one language per response)."""
    if response.status_code < 400 or "accept-language" in {name.lower() for name in (case.headers or {})}:
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None  # errors_are_problem_json says so
    texts = [body.get("title"), body.get("detail"), *(e.get("message") for e in body.get("errors") or [] if isinstance(e, dict))]
    english = [text for text in texts if isinstance(text, str) and not JAPANESE.search(text)]
    if english:
        raise AssertionError(f"A {response.status_code} answered without Accept-Language is not in Japanese: {english}")
    return None
