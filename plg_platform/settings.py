"""Settings for the PLG platform, read from the environment (12-factor).

The embedded default needs no servers: SQLite and a file-system Celery broker under ``var/``.
Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` to run the same code on PostgreSQL and Redis.
Every variable is listed in ``.env.example``.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DJANGO_DEBUG", default=False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
# No secret default outside DEBUG: production must set DJANGO_SECRET_KEY.
if DEBUG:
    SECRET_KEY = env.str(
        "DJANGO_SECRET_KEY", default="insecure-dev-only-key-do-not-use-in-production"
    )
else:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "plg_platform",
    "metrics",
    "outcomes",
    "experiments",
    "learnings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "plg_platform.middleware.CompressedBodyMiddleware",
    "plg_platform.middleware.NulParameterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "plg_platform.urls"
WSGI_APPLICATION = "plg_platform.wsgi.application"
ASGI_APPLICATION = "plg_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "plg_platform" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "plg_platform.context_processors.workspace",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# https://django-environ.readthedocs.io/en/latest/types.html#environ-env-db-url
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-backed test database, so that a real Celery worker process can open it too.
    # It sits beside the database file, so runs with different DATABASE_URLs never collide.
    _db_path = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(_db_path.with_name(f"test-{_db_path.name}"))}
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # Take the write lock when a transaction begins: a deferred transaction that reads
            # and then writes fails at once with "database is locked" (a 500) when another
            # process writes meanwhile, instead of waiting up to the timeout.
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    # A kept connection is checked before reuse, so the first request after a database
    # restart reconnects instead of failing on a dead socket (docs/reliability.md).
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
# https://docs.djangoproject.com/en/5.2/ref/settings/#default-auto-field
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# Sign-in lockout: after AXES_FAILURE_LIMIT wrong passwords for one user from one address,
# every attempt (the right password too) is refused with 429 until the cool-off has passed.
# The pair (user, address) is locked, so nobody can lock a colleague out from elsewhere.
AUTHENTICATION_BACKENDS = [
    "plg_platform.authentication.SignInLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "plg_platform.throttling.client_ip"
# Lockouts are kept in axes' tables (admin: "Access attempts"); no log line per sign-in.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = env.bool("AXES_VERBOSE", default=False)
# Invitations: how long an invitation link stays valid.
INVITATION_VALID_DAYS = env.int("INVITATION_VALID_DAYS", default=7)
# https://docs.djangoproject.com/en/5.2/topics/email/ (invitations are e-mailed when set)
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = env.str("DJANGO_EMAIL_HOST", default="localhost")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="webmaster@localhost")

# --- Security for deployment ------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
# DJANGO_HTTPS=1 (served over HTTPS) turns on the HTTPS defaults below; each can be set alone.
# `manage.py check --deploy` is clean with the variables listed in .env.example's production part.
_HTTPS = env.bool("DJANGO_HTTPS", default=False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-ssl-redirect
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=_HTTPS)
# https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# https://docs.djangoproject.com/en/5.2/ref/settings/#session-cookie-secure
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_HTTPS)
# Opt-in, only behind a proxy that sets X-Forwarded-Proto itself (and strips the client's):
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many reverse proxies append to X-Forwarded-For in front of us. 0: the client address is
# REMOTE_ADDR and X-Forwarded-For is ignored (a client could forge it). Used by the rate limits
# and the sign-in lockout.
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)
# https://django-csp.readthedocs.io/en/latest/configuration.html
# Every script and style is served from our own static files; no CDN, no inline script.
# Inline style attributes stay allowed (templates and Chart.js use them; scripts do not).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Outgoing requests ------------------------------------------------------------------------
# Webhooks go only to public addresses (plg_platform/net.py). Self-hosters whose receivers are
# on an internal network set WEBHOOK_ALLOW_PRIVATE_TARGETS=1.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST framework and OpenAPI ---------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "plg_platform.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["plg_platform.permissions.WorkspaceRolePermission"],
    "DEFAULT_PARSER_CLASSES": [
        "plg_platform.parsers.ApiJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "plg_platform.api.base.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "plg_platform.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "plg_platform.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # One bucket per key (or signed-in user, or SDK client key, or address when anonymous);
    # limits in THROTTLE_RATES below. 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["plg_platform.throttling.KeyRateThrottle"],
    "NUM_PROXIES": NUM_PROXIES,
}
# Requests per key and period ("N/s", "N/min", "N/h", "N/d"; "off" for none). The defaults
# sit far above what the suite and `make bench` (about 30 batches of 1,000 events a second)
# send; they stop a runaway client, not normal traffic. "auth_failure" counts wrong keys and
# tokens per client address: past it, every key from that address gets 429 for the period.
THROTTLE_RATES = {
    "api": env.str("THROTTLE_RATE_API", default="3000/min"),
    "ingestion": env.str("THROTTLE_RATE_INGESTION", default="200/s"),
    "sdk": env.str("THROTTLE_RATE_SDK", default="3000/min"),
    "anon": env.str("THROTTLE_RATE_ANON", default="600/min"),
    "auth_failure": env.str("THROTTLE_RATE_AUTH_FAILURE", default="60/min"),
}
# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "PLG platform API",
    "DESCRIPTION": "Events, metrics, experiments, outcome OKRs and learnings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The UIs are served from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for a choice set that several fields share (difference, mde_type; an analysis'
    # engine and correction, in the statistics API, experiments and templates).
    "ENUM_NAME_OVERRIDES": {
        "EffectScaleEnum": ["relative", "absolute"],
        "AnalysisEngineEnum": "experiments.models.Engine",
        "CorrectionEnum": "experiments.models.Correction",
    },
}

# --- Ingestion limits -------------------------------------------------------------------------
INGESTION_MAX_EVENTS_PER_BATCH = env.int("INGESTION_MAX_EVENTS_PER_BATCH", default=1000)
INGESTION_MAX_BATCH_BYTES = env.int("INGESTION_MAX_BATCH_BYTES", default=5 * 1024 * 1024)
INGESTION_MAX_FUTURE_SECONDS = env.int("INGESTION_MAX_FUTURE_SECONDS", default=24 * 3600)
# A gzip/deflate body is expanded while streaming and refused (413) past this many bytes.
REQUEST_MAX_DECOMPRESSED_BYTES = INGESTION_MAX_BATCH_BYTES + 1024 * 1024
# Django refuses bodies above this before our view sees them; keep it above the batch limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGESTION_MAX_BATCH_BYTES + 1024 * 1024

# --- Event sources (metrics.sources) -----------------------------------------------------------
# File sources (a DuckDB file, a Parquet/CSV folder, a chdb directory) must lie in this folder:
# a workspace's editors name a path, and nothing outside it can be opened.
# A relative path is taken from the project folder.
METRICS_SOURCE_ROOT = BASE_DIR / env.str("METRICS_SOURCE_ROOT", default="var/sources")
# A statement in a source that runs longer than this is stopped and its job fails, naming the
# source; keep it below the analysis task's soft time limit.
METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS = env.float(
    "METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS", default=600.0
)
# The metric layer's statements on PostgreSQL (the app database) sort and hash a row per unit:
# with PostgreSQL's default 4MB of work_mem they spill to disk. Each statement runs with this
# much instead (a PostgreSQL size, e.g. "64MB"; empty: the server's setting). Every sort or
# hash node of a statement may use it, per connection: size it to the workers' memory.
METRICS_POSTGRES_WORK_MEM = env.str("METRICS_POSTGRES_WORK_MEM", default="64MB")
if METRICS_POSTGRES_WORK_MEM and not re.fullmatch(
    r"[1-9][0-9]*\s*(kB|MB|GB)?", METRICS_POSTGRES_WORK_MEM
):
    raise ImproperlyConfigured(
        "METRICS_POSTGRES_WORK_MEM is a PostgreSQL size such as 64MB (kB, MB or GB), or empty."
    )
# --- Incremental refresh (docs/metrics.md, "Incremental refresh") ----------------------------
# Each refresh re-reads the events of this many whole UTC days before the last refresh's day
# (and that day): events arriving later than that are missed until a full rebuild. One family
# of names: METRICS_ for experiment metrics (partial aggregates per experiment phase), KPI_ for
# the KPI cache.
METRICS_LOOKBACK_DAYS = env.int("METRICS_LOOKBACK_DAYS", default=2)
KPI_LOOKBACK_DAYS = env.int("KPI_LOOKBACK_DAYS", default=3)
# Experiment analyses read per-unit partial aggregates kept between refreshes (on) or scan
# every event each time (off). Both give the same numbers (tests/metrics/test_partials.py).
METRICS_INCREMENTAL_ANALYSIS = env.bool("METRICS_INCREMENTAL_ANALYSIS", default=True)

# --- Celery -----------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# The embedded default is kombu's file-system transport: a real worker, no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
# Redis hands an unacknowledged (acks_late) task to another worker after this many seconds. It
# must exceed the longest a task can run (the KPI recompute's 62-minute hard limit) plus its
# retry countdown, or a slow task would run twice. A worker's crash is not waited out here:
# the job heartbeat sweep below fails its job within minutes (docs/reliability.md).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env.int("CELERY_VISIBILITY_TIMEOUT", default=70 * 60)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Broadcast (pidbox) exchanges; kombu's default is ./control in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
# Task state and progress live in our own BackgroundJob table, so no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A process running a job refreshes the job's updated_at this often; the fail-stale-jobs sweep
# (every minute, below) fails a running job whose heartbeat stopped this long ago: its worker
# died. So a killed worker's job is failed with a reason within about 3 minutes on any broker.
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=30.0)
JOBS_RUNNING_STALE_AFTER_SECONDS = env.int("JOBS_RUNNING_STALE_AFTER_SECONDS", default=120)

# --- Cache (rate-limit counters) --------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/cache/
# Redis when CACHE_URL or REDIS_URL names one, or when the Celery broker is Redis (same server
# and database, keys prefixed "plg"); otherwise a file cache under var/cache, which every
# gunicorn worker and process on the machine shares (a per-process memory cache would multiply
# each limit by the number of workers). Another CACHE_URL: django-environ's cache URL syntax.
_cache_url = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if not _cache_url and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _cache_url = CELERY_BROKER_URL
if _cache_url.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "plg",
        }
    }
elif _cache_url:
    CACHES = {"default": environ.Env.cache_url_config(_cache_url)}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Beat schedule ----------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/periodic-tasks.html
CELERY_BEAT_SCHEDULE = {
    # Jobs whose worker died: failed with a reason within minutes (JOBS_* above).
    "fail-stale-jobs": {"task": "plg_platform.tasks.fail_stale_jobs", "schedule": 60.0},
    # Experiments: merge SDK $exposure events, analyse each running experiment once its
    # workspace's analysis_interval_minutes has passed (checked every 5 minutes), and retry
    # webhook deliveries whose retry task was lost.
    "sync-exposures": {
        "task": "experiments.tasks.sync_exposures_of_running_experiments",
        "schedule": 300.0,
    },
    "analyze-due-experiments": {
        "task": "experiments.tasks.analyze_due_experiments",
        "schedule": 300.0,
    },
    "retry-webhook-deliveries": {
        "task": "experiments.tasks.retry_due_webhook_deliveries",
        "schedule": 60.0,
    },
    # Holdouts: a fresh impact report of each running holdout, and the final one at its end.
    "refresh-holdouts": {
        "task": "experiments.holdouts.tasks.refresh_due_holdouts",
        "schedule": 3600.0,
    },
    # Incremental: each run recomputes only new days plus the last 3 (late events).
    "refresh-kpis": {"task": "outcomes.tasks.refresh_kpis_of_all_workspaces", "schedule": 3600.0},
    # One computed check-in per key result and day, updated in place during the day.
    "compute-key-result-check-ins": {
        "task": "outcomes.tasks.compute_key_result_check_ins",
        "schedule": 6 * 3600.0,
    },
    # Weekly check-in reminders (notifications and webhooks), from Monday 9:00 in each
    # workspace's zone; hourly so every zone is served, once per key result and ISO week.
    "send-check-in-reminders": {
        "task": "experiments.tasks.send_check_in_reminders",
        "schedule": 3600.0,
    },
}

# Columnar event stores (docs/engines.md): a workspace whose event_store is "duckdb" keeps its
# events as Parquet parts here; "clickhouse" uses this ClickHouse (chdb:///path in-process, or
# http(s)://user:password@host:port/database for a server).
METRICS_STORE_DIR = env.str("METRICS_STORE_DIR", default=str(VAR_DIR / "stores"))
METRICS_CLICKHOUSE_URL = env.str("METRICS_CLICKHOUSE_URL", default="")
# Moving a workspace's events between stores (metrics/store_moves.py): after the switch, wait
# this long for requests that still see the old store before copying what they wrote there.
STORE_MOVE_SETTLE_SECONDS = env.float("STORE_MOVE_SETTLE_SECONDS", default=5.0)
