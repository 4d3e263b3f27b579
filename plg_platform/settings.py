"""Settings for the PLG platform, read from the environment (12-factor).

The embedded default needs no servers: SQLite and a file-system Celery broker under ``var/``.
Set ``DATABASE_URL`` and ``CELERY_BROKER_URL`` to run the same code on PostgreSQL and Redis.
Every variable is listed in ``.env.example``.
"""

from pathlib import Path

import environ

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
    "plg_platform",
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
    # One name for a choice set that several fields share (difference, mde_type).
    "ENUM_NAME_OVERRIDES": {"EffectScaleEnum": ["relative", "absolute"]},
}

# --- Ingestion limits -------------------------------------------------------------------------
INGESTION_MAX_EVENTS_PER_BATCH = env.int("INGESTION_MAX_EVENTS_PER_BATCH", default=1000)
INGESTION_MAX_BATCH_BYTES = env.int("INGESTION_MAX_BATCH_BYTES", default=5 * 1024 * 1024)
INGESTION_MAX_FUTURE_SECONDS = env.int("INGESTION_MAX_FUTURE_SECONDS", default=24 * 3600)
# A gzip/deflate body is expanded while streaming and refused (413) past this many bytes.
REQUEST_MAX_DECOMPRESSED_BYTES = INGESTION_MAX_BATCH_BYTES + 1024 * 1024
# Django refuses bodies above this before our view sees them; keep it above the batch limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGESTION_MAX_BATCH_BYTES + 1024 * 1024

# --- Celery -----------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
# The embedded default is kombu's file-system transport: a real worker, no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
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
    # Redis redelivers an unacknowledged task after this many seconds (acks_late tasks).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
# Task state and progress live in our own BackgroundJob table, so no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

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
    "fail-stale-jobs": {"task": "plg_platform.tasks.fail_stale_jobs", "schedule": 600.0},
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
    # Incremental: each run recomputes only new days plus the last 3 (late events).
    "refresh-kpis": {"task": "outcomes.tasks.refresh_kpis_of_all_workspaces", "schedule": 3600.0},
    # One computed check-in per key result and day, updated in place during the day.
    "compute-key-result-check-ins": {
        "task": "outcomes.tasks.compute_key_result_check_ins",
        "schedule": 6 * 3600.0,
    },
}
