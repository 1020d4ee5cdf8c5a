"""Settings for HITL Approvals: one module, driven by environment variables.

The mode follows the environment alone (see .env.example):

- embedded (default, no env vars): SQLite file, in-memory channel layer,
  background work in the web process;
- services: PostgreSQL (DATABASE_URL), Redis channel layer (REDIS_URL) and
  Celery workers (CELERY_BROKER_URL, default REDIS_URL).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# DEBUG defaults to on so that `make run` works from a fresh clone with no
# configuration; production sets DEBUG=0 (and then must set SECRET_KEY).
DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-hitl-dev-only-key"  # dev default, DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "daphne",  # first: its runserver (ASGI, websockets) replaces Django's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "axes",
    "workflows",
    "approvals",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hitl_site.middleware.FormEncodingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "hitl_site.middleware.NotFoundPageMiddleware",
    # Last, as django-axes requires: turns a refused sign-in into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "hitl_site.urls"
ASGI_APPLICATION = "hitl_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "hitl_site.templates.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # The site's tag library, where the apps meet: base.html's navigation, one app's part on another's page.
            "libraries": {"site": "hitl_site.tags"},
        },
    },
]

# --- Database ---------------------------------------------------------------

# Any SQLite database, the default file or one named by DATABASE_URL=sqlite:///...: the in-process
# worker writes while requests write. WAL lets readers run beside a writer, synchronous=NORMAL
# syncs at checkpoints rather than at every commit (still durable against a process crash),
# IMMEDIATE takes the write lock at BEGIN (no lock-upgrade deadlock) and the timeout waits
# instead of failing with "database is locked".
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=10000;",
}

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # CONN_MAX_AGE=0: under ASGI each request runs in its own thread context, so
    # persistent connections pile up instead of being reused (Django docs).
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {**SQLITE_OPTIONS, **_db.get("OPTIONS", {})}
    # A file, not :memory:, so a forked live test server shares it. One file per test
    # session (a forked test server inherits the name), so two suites running at once on
    # one machine do not share it.
    _db["TEST"] = {"NAME": BASE_DIR / f"test_db.{os.getpid()}.sqlite3"}
else:
    # Explicit TEST NAME: a forked daphne test server would otherwise compute
    # "test_test_<db>" from the NAME already switched to the test database. One
    # per test session, as for SQLite above: two suites at once do not share it.
    _db["TEST"] = {"NAME": f"test_{_db['NAME']}_{os.getpid()}"}

# PostgreSQL: a plain continuation is claimed, checkpointed and ended in one statement each
# (workflows/store/postgres.py), 3 queries instead of about 25. Set HITL_ONE_STATEMENT=0 to
# take the general ORM path instead (to tell whether a fault lies in that short path).
HITL_ONE_STATEMENT = os.environ.get("HITL_ONE_STATEMENT", "1") != "0"

# PostgreSQL: the statements a run executes on every claim and checkpoint (workflows/store/sql.py)
# are prepared once per connection. Set HITL_PREPARED_STATEMENTS=0 behind a pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21, or with
# max_prepared_statements = 0).
HITL_PREPARED_STATEMENTS = os.environ.get("HITL_PREPARED_STATEMENTS", "1") != "0"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The first backend refuses sign-ins of a locked-out account or address (django-axes); the second
# checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/inbox/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The site's stylesheet and scripts, used by every page of every app.
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Sign-in throttling (django-axes) ---------------------------------------

# After HITL_LOGIN_FAILURE_LIMIT failed sign-ins for one username, or from one address, that
# username (from anywhere) and that address (for any username) are refused for
# HITL_LOGIN_COOLOFF_MINUTES; the JSON API then answers 429 to that address, and invalid API
# tokens count as failures of their address. Attempts are rows in the database, so every server
# process sees the same counts.
AXES_FAILURE_LIMIT = int(os.environ.get("HITL_LOGIN_FAILURE_LIMIT") or 5)
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("HITL_LOGIN_COOLOFF_MINUTES") or 15))
AXES_LOCKOUT_PARAMETERS = "hitl_site.throttle.lockout_parameters"
AXES_LOCKOUT_CALLABLE = "hitl_site.throttle.lockout_response"
# Failures expire after the cool-off, not on a successful sign-in: else an attacker's sign-in to
# their own account would wipe the count of their address's guesses at others.
AXES_RESET_ON_SUCCESS = False
# A successful sign-in is not logged (the audit of decisions is elsewhere); failures are.
AXES_DISABLE_ACCESS_LOG = True
# The client's address is the connection's, unless HITL_TRUSTED_PROXIES reverse proxies stand in
# front: each appends the address it saw to X-Forwarded-For, which a client can also write itself,
# so only the entries those proxies added are believed (hitl_site.throttle.client_address).
HITL_TRUSTED_PROXIES = int(os.environ.get("HITL_TRUSTED_PROXIES") or 0)
AXES_CLIENT_IP_CALLABLE = "hitl_site.throttle.client_address"

# --- HTTPS and browser security ----------------------------------------------

# With DEBUG off, HTTPS is assumed: redirect plain HTTP, HSTS, cookies sent over HTTPS only. A
# plain-HTTP intranet turns each off (SECURE_SSL_REDIRECT=0, SECURE_HSTS_SECONDS=0,
# SESSION_COOKIE_SECURE=0, CSRF_COOKIE_SECURE=0).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS") or (0 if DEBUG else 31_536_000))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Behind a TLS-terminating proxy: the origins pages are served from
# (https://approvals.example.com), and the header the proxy sets for HTTPS requests, as
# "HTTP_X_FORWARDED_PROTO,https" (without it, SECURE_SSL_REDIRECT would loop).
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
_proxy_ssl_header = env_list("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be 'HEADER,value', e.g. HTTP_X_FORWARDED_PROTO,https")
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header)

# Content-Security-Policy: scripts and styles from this site's static files only (htmx and its ws
# extension are served from there, and no template has inline script, style or event handlers),
# sockets and requests to this site only, and no framing.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# --- Channels and Celery ----------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # Reaches consumers of this process only: fine for embedded mode, which is
    # one process by design.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

_broker_url = os.environ.get("CELERY_BROKER_URL", "") or REDIS_URL
# Without a broker the web process runs the work itself (embedded mode).
HITL_EMBEDDED = not _broker_url
# "memory://" keeps Celery importable and configured in embedded mode without
# trying to reach an AMQP server; nothing consumes it, so code must check
# HITL_EMBEDDED rather than call .delay() there.
CELERY_BROKER_URL = _broker_url or "memory://"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks carry ids only and tolerate redelivery: ack after the work is done, and
# requeue when a worker dies mid-task (durable execution).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Several deployments (or test runs) can share one Redis: each with its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE") or "celery"
# Celery's Django fixup closes the database connection around every task unless this is set: a
# new PostgreSQL connection (and server process) per task. Workers keep theirs instead and check
# it before each task (hitl_site/celery.py).
CELERY_DB_REUSE_MAX = 1_000_000

# --- HITL -------------------------------------------------------------------

# Extra modules whose import registers workflows (installed apps' flows.py
# modules are discovered too).
HITL_WORKFLOW_MODULES = env_list("HITL_WORKFLOW_MODULES")

# Seconds between two sweeps (fire due timeouts, hand runs of dead workers to
# live ones): the in-process sweeper in embedded mode, Celery beat in services mode.
HITL_SWEEP_SECONDS = float(os.environ.get("HITL_SWEEP_SECONDS") or 2)
# A worker holds a run it executes for this long and renews it while alive; when
# it dies the lease runs out and the sweeper gives the run to another worker.
HITL_LEASE_SECONDS = float(os.environ.get("HITL_LEASE_SECONDS") or 60)
# A continuation not picked up by a worker within this time (broker down, message
# lost) is sent again by the sweeper, then less and less often.
HITL_REQUEUE_SECONDS = float(os.environ.get("HITL_REQUEUE_SECONDS") or 30)
# Threads of the in-process worker (embedded mode).
HITL_EMBEDDED_WORKERS = int(os.environ.get("HITL_EMBEDDED_WORKERS") or 2)
# How many branches of a Parallel run at once (threads), unless the Parallel says
# (max_concurrency=).
HITL_PARALLEL_MAX_WORKERS = int(os.environ.get("HITL_PARALLEL_MAX_WORKERS") or 8)
# A claim on a requirement nobody touched for this long is released by the sweeper
# (the item goes back to everyone it is assigned to). 0: claims never expire.
HITL_CLAIM_IDLE_SECONDS = float(os.environ.get("HITL_CLAIM_IDLE_SECONDS") or 0)

# --- Request limits ---------------------------------------------------------

# Request bodies (API and forms) over this many bytes are answered 413 before they
# are read, whoever sends them; a body that takes longer than HITL_BODY_TIMEOUT
# seconds to arrive is answered 408 (hitl_site/limits.py).
HITL_MAX_BODY_BYTES = int(os.environ.get("HITL_MAX_BODY_BYTES") or 1_000_000)
HITL_BODY_TIMEOUT = float(os.environ.get("HITL_BODY_TIMEOUT") or 30)
DATA_UPLOAD_MAX_MEMORY_SIZE = HITL_MAX_BODY_BYTES

# Static schedule (no django-celery-beat: it caps Django <6.1). The sweep fires
# due timeouts; "expires" drops sweeps that queued up while no worker ran, since
# the next one does the same work.
CELERY_BEAT_SCHEDULE = {
    "sweep": {
        "task": "workflows.tasks.sweep",
        "schedule": HITL_SWEEP_SECONDS,
        "options": {"expires": max(HITL_SWEEP_SECONDS, 1.0)},
    },
}

# --- Notifications ----------------------------------------------------------

# Links in mails and chat messages are absolute: the address people reach the site at.
HITL_BASE_URL = os.environ.get("HITL_BASE_URL") or "http://127.0.0.1:8000"
# Webhooks and chat messages to internal addresses (loopback, private networks, cloud metadata):
# refused unless this is on (notifications.addresses). On by default only with DEBUG, for local
# receivers during development.
HITL_WEBHOOK_ALLOW_PRIVATE = env_bool("HITL_WEBHOOK_ALLOW_PRIVATE", DEBUG)
# Mail: SMTP when EMAIL_HOST is set (services mode), else printed on the console (`make run`).
_email_host = os.environ.get("EMAIL_HOST", "")
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": _email_host,
            "port": int(os.environ.get("EMAIL_PORT") or 25),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": os.environ.get("EMAIL_USE_TLS", "0") not in ("", "0"),
            "timeout": 10,
        },
    }
    if _email_host
    else {"BACKEND": "django.core.mail.backends.console.EmailBackend"}
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "HITL Approvals <hitl@localhost>"
# Deliveries (mails, webhooks): the first retry waits this long, each next one twice as long
# (up to an hour); after this many attempts a delivery is dead (the admin can send it again).
HITL_DELIVERY_RETRY_SECONDS = float(os.environ.get("HITL_DELIVERY_RETRY_SECONDS") or 10)
HITL_DELIVERY_MAX_ATTEMPTS = int(os.environ.get("HITL_DELIVERY_MAX_ATTEMPTS") or 10)
# Seconds a webhook endpoint has to answer.
HITL_WEBHOOK_TIMEOUT = float(os.environ.get("HITL_WEBHOOK_TIMEOUT") or 5)
# The daily digest (for those who ask for it) goes out with the first sweep from this hour on.
HITL_DIGEST_HOUR = int(os.environ.get("HITL_DIGEST_HOUR") or 8)
# Decide-from-the-message links (confirmations, output approvals) work this long. Default 2 days.
HITL_ACTION_LINK_SECONDS = int(os.environ.get("HITL_ACTION_LINK_SECONDS") or 2 * 24 * 3600)

# --- Logging ----------------------------------------------------------------

# Request errors go to the console even with DEBUG off (tests run with DEBUG
# off, and a live test server's 500s are otherwise invisible).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "workflows": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "approvals": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "notifications": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
