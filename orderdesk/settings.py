"""Orderdesk settings.

Everything that differs between a newcomer's laptop and production comes from
environment variables through orderdesk.env (see the README's configuration
table). With nothing set, Orderdesk runs embedded: SQLite and a filesystem
Celery broker, both under var/.

The defaults are production's: HTTPS behind a TLS-terminating proxy, and a
SECRET_KEY that must be given. A local instance (ORDERDESK_LOCAL=1, which
scripts/run and scripts/test set) serves plain HTTP on this machine and keeps
a generated key in var/.
"""

import ipaddress
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
import jinja2
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from orderdesk.env import check_in_flight_timeout, env_bool, env_choice, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ORDERDESK_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# A local instance: this machine only, plain HTTP on loopback (scripts/run, scripts/test).
LOCAL = DEBUG or env_bool("ORDERDESK_LOCAL", False)


def _secret_key() -> str:
    """SECRET_KEY (or SECRET_KEY_FILE) from the environment; a local instance keeps a generated one in var/."""
    key = env_secret("SECRET_KEY", "")
    if key:
        return key
    if not LOCAL:
        # A key generated per host would sign each host's sessions differently, and hide that the secret is missing.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY (or SECRET_KEY_FILE, a file holding it) to the same secret on "
            "every host. For a local instance on this machine, ORDERDESK_LOCAL=1 keeps a generated key in var/ "
            "(scripts/run and scripts/test set it)."
        )
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- HTTPS ---------------------------------------------------------------------
# Production runs behind a proxy that terminates TLS and tells us so with
# X-Forwarded-Proto (and strips that header from what clients send). Each
# setting can be given; the defaults are on, except on a local instance, which
# serves plain HTTP on this machine.
_HTTPS = not LOCAL
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", _HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer's probe may come over plain HTTP
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", _HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", _HTTPS)
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 60 * 60 if _HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preloading (security.W021) puts the whole domain on browsers' HTTPS-only lists, a
# decision for the domain's owner and hard to undo: off unless SECURE_HSTS_PRELOAD=true.
SILENCED_SYSTEM_CHECKS = ["security.W021"]


def _proxy_ssl_header() -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER: the request was HTTPS when the proxy's header says `https`."""
    header = env_str("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if _HTTPS else "")
    if not header:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto; got {header!r}")
    return "HTTP_" + header.upper().replace("-", "_"), "https"


SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

INSTALLED_APPS = [
    # Our apps first: their translations take precedence over the libraries'
    # (import-export's catalog, for one, has its own Japanese for "Created").
    "orderdesk",
    "orderdesk.notifications",
    "licensing",
    "quotes",
    "orders",
    "control",
    "orderdesk.apps.OrderdeskAdminConfig",  # django.contrib.admin, open to superusers only
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us: /api/docs/ loads nothing from a CDN
    "django_htmx",
    "import_export",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orderdesk.middleware.IntakeLatencyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "orderdesk.middleware.StaffJapaneseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A NUL in the path answers 404; a chunked body is read (API) or answered 411.
    "orderdesk.middleware.RequestShapeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a locked-out sign-in into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
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
    # One hot loop only: the backlog's rows (orders/jinja2/). Autoescaping is on, as in Django's.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": True, "undefined": jinja2.StrictUndefined},  # a misspelt name fails, not prints nothing
    },
]

# --- Database -------------------------------------------------------------

DATABASE_URL = env_secret("DATABASE_URL", f"sqlite:///{VAR_DIR / 'orderdesk.sqlite3'}")
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
    # The tests' database is a file too (not in memory), so that the Celery
    # workers the pipeline tests start share it, as the embedded mode's do.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Lets orderdesk.db.fetch_one()/fetch_all() prepare the order intake's statements.
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

