"""gunicorn settings, read automatically when gunicorn starts in the project root.

Threads rather than more processes: a request spends much of its time waiting
on PostgreSQL and Redis, during which another thread of the same process can
run; and gthread workers keep client connections alive, which sync workers
never do. Two processes suit the 2-core machines Orderdesk runs on; set
WEB_CONCURRENCY for bigger ones. Command-line options override these.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 5
