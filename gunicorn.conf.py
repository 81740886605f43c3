"""gunicorn settings, read automatically when gunicorn starts in the project root.

Threads rather than more processes: a request spends much of its time waiting
on PostgreSQL and Redis, during which another thread of the same process can
run; and gthread workers keep client connections alive, which sync workers
never do. Two processes suit the 2-core machines Orderdesk runs on; set
WEB_CONCURRENCY for bigger ones. Command-line options override these.
"""

import os

from orderdesk.env import check_in_flight_timeout, env_int

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, answering the requests gunicorn refuses itself (headers over its limits,
# malformed requests) as application/problem+json rather than an HTML page.
worker_class = "orderdesk.gunicorn_worker.ProblemThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
# A worker silent this long is killed. The settings read the same variable: an
# Idempotency-Key claimed by a request that died with its worker is freed a few
# seconds after this (IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS), and on_starting
# refuses a --timeout that does not fit it.
timeout = env_int("WEB_TIMEOUT_SECONDS", 30, minimum=1)


# Prometheus multi-process mode (orderdesk.metrics): the workers write their metrics
# under METRICS_DIR/web, emptied when gunicorn starts; a worker that exits drops its
# live gauges. Imported here, in the master, before any worker is forked.
def on_starting(server):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
    from django.conf import settings

    check_in_flight_timeout(
        web_timeout=server.cfg.timeout,
        in_flight=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS,
        margin=settings.IDEMPOTENCY_IN_FLIGHT_MAX_MARGIN_SECONDS,
    )
    from orderdesk.metrics import use_program_directory

    use_program_directory("web")


def child_exit(server, worker):
    from orderdesk.metrics import mark_process_dead

    mark_process_dead(worker.pid)
