"""One POST to a customer's URL that cannot be turned against our own network (SSRF).

- Only https, unless WEBHOOK_ALLOW_HTTP (development).
- The host is resolved once; every address it resolves to must be public
  (not private, loopback, link-local, multicast, reserved or unspecified)
  unless WEBHOOK_ALLOW_PRIVATE_TARGETS. The connection goes to that resolved
  address (the Host header and TLS name stay the URL's), so a name cannot
  resolve to a public address when checked and to a private one when used.
  A batch's later POSTs to the same origin reuse that connection (SafePoster).
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
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client's own connect does


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def safe_post(url: str, *, body: bytes, headers: dict[str, str]) -> PostResult:
    """One POST on a connection of its own (see SafePoster). Never raises: a refusal or a network error is a failed result."""
    with SafePoster() as poster:
        return poster.post(url, body=body, headers=headers)


class SafePoster:
    """POSTs of one delivery batch, keeping one connection per origin (scheme, host, port) alive between them.

    A connection is opened to the address resolved and checked when it is
    opened, and only that address: a later POST to the same origin reuses it
    without resolving again, so what is checked is still what is connected to.
    Opening a connection costs a resolution, a TCP (and TLS) handshake and a
    thread at the receiver; a batch of one endpoint's deliveries pays that once.

    A connection is dropped, not reused, after any error and after a response
    whose body was longer than WEBHOOK_RESPONSE_MAX_BYTES (the rest is never
    read). A kept-alive connection the receiver closed in the meantime fails
    the next request before an answer: that request is sent once more on a
    fresh connection (a receiver may then get the event twice; it
    de-duplicates on the event id, as at-least-once asks of it).

        with SafePoster() as poster:
            result = poster.post(url, body=body, headers=headers)
    """

    def __init__(self):
        self._connections: dict[tuple[str, str, int], http.client.HTTPConnection] = {}

    def __enter__(self) -> "SafePoster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> PostResult:
        """POST `body` to `url` as described in the module's docstring. Never raises."""
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            scheme, port, host, _addresses = url_check(url, resolve=False)
            origin = (scheme, host, port)
            reused = origin in self._connections
            connection = self._connections.get(origin) or self._open(url, origin)
        except TargetRefused as refused:
            return PostResult(status_code=None, duration_ms=elapsed(), excerpt="", error=f"refused: {refused}"[:300])
        try:
            try:
                response = _exchange(connection, path, body=body, headers=headers)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not reused:
                    raise
                self._drop(origin)  # closed by the receiver while idle: once more, on a new connection
                connection = self._open(url, origin)
                response = _exchange(connection, path, body=body, headers=headers)
            excerpt = response.read(settings.WEBHOOK_RESPONSE_MAX_BYTES)
            if not response.isclosed():
                self._drop(origin)  # the rest of a long body is never read, so the connection cannot carry another request
            return PostResult(status_code=response.status, duration_ms=elapsed(), excerpt=excerpt.decode("utf-8", "replace"))
        except TargetRefused as refused:  # the host resolved elsewhere when the connection was opened again
            return PostResult(status_code=None, duration_ms=elapsed(), excerpt="", error=f"refused: {refused}"[:300])
        except (OSError, http.client.HTTPException) as error:
            self._drop(origin)
            return PostResult(status_code=None, duration_ms=elapsed(), excerpt="", error=f"{type(error).__name__}: {error}"[:300])

    def _open(self, url: str, origin: tuple[str, str, int]) -> http.client.HTTPConnection:
        """A connection (not yet connected) pinned to the first address the URL's host resolves to, all of them checked."""
        scheme, port, host, addresses = url_check(url)
        connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        connection = connection_class(host, port, address=addresses[0], timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
        self._connections[origin] = connection
        return connection

    def _drop(self, origin: tuple[str, str, int]) -> None:
        connection = self._connections.pop(origin, None)
        if connection is not None:
            connection.close()


def _exchange(connection: http.client.HTTPConnection, path: str, *, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection.request("POST", path, body=body, headers={**headers, "Content-Length": str(len(body))})
    return connection.getresponse()