# Brute-force protection of the staff sign-in (the login page and /admin/), with
# django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one user name from
# one address, that pair is locked out for LOGIN_LOCKOUT_MINUTES (each further
# try starts the wait again), even with the right password. An admin unlocks
# earlier (README: "Locked out of the sign-in").
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before a password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 30, minimum=1))
AXES_RESET_ON_SUCCESS = True  # a successful sign-in forgets the earlier failures
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # each failure, for the admin to see who tried what (1,000 kept per user)
AXES_LOCKOUT_CALLABLE = "orderdesk.signin.locked_out"
AXES_CLIENT_IP_CALLABLE = "orderdesk.signin.client_address"
# Reverse proxies in front of gunicorn that append the client's address to
# X-Forwarded-For. 0: the address is the connection's (behind a proxy, the proxy's).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Language, time, money --------------------------------------------------

LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date format per language on every page (orderdesk/formats/<language>/formats.py).
FORMAT_MODULE_PATH = ["orderdesk.formats"]
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
# this many validations per key, and per client address (the connection's, or
# behind TRUSTED_PROXY_COUNT proxies the one they forwarded), each in a window that starts with its
# first request. One key covers every seat of an order line, so its limit must
# allow all those devices starting at 9:00.
LICENSE_VALIDATE_KEY_RATE_LIMIT = _rate("LICENSE_VALIDATE_KEY_RATE_LIMIT", "300/min")
LICENSE_VALIDATE_ADDRESS_RATE_LIMIT = _rate("LICENSE_VALIDATE_ADDRESS_RATE_LIMIT", "600/min")
# A device's `at` is used only within this many seconds of the server clock; else the server's time is judged.
LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS = env_int("LICENSE_VALIDATE_CLOCK_TOLERANCE_SECONDS", 300, minimum=0)
# An expired subscription's keys still validate for this many days after the term's last day (Japan time),
# while its renewal is on its way; then they answer EXPIRED.
LICENSE_EXPIRY_GRACE_DAYS = env_int("LICENSE_EXPIRY_GRACE_DAYS", 14, minimum=0)
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
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "orderdesk.api.negotiation.JsonFirstContentNegotiation",
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
    # Swagger UI from drf-spectacular-sidecar's static files, not from a CDN: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orderdesk.api.schema.problem_media_type",
        "orderdesk.api.schema.document_common_answers",
        "orders.api.schema.order_input_rules",
    ],
    # Orders and subscriptions both have a `status`: give each enum its own name.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "SubscriptionStatusEnum": "licensing.models.Subscription.Status",
    },
}

IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# gunicorn's worker timeout (gunicorn.conf.py reads this variable too): a worker silent this
# long is killed, and the requests it was serving with it.
WEB_TIMEOUT_SECONDS = env_int("WEB_TIMEOUT_SECONDS", 30, minimum=1)
# A request that has held its key this long without finishing is presumed dead (its
# worker was killed) and the key may be taken over by a retry. Tied to the web
# timeout: longer, so that a request still running keeps its key, but not by more
# than IDEMPOTENCY_IN_FLIGHT_MAX_MARGIN_SECONDS, so that a client whose request died with
# its worker is not answered 409 for long. gunicorn checks its own --timeout against
# it when it starts (gunicorn.conf.py).
IDEMPOTENCY_IN_FLIGHT_MAX_MARGIN_SECONDS = 30
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env_int("IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", WEB_TIMEOUT_SECONDS + 5, minimum=1)
check_in_flight_timeout(
    web_timeout=WEB_TIMEOUT_SECONDS, in_flight=IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS, margin=IDEMPOTENCY_IN_FLIGHT_MAX_MARGIN_SECONDS
)

# --- Orders and pricing ----------------------------------------------------------

