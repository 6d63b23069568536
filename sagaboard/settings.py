"""Settings for Sagaboard, read only from the environment.

With nothing set, Sagaboard runs standalone: a SQLite file under ``var/``, an
in-process broker and an in-process channel layer. ``SAGABOARD_ENV=production``
turns on the settings that ``manage.py check --deploy`` asks for and refuses to
start without a secret key.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import ssl
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from redis.connection import parse_url as parse_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SAGABOARD_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


PRODUCTION = os.environ.get("SAGABOARD_ENV", "standalone") == "production"
DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("DJANGO_SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise RuntimeError("DJANGO_SECRET_KEY must be set when SAGABOARD_ENV=production")
    # Standalone: a key generated once and kept beside the database, so sessions
    # survive a restart.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "csp",
    "channels",
    "sagaboard",
    "designer",
    "engine",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise, streaming without a warning under ASGI, and /favicon.ico.
    "sagaboard.staticfiles.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sagaboard.urls"
WSGI_APPLICATION = "sagaboard.wsgi.application"
ASGI_APPLICATION = "sagaboard.asgi.application"

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
            ],
        },
    },
]

# Database: DATABASE_URL, or a SQLite file tuned so that concurrent writers wait
# for each other instead of failing with "database is locked".
if os.environ.get("DATABASE_URL"):
    # A kept connection is checked before each request or task reuses it: one the server
    # dropped (a restart, a failover, pg_terminate_backend) is replaced instead of failing
    # the request, the WebSocket connect or the step attempt that next uses it.
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"], conn_max_age=60, conn_health_checks=True
        )
    }
    # A server that cannot be reached fails a connect in seconds, not after the
    # operating system's TCP timeout (minutes): a request, a step or /healthz waits no
    # longer. A connect_timeout in DATABASE_URL's query wins.
    if "postgresql" in DATABASES["default"]["ENGINE"]:
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "sagaboard.sqlite3"),
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while its username and address are locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous sees nothing
# Sign-in throttling (django-axes): after 5 failures for one username from one
# address, that pair is refused for 15 minutes (HTTP 429), on the login page and
# the token endpoint alike. A successful sign-in clears the count.
AXES_FAILURE_LIMIT = int(env_float("SAGABOARD_LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Behind a proxy the client address comes from X-Forwarded-For (the proxy sets it).
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if PRODUCTION else ["REMOTE_ADDR"]
)

# Content-Security-Policy: no inline or foreign script anywhere; the pages load
# their code from /static/ and pass data with json_script (not executed).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        # React Flow and the charts position elements through style attributes.
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Request size: a spec may be up to 1 MB; leave room for the envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that an anonymous request gets 401 with WWW-Authenticate.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "common.parsers.JSONParser",  # DRF's, with a limit on nesting
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sagaboard API",
    "DESCRIPTION": "Design, review, run and operate sagas across services.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "VersionStatusEnum": "designer.models.VersionStatus",
        "RunStatusEnum": "engine.models.RUN_STATUS_CHOICES",
        "StepStatusEnum": "engine.models.STEP_STATUS_CHOICES",
        "CallbackStatusEnum": "engine.serializers.CALLBACK_STATUSES",
        "AuditActEnum": "designer.audit.AUDIT_ACTS",
    },
}

# Every decision of every run appended to <folder>/<run id>.jsonl (engine/histories.py):
# for recording the replay corpus under tests/histories/. Off when empty.
SAGABOARD_RECORD_HISTORIES = os.environ.get("SAGABOARD_RECORD_HISTORIES", "")

# Celery: the broker only carries nudges; the database is the source of truth.
# memory://: in-process, for standalone mode (sagaboard/standalone.py).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below, like the web processes, not Celery's own set-up.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "engine.tasks.reconcile", "schedule": 2.0},
    # Does nothing unless the demo traffic is switched on (below, or on the /demo/ page).
    "demo-traffic": {
        "task": "demo.tasks.traffic_tick",
        "schedule": 1.0,
        # A tick that waited longer than this (no worker) is worth nothing: drop it.
        "options": {"expires": 5.0},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
if CELERY_BROKER_URL.startswith("memory://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.02}
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's Redis transport without a crash that kills a worker when Redis restarts
    # under it (sagaboard/broker.py).
    CELERY_BROKER_TRANSPORT = "sagaboard.broker:Transport"
    if CELERY_BROKER_URL.startswith("rediss://"):
        # TLS, with the server's certificate checked against the system's CAs (kombu's
        # own default for a bare rediss:// URL checks nothing). The URL's ssl_cert_reqs,
        # ssl_ca_certs, ssl_certfile and ssl_keyfile, when it has any, replace this.
        CELERY_BROKER_USE_SSL = {"ssl_cert_reqs": ssl.CERT_REQUIRED}

# Channels: Redis in production, in-process when standalone.
CHANNEL_LAYER_URL = os.environ.get("CHANNEL_LAYER_URL", "")
if CHANNEL_LAYER_URL:
    # Redis pub/sub: a message reaches only the processes that listen, with no
    # per-channel queues to expire; a socket that falls behind is closed by its
    # consumer and resumes from the event log (engine/consumers.py).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                # redis-py's 5 s socket timeout would drop idle subscribers.
                "hosts": [{"address": CHANNEL_LAYER_URL, "socket_timeout": None}],
                # Pub/sub channels are one namespace per Redis server, whatever the
                # database number: without the number in the prefix, installations
                # sharing a server on different databases would see each other's events.
                "prefix": f"sagaboard:{parse_redis_url(CHANNEL_LAYER_URL).get('db') or 0}",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Demo traffic (demo/traffic.py): runs of the demo workflows started at a rate, a share of
# them made to fail, so the board has something to show. On by default only when nothing
# is configured (standalone, SQLite); the /demo/ page overrides these once saved there.
SAGABOARD_DEMO_TRAFFIC = env_bool("SAGABOARD_DEMO_TRAFFIC", not os.environ.get("DATABASE_URL"))
SAGABOARD_DEMO_RATE = env_float("SAGABOARD_DEMO_RATE", 20.0)  # runs per minute
SAGABOARD_DEMO_FAIL_RATE = env_float("SAGABOARD_DEMO_FAIL_RATE", 0.2)  # share compensated

# Hosts that http steps may call: exact names, or "*.example.com" for subdomains.
SAGABOARD_HTTP_ALLOWED_HOSTS = env_list("SAGABOARD_HTTP_ALLOWED_HOSTS", "127.0.0.1,localhost")
# Non-public addresses (loopback, private, link-local) that an allowed host may resolve
# to: CIDRs. Public addresses need no entry. The default lets the demo participants
# (on this machine) be called; add your services' networks, e.g. 10.0.0.0/8.
SAGABOARD_HTTP_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(n, strict=False))  # a typo fails at start, not at a step
    for n in env_list("SAGABOARD_HTTP_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
]

# Where participants reach Sagaboard (callback URLs handed to them).
SAGABOARD_BASE_URL = os.environ.get("SAGABOARD_BASE_URL", "http://127.0.0.1:8000")

# Prometheus may scrape /metrics with "Authorization: Bearer <token>"; staff may always.
SAGABOARD_METRICS_TOKEN = os.environ.get("SAGABOARD_METRICS_TOKEN", "")

# Limits on definitions.
SAGABOARD_MAX_STEPS = 500
SAGABOARD_MAX_SPEC_BYTES = 1024 * 1024

# Logs: JSON in production (or with SAGABOARD_LOG_FORMAT=json), one line each otherwise;
# every record carries run_id, step_id and correlation_id (sagaboard/logs.py).
LOG_FORMAT = os.environ.get("SAGABOARD_LOG_FORMAT", "json" if PRODUCTION else "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "common.logs.ContextFilter"},
        "client_errors": {"()": "sagaboard.logs.ClientErrorsWithoutTraceback"},
    },
    "formatters": {
        "plain": {
            "()": "common.logs.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s "
            "%(run_id)s %(step_id)s %(correlation_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # A 403 or 404 is one line, not a traceback; a 500 keeps its traceback.
        "django.request": {"filters": ["client_errors"]},
        "axes": {"level": "WARNING"},
        # Two lines per task would repeat what the run's event log already holds.
        "celery.app.trace": {"level": "WARNING"},
        "celery.worker.strategy": {"level": "WARNING"},
    },
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    STORAGES["staticfiles"]["BACKEND"] = "whitenoise.storage.CompressedManifestStaticFilesStorage"
    WHITENOISE_USE_FINDERS = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
