"""Serve this host's process metrics over HTTP, for hosts that run Celery workers but no web process.

The web's /metrics adds up the metric files of the processes on its own host
(orderdesk.metrics) and what the database knows. A worker on another host
writes its files there; this small server lets Prometheus scrape them. The
same access rules apply as for /metrics (METRICS_TOKEN, METRICS_ALLOWED_ADDRESSES).
"""

from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.core.management.base import BaseCommand

from orderdesk import metrics


def metrics_app(environ, start_response):
    if environ.get("PATH_INFO") not in ("/metrics", "/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"only /metrics here\n"]
    refusal = metrics.scrape_refusal(remote_addr=environ.get("REMOTE_ADDR", ""), authorization=environ.get("HTTP_AUTHORIZATION", ""))
    if refusal is not None:
        status, message = refusal
        start_response(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}", [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{message}\n".encode()]
    start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
    return [metrics.exposition()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per scrape would drown the worker's log
        pass


class Command(BaseCommand):
    help = "Serve this host's process metrics (Celery workers' step durations, task counts) at http://ADDRESS:PORT/metrics."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=9808)

    def handle(self, *args, bind, port, **options):
        with make_server(bind, port, metrics_app, handler_class=QuietHandler) as server:
            self.stdout.write(f"serving this host's metrics at http://{bind}:{port}/metrics")
            server.serve_forever()