# How consumption tax is rounded, once per document per rate: down (切り捨て),
# half_up (四捨五入) or up (切り上げ).
TAX_ROUNDING = env_choice("TAX_ROUNDING", "down", {"down", "half_up", "up"})
# Co-terming (月割り): seats added to a running subscription are priced for the months left of its term.
# A begun month counts whole ("up") or only complete months count ("down"); the pro-rated yen are rounded like tax.
COTERM_MONTH_ROUNDING = env_choice("COTERM_MONTH_ROUNDING", "up", {"down", "up"})
COTERM_PRICE_ROUNDING = env_choice("COTERM_PRICE_ROUNDING", "down", {"down", "half_up", "up"})

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
# A suspected duplicate is a true resubmission of an earlier order's lines:
# under a PO number that differs only in form (case, spaces, full-/half-width,
# a trailing revision mark) within ORDER_DUPLICATE_WINDOW_HOURS, or under any
# PO number within ORDER_DUPLICATE_SAME_LINES_MINUTES. The same lines under a
# clearly different PO number within the window pass, with a note on both
# orders' timelines (orders/duplicates.py).
ORDER_DUPLICATE_WINDOW_HOURS = env_int("ORDER_DUPLICATE_WINDOW_HOURS", 24, minimum=0)
ORDER_DUPLICATE_SAME_LINES_MINUTES = env_int("ORDER_DUPLICATE_SAME_LINES_MINUTES", 10, minimum=0)
if ORDER_DUPLICATE_SAME_LINES_MINUTES > ORDER_DUPLICATE_WINDOW_HOURS * 60:
    raise ImproperlyConfigured("ORDER_DUPLICATE_SAME_LINES_MINUTES must fit in ORDER_DUPLICATE_WINDOW_HOURS")
# Payment terms for the credit exposure (orders/credit.py): months from the
# month-end close (締め) to payment. Completed orders of the current month and
# of this many months before it are unpaid and count against the credit limit,
# from the first day of that month, Japan time. 1 = 月末締め翌月末払い.
ORDER_CREDIT_TERMS_MONTHS = env_int("ORDER_CREDIT_TERMS_MONTHS", 1, minimum=0)
# The sweeper re-enqueues orders that sat in a moving state longer than this
# (broker down at submission, messages lost in a Redis restart, a worker killed).
ORDER_STUCK_AFTER_SECONDS = env_int("ORDER_STUCK_AFTER_SECONDS", 600, minimum=1)
ORDER_SWEEP_INTERVAL_SECONDS = env_int("ORDER_SWEEP_INTERVAL_SECONDS", 60, minimum=1)
ORDER_SWEEP_BATCH = env_int("ORDER_SWEEP_BATCH", 1000, minimum=1)
# How many orders one pipeline step takes at once (one transaction, one message).
# Larger batches cost fewer statements and messages per order, and hold more
# orders' row locks for the length of the step's database work (PDFs are
# rendered and stored before the documenting step locks anything).
ORDER_PIPELINE_BATCH_SIZE = env_int("ORDER_PIPELINE_BATCH_SIZE", 50, minimum=1)
# New orders do not publish a message each (orders.services.queueing): a key
# in the shared cache marks a pending gather message and silences further
# publishes for at most this long. A lost message delays new orders by this,
# plus until the next new order comes; the sweeper covers the rest. 0: every
# new order publishes (as with a per-process cache, where the key is not used).
ORDER_GATHER_DEDUP_SECONDS = env_int("ORDER_GATHER_DEDUP_SECONDS", 10, minimum=0)
# requested_start may be at most this many days ahead (the API's contract: a year).
ORDER_REQUESTED_START_MAX_DAYS = env_int("ORDER_REQUESTED_START_MAX_DAYS", 365, minimum=1)

# --- Spreadsheet imports and exports (orders.services.imports, orders.exports) ---------

# Refused with a message naming the limit: larger files, more rows, an XLSX archive
# that would expand beyond IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES or has a part compressed
# more than IMPORT_XLSX_MAX_COMPRESSION_RATIO to 1 (a zip bomb), checked before expanding.
IMPORT_MAX_FILE_BYTES = env_int("IMPORT_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1024)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 50_000, minimum=1)
# Uploads up to this size are previewed in the request; larger ones by the imports queue's worker.
IMPORT_INLINE_PREVIEW_BYTES = env_int("IMPORT_INLINE_PREVIEW_BYTES", 256 * 1024, minimum=0)
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = env_int("IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", 200 * 1024 * 1024, minimum=1024)
IMPORT_XLSX_MAX_COMPRESSION_RATIO = env_int("IMPORT_XLSX_MAX_COMPRESSION_RATIO", 200, minimum=2)
IMPORT_XLSX_MAX_MEMBERS = env_int("IMPORT_XLSX_MAX_MEMBERS", 1000, minimum=10)
# Orders an import stores per transaction, together with its progress: a worker killed
# midway loses at most this many uncommitted orders, which the next run creates.
IMPORT_BATCH_ORDERS = env_int("IMPORT_BATCH_ORDERS", 50, minimum=1)
# Preview rows shown in the page (all of them are checked; the failed ones are all in the CSV).
# One import task runs this long, then queues the rest of the file (well inside CELERY_TASK_SOFT_TIME_LIMIT).
IMPORT_TASK_SLICE_SECONDS = env_int("IMPORT_TASK_SLICE_SECONDS", 60, minimum=1)
IMPORT_PREVIEW_ROWS_SHOWN = env_int("IMPORT_PREVIEW_ROWS_SHOWN", 500, minimum=1)
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
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "quotes@orderdesk.example.jp")

