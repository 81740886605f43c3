"""gunicorn settings, read automatically when gunicorn starts in the project root.

Threads rather than more processes: a request spends much of its time waiting
on PostgreSQL and Redis, during which another thread of the same process can
run; and gthread workers keep client connections alive, which sync workers
never do. Two processes suit the 2-core machines Orderdesk runs on; set
WEB_CONCURRENCY for bigger ones. Command-line options override these.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread, answering the requests gunicorn refuses itself (headers over its limits,
# malformed requests) as application/problem+json rather than an HTML page.
worker_class = "orderdesk.gunicorn_worker.ProblemThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5


# Prometheus multi-process mode (orderdesk.metrics): the workers write their metrics
# under METRICS_DIR/web, emptied when gunicorn starts; a worker that exits drops its
# live gauges. Imported here, in the master, before any worker is forked.
def on_starting(server):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderdesk.settings")
    from orderdesk.metrics import use_program_directory

    use_program_directory("web")


def child_exit(server, worker):
    from orderdesk.metrics import mark_process_dead

    mark_process_dead(worker.pid)
