"""Webhook signatures: `Orderdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`.

During a secret rotation's overlap the header carries one v1 per valid
secret (the new one first), so a receiver that still has the old secret
accepts the delivery. `signature_verify` is what a receiver does (README,
"Webhooks"): the tests check deliveries with it.
"""

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Orderdesk-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature_header(*, body: bytes, secrets: Sequence[str], timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + body
    parts = [f"t={timestamp}"] + [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in secrets]
    return ",".join(parts)


def signature_verify(*, body: bytes, header: str, secret: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """True when one v1 in `header` is this secret's signature of `body` and its time is within `tolerance` seconds."""
    try:
        pairs = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for key, value in pairs if key == "t"))
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, value in pairs)
