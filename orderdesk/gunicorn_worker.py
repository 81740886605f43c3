"""gunicorn's threaded worker, answering the requests gunicorn itself refuses as problem+json.

gunicorn refuses a request before Orderdesk sees it when its request line or
headers are over its limits (`limit_request_line`, `limit_request_fields`,
`limit_request_field_size`: 4,094 bytes, 100 fields, 8,190 bytes by default)
or malformed (an invalid header name, a bad chunk size, …). Its own answer is
an HTML page; a purchasing system parsing the API's errors gets
application/problem+json like every other error instead, with the status
gunicorn chose (400, 414, 431, 417, 501).

Nothing of Django is loaded here: the request was not read far enough to
know its language, so the text is the API's default, Japanese, with the
limit in English words after it for the operator's log. gunicorn.conf.py
names this class as `worker_class`.
"""

import json

from gunicorn import util
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

# (exception classes, status, reason, problem type, title); the first that matches answers.
_REFUSALS = (
    (errors.LimitRequestLine, 414, "URI Too Long", "request-line-too-long", "リクエスト行（URL）が長すぎます。"),
    (errors.LimitRequestHeaders, 431, "Request Header Fields Too Large", "headers-too-large", "リクエストヘッダーが多すぎるか、長すぎます。"),
    (errors.ExpectationFailed, 417, "Expectation Failed", "expectation-failed", "Expect ヘッダーの値には応じられません。"),
    (errors.UnsupportedTransferCoding, 501, "Not Implemented", "unsupported-transfer-coding", "この Transfer-Encoding には対応していません。"),
    (
        (
            errors.InvalidRequestLine,
            errors.InvalidRequestMethod,
            errors.InvalidHTTPVersion,
            errors.InvalidHeader,
            errors.InvalidHeaderName,
            errors.ObsoleteFolding,
            errors.InvalidChunkSize,
            errors.ChunkMissingTerminator,
            errors.InvalidChunkExtension,
        ),
        400,
        "Bad Request",
        "malformed-request",
        "HTTP リクエストの形式が正しくありません。",
    ),
)
# The application's own bad response headers are a 500, answered as gunicorn answers them.
_NOT_THE_CLIENTS = (errors.InvalidResponseHeader, errors.InvalidResponseHeaderName)


def refusal_for(exc: Exception) -> tuple[int, str, bytes] | None:
    """(status, reason, problem+json body) for a request gunicorn refuses, or None for any other error."""
    if isinstance(exc, _NOT_THE_CLIENTS):
        return None
    for classes, status, reason, problem_type, title in _REFUSALS:
        if isinstance(exc, classes):
            body = {"type": problem_type, "title": title, "status": status, "detail": f"{title} ({reason}: {exc})"}
            return status, reason, json.dumps(body, ensure_ascii=False).encode()
    return None


class ProblemThreadWorker(ThreadWorker):
    def handle_error(self, req, client, addr, exc):
        refusal = refusal_for(exc)
        if refusal is None:
            return super().handle_error(req, client, addr, exc)
        status, reason, body = refusal
        self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)
        head = (
            f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        try:
            util.write_nonblock(client, head + body)
        except Exception:  # noqa: BLE001 — the client may be gone; gunicorn ignores this too
            self.log.debug("Failed to send error message.")
        return None