# --- Webhooks and customer e-mail (orderdesk.notifications; README "Webhooks") ---------
# Only https targets, unless this is on (development); a local instance allows http.
WEBHOOK_ALLOW_HTTP = env_bool("WEBHOOK_ALLOW_HTTP", LOCAL)
# Targets resolving to private, loopback or link-local addresses are refused unless this is on (tests, the demo).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_RESPONSE_MAX_BYTES = env_int("WEBHOOK_RESPONSE_MAX_BYTES", 4096, minimum=0)
# Retries: the first after this, doubling up to WEBHOOK_RETRY_MAX_SECONDS, each randomised to half..all of it,
# for WEBHOOK_RETRY_FOR_SECONDS after the first attempt; an endpoint failing that long without a success is disabled.
WEBHOOK_RETRY_FIRST_SECONDS = env_float("WEBHOOK_RETRY_FIRST_SECONDS", 30.0, minimum=0.01)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 6 * 60 * 60.0, minimum=0.01)
WEBHOOK_RETRY_FOR_SECONDS = env_float("WEBHOOK_RETRY_FOR_SECONDS", 3 * 24 * 60 * 60.0, minimum=0.01)
WEBHOOK_DISABLE_AFTER_SECONDS = env_float("WEBHOOK_DISABLE_AFTER_SECONDS", WEBHOOK_RETRY_FOR_SECONDS, minimum=0.01)
# A retry due within this goes as a delayed message; a later one is published by the sweeper when due.
WEBHOOK_RETRY_PUBLISH_WITHIN_SECONDS = env_float("WEBHOOK_RETRY_PUBLISH_WITHIN_SECONDS", 300.0, minimum=0)
# An attempt holds its delivery this long; a worker killed mid-attempt releases it by time.
WEBHOOK_LEASE_SECONDS = env_int("WEBHOOK_LEASE_SECONDS", 150, minimum=1)

