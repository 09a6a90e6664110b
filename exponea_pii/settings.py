"""Settings, read from the environment.

DATABASE_URL  default: SQLite file ``db.sqlite3`` in the project folder (the embedded default)
DATABASE_REPLICA_URL optional: a read replica for the customer filter (exponea_pii/db_router.py)
REDIS_URL     optional: cache and Celery broker; without it a local-memory cache and eager Celery
SECRET_KEY    required unless DEBUG is on
DEBUG         "1"/"true" turns on development mode
ALLOWED_HOSTS comma-separated
TRUSTED_PROXY number of reverse proxies in front of the app (default 0: none); only then are
              X-Forwarded-Proto and X-Forwarded-For believed (access/client_ip.py)

Each may also come from the git-ignored ``.env`` that ``./bin/demo`` writes (exponea_pii/env.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab

from .env import MissingSetting, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent

# The git-ignored .env that ./bin/demo writes (python-dotenv); the environment wins over it.
# EXPONEA_PII_ENV_FILE names another file, or "" for none (see exponea_pii/env.py).
ENV_FILE = load_env_file()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise MissingSetting(
            "SECRET_KEY must be set when DEBUG is off: export SECRET_KEY for production, "
            "or run ./bin/demo to write a development .env."
        )
    SECRET_KEY = "dev-only-insecure-key-" + "x" * 40

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "access",
    "datamanager",
    "customers",
    "accountability",
    "retention",
    "consents",
    "segments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "exponea_pii.urls"
WSGI_APPLICATION = "exponea_pii.wsgi.application"

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
                "access.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a background job writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
# Optional read replica (PostgreSQL streaming replica) for the customer filter's reads;
# see exponea_pii/db_router.py and docs/scaling.md. Unset: no alias, nothing changes.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
    # Tests have no second server: the alias mirrors the test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["exponea_pii.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            # Keeps serving from the database while Redis is down; see exponea_pii/cache.py.
            "BACKEND": "exponea_pii.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "exponea_pii",
            # A hung Redis must not hang every request.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1.0},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "access.login_throttle.AddressLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "access.password_validation.UsernameInPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Guardian: no anonymous user object; permissions live on direct-FK models in `access`.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

# Reverse proxies in front of the app ("1" for one nginx / load balancer; "true" means 1).
# Unset or 0: X-Forwarded-* headers are the client's own words and are ignored.
_trusted_proxy = os.environ.get("TRUSTED_PROXY", "").strip().lower()
TRUSTED_PROXY = 1 if _trusted_proxy in {"true", "yes", "on"} else int(_trusted_proxy or "0")

# django-axes: lock a username from one address after AXES_FAILURE_LIMIT failures (so no one
# can lock the admin out from elsewhere), and any address after LOGIN_ADDRESS_FAILURE_LIMIT
# failures over all usernames (access/login_throttle.py). The password change form counts too.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "30"))
AXES_CLIENT_IP_CALLABLE = "access.client_ip.client_ip"

# Invitation mails (access/invitation_mail.py). Development prints them on the console.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "exponea-pii@localhost")
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"  # 429 page in the app's layout

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "access.api.exceptions.exponea_exception_handler",
}
# The Swagger page's (/api/docs/) introduction: how to authenticate and what {token} is.
API_DESCRIPTION = """Exponea-compatible tracking and data API with per-key personal-data masking.

## Authentication: HTTP Basic `key_id:secret`

Every call is authenticated with an **API key** over **HTTP Basic**: the user name is the
key's **key id**, the password is its **secret** (`Authorization: Basic base64(key_id:secret)`,
or `curl -u key_id:secret`). Create keys under *Settings → API keys* in a project, or with
`manage.py create_api_key`; the secret is shown once. `./bin/demo` prints two demo keys:
*Demo full access* and *Demo without personal data*. With the second, every personal-data
value answers `******`, and filtering by a personal-data attribute is refused with 403.

A browser that tracks uses a **public key** instead (*Settings → API keys*, "public"):
`Authorization: Token <key>` or `?access_token=<key>`, on the tracking operations and the
server time only; it may track and nothing else.

## The project token

Every path contains `{token}`, the **project token** (a UUID): it is on the project's home page
and `./bin/demo` prints it (`Project 'Demo shop' token ...`). A key works in its own project
only; another project's token answers 404.

## Try it out

