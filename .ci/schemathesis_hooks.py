"""schemathesis hooks for .ci/schemathesis_run.py: the API's own promises, checked on every response.

Loaded with SCHEMATHESIS_HOOKS=schemathesis_hooks (the runner puts .ci on PYTHONPATH).
"""

import json
import re
import uuid

import schemathesis

_VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
PROBLEM = "application/problem+json"


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


@schemathesis.hook
def filter_body(ctx, body):
    """Leave out order bodies naming a SKU twice: "each SKU at most once" is the one rule of an order's
    body that JSON Schema cannot state (the schema says it in words); the API answers such a body 400."""
    lines = body.get("lines") if isinstance(body, dict) else None
    if not isinstance(lines, list):
        return True
    skus = [line.get("sku") for line in lines if isinstance(line, dict) and isinstance(line.get("sku"), str)]
    return len(skus) == len(set(skus))


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