WEBHOOK_SIGNING_OVERLAP_HOURS = env_int("WEBHOOK_SIGNING_OVERLAP_HOURS", 24, minimum=0)
WEBHOOK_DISPATCH_BATCH = env_int("WEBHOOK_DISPATCH_BATCH", 500, minimum=1)
# Deliveries per message, attempted one after the other over one kept-alive connection per endpoint.
WEBHOOK_DELIVERY_BATCH = env_int("WEBHOOK_DELIVERY_BATCH", 50, minimum=1)
# A batch starts no POST after running this long: the deliveries left are released and published again at once.
WEBHOOK_DELIVERY_BATCH_SECONDS = env_float("WEBHOOK_DELIVERY_BATCH_SECONDS", 60.0, minimum=0.1)
# The lease must outlast the batch's time plus its last POST: connect and read, twice when a kept-alive
# connection turned out closed (orderdesk.notifications.safe_http.SafePoster).
if WEBHOOK_LEASE_SECONDS <= WEBHOOK_DELIVERY_BATCH_SECONDS + 4 * WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must be longer than WEBHOOK_DELIVERY_BATCH_SECONDS + 4 × WEBHOOK_TIMEOUT_SECONDS")
WEBHOOK_DISPATCH_DEDUP_SECONDS = env_int("WEBHOOK_DISPATCH_DEDUP_SECONDS", 10, minimum=0)
WEBHOOK_SWEEP_INTERVAL_SECONDS = env_float("WEBHOOK_SWEEP_INTERVAL_SECONDS", 30.0, minimum=0.1)
WEBHOOK_SWEEP_GRACE_SECONDS = env_float("WEBHOOK_SWEEP_GRACE_SECONDS", 10.0, minimum=0)
WEBHOOK_SWEEP_BATCH = env_int("WEBHOOK_SWEEP_BATCH", 1000, minimum=1)
WEBHOOK_ENDPOINTS_PER_CUSTOMER = env_int("WEBHOOK_ENDPOINTS_PER_CUSTOMER", 10, minimum=1)
# Events (with their deliveries and attempts) and sent or failed e-mails are deleted this many days after
# they were created (orderdesk.notifications.retention, daily). Longer than the retries: a delivery
# still being retried is never pruned.
NOTIFICATIONS_RETENTION_DAYS = env_int("NOTIFICATIONS_RETENTION_DAYS", 90, minimum=1)
if NOTIFICATIONS_RETENTION_DAYS * 24 * 60 * 60 <= WEBHOOK_RETRY_FOR_SECONDS:
    raise ImproperlyConfigured("NOTIFICATIONS_RETENTION_DAYS must be longer than WEBHOOK_RETRY_FOR_SECONDS")

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
# Most orders one bulk action over "all matching" takes, oldest first; each is its own transaction,
# in the web request, so this keeps a request well inside the web server's timeout.
BACKLOG_BULK_MAX_ORDERS = env_int("BACKLOG_BULK_MAX_ORDERS", 500, minimum=1)

# --- The control room: dashboard, order feed, digest, metrics, health ----------------

# How often Celery beat rolls the orders up into per-minute counts (the dashboard reads only those).
DASHBOARD_ROLLUP_INTERVAL_SECONDS = env_int("DASHBOARD_ROLLUP_INTERVAL_SECONDS", 60, minimum=5)
# Per-minute rollups are kept this many hours, the five-minute and hourly ones this many days.
DASHBOARD_MINUTE_ROLLUP_RETENTION_HOURS = env_int("DASHBOARD_MINUTE_ROLLUP_RETENTION_HOURS", 48, minimum=2)
DASHBOARD_ROLLUP_RETENTION_DAYS = env_int("DASHBOARD_ROLLUP_RETENTION_DAYS", 400, minimum=31)
# The first rollup ever (and one after beat stood still longer) reaches back this many days;
# `manage.py rollup_orders --days N` reaches further.
DASHBOARD_ROLLUP_BACKFILL_DAYS = env_int("DASHBOARD_ROLLUP_BACKFILL_DAYS", 30, minimum=1)
# The ETA to clear the open orders uses the intake and clearance of this many recent minutes.
DASHBOARD_ETA_WINDOW_MINUTES = env_int("DASHBOARD_ETA_WINDOW_MINUTES", 30, minimum=1)
# How often the open dashboard refreshes itself.
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 15, minimum=2)
# Orders per page of the order feed, and how often its live mode asks for new ones.
FEED_PAGE_SIZE = env_int("FEED_PAGE_SIZE", 50, minimum=5)
FEED_LIVE_SECONDS = env_int("FEED_LIVE_SECONDS", 5, minimum=1)
# The managers' digest of yesterday, sent by Celery beat at this time (Japan time).
DIGEST_SEND_HOUR = env_int("DIGEST_SEND_HOUR", 8, minimum=0)
DIGEST_SEND_MINUTE = env_int("DIGEST_SEND_MINUTE", 30, minimum=0)
if DIGEST_SEND_HOUR > 23 or DIGEST_SEND_MINUTE > 59:
    raise ImproperlyConfigured("DIGEST_SEND_HOUR must be 0-23 and DIGEST_SEND_MINUTE 0-59")
