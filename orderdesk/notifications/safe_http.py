"""One POST to a customer's URL that cannot be turned against our own network (SSRF).

- Only https, unless WEBHOOK_ALLOW_HTTP (development).
- The host is resolved once; every address it resolves to must be public
  (not private, loopback, link-local, multicast, reserved or unspecified)
  unless WEBHOOK_ALLOW_PRIVATE_TARGETS. The connection goes to that resolved
  address (the Host header and TLS name stay the URL's), so a name cannot
  resolve to a public address when checked and to a private one when used.
- Redirects are not followed (a 3xx is a failed attempt), the timeout
  bounds connecting and each read, and at most WEBHOOK_RESPONSE_MAX_BYTES
  of the body are read.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class TargetRefused(Exception):
    """The URL may not be called: its scheme, or an address its host resolves to."""


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    duration_ms: int
    excerpt: str
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def url_check(url: str, *, resolve: bool = True) -> tuple[str, int, str, list[str]]:
    """(scheme, port, host, addresses) of a URL we may call, or TargetRefused saying why not."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if settings.WEBHOOK_ALLOW_HTTP else {"https"}
    if parts.scheme not in allowed:
        raise TargetRefused(_("the URL must use %(schemes)s") % {"schemes": " / ".join(sorted(allowed))})
    if not parts.hostname:
        raise TargetRefused(_("the URL has no host"))
    if parts.username or parts.password:
        raise TargetRefused(_("the URL may not carry a user name or password"))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise TargetRefused(_("the URL's port is not a number from 1 to 65535")) from None
    if not resolve:
        return parts.scheme, port, parts.hostname, []
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise TargetRefused(_("the host %(host)s does not resolve (%(error)s)") % {"host": parts.hostname, "error": error}) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            if not address_is_public(address):
                raise TargetRefused(
                    _("the host %(host)s resolves to %(address)s, which is not a public address") % {"host": parts.hostname, "address": address}
                )
    if not addresses:
        raise TargetRefused(_("the host %(host)s does not resolve") % {"host": parts.hostname})
    return parts.scheme, port, parts.hostname, addresses


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def safe_post(url: str, *, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST `body` to `url` as described above. Never raises: a refusal or a network error is a failed result."""
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        scheme, port, host, addresses = url_check(url)
    except TargetRefused as refused:
        return PostResult(status_code=None, duration_ms=elapsed(), excerpt="", error=f"refused: {refused}"[:300])
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, port, address=addresses[0], timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
        response = connection.getresponse()
        excerpt = response.read(settings.WEBHOOK_RESPONSE_MAX_BYTES)
        return PostResult(status_code=response.status, duration_ms=elapsed(), excerpt=excerpt.decode("utf-8", "replace"))
    except (OSError, http.client.HTTPException) as error:
        return PostResult(status_code=None, duration_ms=elapsed(), excerpt="", error=f"{type(error).__name__}: {error}"[:300])
    finally:
        connection.close()
