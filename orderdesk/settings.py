"""Orderdesk settings.

Everything that differs between a newcomer's laptop and production comes from
environment variables through orderdesk.env (see the README's configuration
table). With nothing set, Orderdesk runs embedded: SQLite and a filesystem
Celery broker, both under var/.
"""

import re
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from orderdesk.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ORDERDESK_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; embedded runs keep a generated one in var/."""
    key = env_str("SECRET_KEY", "")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Our apps first: their translations take precedence over the libraries'
    # (import-export's catalog, for one, has its own Japanese for "Created").
    "orderdesk",
    "licensing",
    "quotes",
    "orders",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "import_export",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "orderdesk.middleware.StaffJapaneseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "orderdesk.urls"
WSGI_APPLICATION = "orderdesk.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "orderdesk.roles.roles_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'orderdesk.sqlite3'}")
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
except ValueError as error:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL we understand: {error}") from None

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share one SQLite file: wait for the
    # writer lock instead of failing, and take it at BEGIN so two writers
    # cannot deadlock upgrading from a read lock.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Lets orderdesk.db.prepared_cursor() prepare the order intake's statements.
    # Django's own cursors bind parameters in the client and never prepare, so
    # nothing else changes.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling counters, shared by every web process) --------------

CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "orderdesk.cache.OrderdeskRedisCache",
            "LOCATION": CACHE_URL,
            # Every API request counts against its rate limit here: a Redis that hangs
            # must cost a request a fraction of a second, not hold it (the limit then
            # lets it through, orderdesk.api.throttling).
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.5},
        }
    }
elif CACHE_URL in ("", "file://"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL must be redis://…, file:// or locmem://; got {CACHE_URL!r}")

# --- Auth ------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

# --- Language, time, money --------------------------------------------------

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

# --- Static and media files -------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- HTTP limits --------------------------------------------------------------

# Largest API request body we read. A 100-line order is about 6 KB.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)

# --- Licenses: validation from devices, the work-hours record ------------------------

_RATE_FORMAT = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


def _rate(name: str, default: str) -> str:
    """A rate such as 300/min (DRF's throttle format), checked at start-up."""
    value = env_str(name, default)
    if not _RATE_FORMAT.match(value):
        raise ImproperlyConfigured(f"{name} must look like 300/min (N/sec, N/min, N/hour or N/day); got {value!r}")
    return value


# POST /api/v1/licenses/validate/ with the license key alone (a device): at most
# this many validations per key, and per client address (REMOTE_ADDR; behind
# proxies set REST_FRAMEWORK NUM_PROXIES), each in a window that starts with its
# first request. One key covers every seat of an order line, so its limit must
# allow all those devices starting at 9:00.
LICENSE_VALIDATE_KEY_RATE_LIMIT = _rate("LICENSE_VALIDATE_KEY_RATE_LIMIT", "300/min")
LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = _rate("LICENSE_VALIDATE_ADDRESS_RATE_LIMIT", "600/min")
# A device's `at` is used only within this many seconds of the server clock; else the server's time is judged.
LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS = env_int("LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS", 300, minimum=0)
# The work-hours record (outside-hours rows, daily counters) is pruned after this many days.
# Japanese labour law keeps attendance records for 5 years (3 during the transition): 3 years by default.
WORK_HOURS_RECORD_RETENTION_DAYS = env_int("WORK_HOURS_RECORD_RETENTION_DAYS", 3 * 365, minimum=1)
# For bench/validate.py only, which measures what the record adds to a validation
# against a server that skips it. Never set in production: the unions rely on the record.
ORDERDESK_BENCH_SKIP_WORK_HOURS_RECORD = env_bool("ORDERDESK_BENCH_SKIP_WORK_HOURS_RECORD", False)

# --- Customer API -------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["licensing.authentication.CustomerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["licensing.authentication.IsCustomer"],
    "DEFAULT_PARSER_CLASSES": ["orderdesk.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["orderdesk.api.throttling.CustomerTokenThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "customer_token": env_str("API_RATE_LIMIT", "6000/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "orderdesk.api.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Orderdesk customer API",
    "DESCRIPTION": (
        "Purchase orders, quotes and licenses for customers' purchasing systems.\n\n"
        "Authenticate with `Authorization: Token <key>`. Every POST accepts an "
        "`Idempotency-Key` header. Errors are `application/problem+json` (RFC 9457).\n\n"
        "Rate limit: each token may make "
        + env_str("API_RATE_LIMIT", "6000/min")
        + " requests, in a window that starts with its first request; beyond that the API answers 429"
        " with a `Retry-After` header (seconds until the window ends).\n\n"
        "Devices may validate a license key without a token (`POST /api/v1/licenses/validate/` with the key"
        " alone): at most " + LICENSE_VALIDATE_KEY_RATE_LIMIT + " per key and "
        + LICENSE_VALIDATE_ADDRESS_RATE_LIMIT + " per client address, with the same 429 and `Retry-After`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Orders and subscriptions both have a `status`: give each enum its own name.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "SubscriptionStatusEnum": "licensing.models.Subscription.Status",
    },
}

IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# A request that has held its key this long without finishing is presumed dead
# (its process was killed) and the key may be taken over by a retry.
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env_int("IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", 60, minimum=1)

# --- Orders and pricing ----------------------------------------------------------

# How consumption tax is rounded, once per document per rate: down (切り捨て),
# half_up (四捨五入) or up (切り上げ).
TAX_ROUNDING = env_choice("TAX_ROUNDING", "down", {"down", "half_up", "up"})

ORDERDESK_ISSUER = {
    "name": env_str("ISSUER_NAME", "株式会社オーダーデスク"),
    "postal_code": env_str("ISSUER_POSTAL_CODE", "100-0005"),
    "address": env_str("ISSUER_ADDRESS", "東京都千代田区丸の内1-1-1 オーダーデスクビル 12F"),
    "phone": env_str("ISSUER_PHONE", "03-1234-5678"),
    "registration_number": env_str("ISSUER_REGISTRATION_NUMBER", "T1234567890123"),
}

# --- The order pipeline -------------------------------------------------------------

# Straight-through rules (orders/rules.py): beyond these an order waits for a person.
ORDER_REVIEW_MAX_QUANTITY = env_int("ORDER_REVIEW_MAX_QUANTITY", 1000, minimum=1)
ORDER_DUPLICATE_WINDOW_HOURS = env_int("ORDER_DUPLICATE_WINDOW_HOURS", 24, minimum=0)
# The sweeper re-enqueues orders that sat in a moving state longer than this
# (broker down at submission, messages lost in a Redis restart, a worker killed).
ORDER_STUCK_AFTER_SECONDS = env_int("ORDER_STUCK_AFTER_SECONDS", 600, minimum=1)
ORDER_SWEEP_INTERVAL_SECONDS = env_int("ORDER_SWEEP_INTERVAL_SECONDS", 60, minimum=1)
ORDER_SWEEP_BATCH = env_int("ORDER_SWEEP_BATCH", 1000, minimum=1)
# How many orders one pipeline step takes at once (one transaction, one message).
# Larger batches cost fewer statements and messages per order, and hold more
# orders' row locks for the length of the step (rendering PDFs, for the last one).
ORDER_PIPELINE_BATCH_SIZE = env_int("ORDER_PIPELINE_BATCH_SIZE", 50, minimum=1)
# New orders ring a doorbell instead of publishing a message each
# (orders.services.queueing): a pending gather message silences further
# publishes for at most this long. A lost message delays new orders by this,
# plus until the next new order comes; the sweeper covers the rest. 0: every
# new order publishes (as with a per-process cache, where the doorbell is off).
ORDER_GATHER_DOORBELL_SECONDS = env_int("ORDER_GATHER_DOORBELL_SECONDS", 10, minimum=0)
# Technical errors (database unreachable, lock timeouts) are retried with
# exponential backoff this many times; then the order is `failed`.
ORDER_STEP_MAX_RETRIES = env_int("ORDER_STEP_MAX_RETRIES", 5, minimum=0)
ORDER_STEP_RETRY_BACKOFF_MAX_SECONDS = env_int("ORDER_STEP_RETRY_BACKOFF_MAX_SECONDS", 300, minimum=1)
# The order's quote PDF (御見積書).
ORDER_QUOTE_VALIDITY_DAYS = env_int("ORDER_QUOTE_VALIDITY_DAYS", 30, minimum=1)
ORDER_PAYMENT_TERMS = env_str("ORDER_PAYMENT_TERMS", "月末締め翌月末払い")
# Fault injection for the pipeline's fault tests only: provisioning sleeps this
# long per order line, so a test can kill the worker mid-step. Never set it in production.
ORDERDESK_TEST_PROVISION_DELAY_MS = env_int("ORDERDESK_TEST_PROVISION_DELAY_MS", 0, minimum=0)

# --- Quotes ---------------------------------------------------------------------------

QUOTE_VALIDITY_DAYS = env_int("QUOTE_VALIDITY_DAYS", 30, minimum=1)
# A quote whose discounts take more than this percentage off the list price
# must be approved by a manager before it can be sent.
QUOTE_APPROVAL_DISCOUNT_PERCENT = env_int("QUOTE_APPROVAL_DISCOUNT_PERCENT", 10, minimum=0)
QUOTE_PAYMENT_TERMS = env_str("QUOTE_PAYMENT_TERMS", "月末締め翌月末払い")

# --- E-mail (quotes are sent with their PDF attached) -------------------------------------

_EMAIL_BACKENDS = {
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
}
# file: every message is written under var/mail/ (nothing leaves the machine); smtp: EMAIL_HOST…
EMAIL_BACKEND = _EMAIL_BACKENDS[env_choice("EMAIL_BACKEND", "file", set(_EMAIL_BACKENDS))]
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "quotes@orderdesk.example.jp")

# --- The shared backlog (staff pages under /backlog/) -----------------------------

# An order's age (since it was received) colours it: fresh below the first
# threshold, ageing below the second, overdue from then on.
BACKLOG_SLA_AGEING_MINUTES = env_int("BACKLOG_SLA_AGEING_MINUTES", 4 * 60, minimum=1)
BACKLOG_SLA_OVERDUE_MINUTES = env_int("BACKLOG_SLA_OVERDUE_MINUTES", 24 * 60, minimum=1)
if BACKLOG_SLA_AGEING_MINUTES >= BACKLOG_SLA_OVERDUE_MINUTES:
    raise ImproperlyConfigured("BACKLOG_SLA_AGEING_MINUTES must be shorter than BACKLOG_SLA_OVERDUE_MINUTES")
# A claim nobody acted on for this long lapses: Next and others may take the order.
BACKLOG_CLAIM_IDLE_MINUTES = env_int("BACKLOG_CLAIM_IDLE_MINUTES", 15, minimum=1)
BACKLOG_PAGE_SIZE = env_int("BACKLOG_PAGE_SIZE", 50, minimum=5)
# How often the open backlog page refreshes its counts and list (htmx polling).
BACKLOG_REFRESH_SECONDS = env_int("BACKLOG_REFRESH_SECONDS", 15, minimum=2)
# The counts at the top are shared by everyone with the page open and may be this old (0: never cached).
BACKLOG_COUNTS_CACHE_SECONDS = env_int("BACKLOG_COUNTS_CACHE_SECONDS", 5, minimum=0)

# --- Celery ----------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest task: an unacknowledged message is handed
        # to another worker after this, so a short value duplicates work.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
        # Publishing must never hold up an API response for long (see
        # orders.services.queueing): connect fast, and give up on a dead
        # broker after one quick retry instead of kombu's default of seconds.
        "socket_connect_timeout": 0.3,
        "socket_timeout": 2,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
        "interval_max": 0.1,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "orderdesk.broker:Transport"  # kombu's, with one Redis client per channel
CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "pipeline"
# A task running longer than this is killed (and, with acks_late, delivered again).
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be shorter than CELERY_TASK_TIME_LIMIT")
if CELERY_TASK_TIME_LIMIT >= CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", float("inf")):
    # Otherwise Redis hands a still-running task to a second worker.
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT")
# A worker that loses the broker connection stops its running tasks; their
# messages are delivered again (acks_late), and every step tolerates that.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-orders": {
        "task": "orders.tasks.sweep_stuck_orders",
        "schedule": float(ORDER_SWEEP_INTERVAL_SECONDS),
    },
    "purge-idempotency-records": {
        "task": "orderdesk.tasks.purge_idempotency_records",
        "schedule": 24 * 60 * 60.0,
    },
    # Daily, just after midnight Japan time (CELERY_TIMEZONE): yesterday's last valid day has ended.
    "expire-quotes": {"task": "quotes.tasks.expire_quotes", "schedule": crontab(hour=0, minute=5)},
    "prune-work-hours-record": {"task": "licensing.tasks.prune_work_hours_record", "schedule": crontab(hour=3, minute=30)},
}

# --- Logging ---------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