DIGEST_FROM_EMAIL = env_str("DIGEST_FROM_EMAIL", "orderdesk@orderdesk.example.jp")
# Where staff reach Orderdesk: the links in e-mail sent to them (the digest) start with it.
ORDERDESK_SITE_URL = env_str("ORDERDESK_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Celery workers record a heartbeat this often; /readyz and the dashboard call a worker
# live while its last heartbeat is younger than WORKER_HEARTBEAT_MAX_AGE_SECONDS
# (0: /readyz does not ask for a live worker).
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", 60, minimum=0)
if WORKER_HEARTBEAT_MAX_AGE_SECONDS and WORKER_HEARTBEAT_MAX_AGE_SECONDS <= WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured("WORKER_HEARTBEAT_MAX_AGE_SECONDS must be longer than WORKER_HEARTBEAT_SECONDS")
# Who may scrape /metrics: a bearer token and/or client addresses (IPs or networks). Each one
# set must be satisfied; with neither set, only loopback clients may scrape.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", [])
for _entry in METRICS_ALLOWED_ADDRESSES:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_ADDRESSES: {_entry!r} is not an IP address or network") from None
# prometheus_client's multi-process mode: every process (gunicorn workers, Celery pool
# processes) writes its counters to files here, and /metrics adds them up. Each program
# keeps a subdirectory that it empties when it starts (gunicorn.conf.py, orderdesk.celery).
METRICS_DIR = Path(env_str("METRICS_DIR", str(VAR_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
# prometheus_client decides on multi-process mode when it is first imported, so the
# variable is set here, before any of our code imports it. A program that set it already
# (gunicorn and Celery point it at their subdirectory) keeps its own.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(METRICS_DIR))

# --- Celery ----------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
# Publishing must never hold up an API response for long (see
# orders.services.queueing): connect fast, and give up on a dead broker after
# one quick retry instead of kombu's default of seconds. (Also applied by
# tests/workers.publishing_to when a test points the app at another broker.)
NETWORK_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 0.3,
    "socket_timeout": 2,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
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
        **NETWORK_BROKER_TRANSPORT_OPTIONS,
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
if IMPORT_TASK_SLICE_SECONDS * 2 >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("IMPORT_TASK_SLICE_SECONDS must be under half CELERY_TASK_SOFT_TIME_LIMIT (a slice ends after its last batch)")
if CELERY_TASK_TIME_LIMIT >= CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", float("inf")):
    # Otherwise Redis hands a still-running task to a second worker.
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must be longer than CELERY_TASK_TIME_LIMIT")
# A worker that loses the broker connection stops its running tasks; their
# messages are delivered again (acks_late), and every step tolerates that.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BEAT_SCHEDULE = {
    # Events, webhook deliveries and e-mail whose message was lost (orderdesk.notifications.delivery).
    "sweep-notifications": {
        "task": "orderdesk.notifications.tasks.sweep_notifications",
        "schedule": WEBHOOK_SWEEP_INTERVAL_SECONDS,
    },
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
    # Customers hear 3 days ahead that a sent quote is about to expire (the quote.expiring event).
    "notify-expiring-quotes": {"task": "quotes.tasks.notify_expiring_quotes", "schedule": crontab(hour=9, minute=0)},
    # The dashboard's per-minute rollups (control.rollups).
    "rollup-orders": {"task": "control.tasks.rollup_orders", "schedule": float(DASHBOARD_ROLLUP_INTERVAL_SECONDS)},
    # The managers' daily digest of yesterday, at 08:30 Japan time.
    "daily-digest": {
        "task": "control.tasks.send_daily_digest",
        "schedule": crontab(hour=DIGEST_SEND_HOUR, minute=DIGEST_SEND_MINUTE),
    },
    "prune-work-hours-record": {"task": "licensing.tasks.prune_work_hours_record", "schedule": crontab(hour=3, minute=30)},
    # Finished events, deliveries and e-mails older than NOTIFICATIONS_RETENTION_DAYS (orderdesk.notifications.retention).
    "prune-notifications": {"task": "orderdesk.notifications.tasks.prune_notifications", "schedule": crontab(hour=3, minute=45)},
    # The renewal notices due today (90, 30 and 7 days before a term ends), at 09:00 Japan time.
    "renewal-notices": {"task": "licensing.tasks.send_renewal_notices", "schedule": crontab(hour=9, minute=0)},
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
