"""A real HTTP receiver on loopback for the webhook tests: it records every request and answers as told."""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from orderdesk.notifications.signing import SIGNATURE_HEADER, signature_verify


@dataclass
class Received:
    at: float
    path: str
    headers: dict
    body: bytes
    client: tuple = ()  # (address, port) the request came from: one connection, one port

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        return signature_verify(body=self.body, header=self.headers.get(SIGNATURE_HEADER, ""), secret=secret)


@dataclass
class Receiver:
    """`answer(received) -> (status, body)` decides each response; `delay` seconds pass before it is sent."""

    port: int = 0
    answer: object = None
    delay: float = 0.0
    redirect_to: str = ""  # answer 307 with this Location
    keep_alive: bool = False  # HTTP/1.1: the connection stays open between requests, as most web servers keep it
    close_quietly: bool = False  # with keep_alive: close after each answer without saying so (an idle timeout)
    received: list = field(default_factory=list)
    started_requests: list = field(default_factory=list)

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = receiver.keep_alive

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                item = Received(at=time.monotonic(), path=self.path, headers=dict(self.headers), body=body, client=self.client_address)
                receiver.started_requests.append(item)
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, text = receiver.answer(item) if receiver.answer else (200, b"ok")
                if receiver.redirect_to:
                    status, text = 307, b""
                receiver.received.append(item)
                try:
                    self.send_response(status)
                    if receiver.redirect_to:
                        self.send_header("Location", receiver.redirect_to)
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    if receiver.close_quietly:
                        self.close_connection = True
                except OSError:
                    pass  # the caller went away (a killed worker)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def event_ids(self) -> set[str]:
        return {item.event["id"] for item in list(self.received)}