Click **Authorize**, enter the key id as *Username* and the secret as *Password* (under `apiKey`), then open an
operation, click **Try it out**, paste the project token into `token` and **Execute**. Requests
go to this server, as the key: what the key may not see is masked here too.
"""
SPECTACULAR_SETTINGS = {
    "TITLE": "exponea_pii API",
    "DESCRIPTION": API_DESCRIPTION,
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Requests from "Try it out" carry the Authorize dialog's Basic credentials; they are kept
    # in the page only (no persistAuthorization: a secret does not belong in localStorage).
    "SWAGGER_UI_SETTINGS": {"tryItOutEnabled": True, "displayRequestDuration": True},
    # "id"/"property" appears as the export's attribute "type" and the catalog's "kind": one
    # name for the choice set keeps `check --deploy` free of drf_spectacular.W001.
    "ENUM_NAME_OVERRIDES": {"AttributeKindEnum": ["id", "property"]},
}

# Exponea's limits, configurable.
EXPONEA_LIMITS = {
    "BATCH_COMMANDS": int(os.environ.get("LIMIT_BATCH_COMMANDS", "50")),
    "MESSAGE_BYTES": int(os.environ.get("LIMIT_MESSAGE_BYTES", str(800 * 1024))),
    "PROPERTY_VALUE_BYTES": int(os.environ.get("LIMIT_PROPERTY_VALUE_BYTES", str(16 * 1024))),
    "ID_VALUE_CHARS": 1024,
    "NAME_CHARS": 128,
    "BULK_ANONYMIZE_ENTRIES": 1000,
}

# Per-API-key request rates for the HTTP API ("<n>/<sec|min|hour|day>"; empty = off), counted
# in the shared cache. Tracking defaults to Exponea's per-address ceiling of 6,000/min.
EXPONEA_API_THROTTLE_RATES = {
    "track": os.environ.get("API_THROTTLE_TRACK", "6000/min") or None,
    "data": os.environ.get("API_THROTTLE_DATA", "1200/min") or None,
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL) or "memory://"
CELERY_TASK_ALWAYS_EAGER = not (os.environ.get("CELERY_BROKER_URL") or REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
if CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ, the production broker (docs/operations.md): Celery's queue is durable and its
    # messages persistent; an unacknowledged message (acks_late: a chunk acks after it
    # committed) is redelivered the moment its consumer's connection drops, and the AMQP
    # heartbeat notices a vanished host within two intervals. Publisher confirms: a publish
    # returns once the broker has the message.
    CELERY_BROKER_HEARTBEAT = int(os.environ.get("CELERY_BROKER_HEARTBEAT", "10"))
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"confirm_publish": True}
else:
    # Redis: a killed worker's message comes back only after the visibility timeout, which
    # must stay longer than any chunk; the job watchdog below re-enqueues it long before.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Stalled jobs (a worker lost with Redis as broker; a job queued while the broker was down)
# are re-enqueued by the watchdog, run by `celery -A exponea_pii beat` (customers/services/
# job_lease.py). Every chunk beats, so the stall time only needs to exceed one chunk.
ANONYMIZATION_JOB_STALL_SECONDS = int(os.environ.get("ANONYMIZATION_JOB_STALL_SECONDS", "20"))
ANONYMIZATION_WATCHDOG_SECONDS = int(os.environ.get("ANONYMIZATION_WATCHDOG_SECONDS", "5"))
CELERY_BEAT_SCHEDULE = {
    # Retention policies (retention/): every enabled policy once a day, at a quiet hour.
    "retention-daily": {
        "task": "retention.apply_due",
        "schedule": crontab(
            hour=int(os.environ.get("RETENTION_HOUR", "3")),
            minute=int(os.environ.get("RETENTION_MINUTE", "15")),
        ),
    },
    "anonymization-job-watchdog": {
        "task": "customers.anonymization_job_watchdog",
        "schedule": float(ANONYMIZATION_WATCHDOG_SECONDS),
        # Ticks that no worker took in time are dropped, not piled up.
        "options": {"expires": float(ANONYMIZATION_WATCHDOG_SECONDS)},
    },
}
# A down broker must fail a publish quickly (the caller falls back), not hang a request.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# The erasure ledger (customers/services/erasure_ledger.py): every anonymization is also
# appended here, outside the database, so `manage.py replay_erasures` can redo it after a
# backup restore. Keep the directory off the database's disk and out of its backups'
# retention; keep ERASURE_LEDGER_KEY stable (by default it is derived from SECRET_KEY, so a
# SECRET_KEY rotation would stop hard-ID matching; internal ids still match).
ERASURE_LEDGER_DIR = os.environ.get("ERASURE_LEDGER_DIR") or str(
    BASE_DIR / "var" / "erasure-ledger"
)
ERASURE_LEDGER_KEY = os.environ.get("ERASURE_LEDGER_KEY", "")

# Security headers and cookies.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if TRUSTED_PROXY:
    # Only a proxy we were told about may say the request came over HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Error pages (the technical 500 page with DEBUG=1 too), error mails and logged tracebacks
# show the exception type and stack only: never frame variables, request data or the
# exception's message, which may hold customer values (exponea_pii/error_reporting.py).
DEFAULT_EXCEPTION_REPORTER = "exponea_pii.error_reporting.RedactingExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "exponea_pii.error_reporting.RedactingExceptionReporterFilter"

# The personal-data access log (accountability/): a page's entry is handed to a background
# writer thread instead of making the page wait for the database (accountability/writer.py).
PERSONAL_DATA_ACCESS_LOG_ASYNC = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"redacting": {"()": "exponea_pii.error_reporting.RedactingFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "redacting"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Request bodies are never logged; Django's request logger only names the path.
        "django.db.backends": {"level": "INFO"},
    },
}
