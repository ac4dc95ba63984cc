"""Settings of the carbon-inclusion registry portal: one module, read from the environment.

Every variable is listed in `.env.example`. The defaults give a development portal that runs on a bare
machine: SQLite, tasks in-process, e-mail kept as files under var/mail/, Django's debug pages.
`make run` is the embedded demo (ADR 0011): the same, but with DEBUG off (the portal's own error pages)
and DJANGO_EMBEDDED_DEMO on, which keeps plain HTTP, the development keys and the demo logins.
Production sets DJANGO_DEBUG=false and real values, and gets HTTPS only, secure cookies and HSTS;
`manage.py check --deploy --fail-level WARNING` then passes (and fails in the embedded demo).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
# The embedded demo of `make run` (ADR 0011): DEBUG off, so visitors see the portal's own error pages, yet
# the development defaults stay. One machine only: `check --deploy` refuses it (registry.E003).
EMBEDDED_DEMO = env_bool("DJANGO_EMBEDDED_DEMO", False)
# Development defaults (plain HTTP, local hosts, development keys) with DEBUG on or in the embedded demo;
# otherwise production's. Code outside this module asks `settings.DEBUG or settings.EMBEDDED_DEMO`.
dev_defaults = DEBUG or EMBEDDED_DEMO
# The development key is only good for development; production must set its own (check --deploy says so).
SECRET_KEY = env(
    "DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production" if dev_defaults else ""
)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if dev_defaults else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "registry.apps.RegistryAdminConfig",  # django.contrib.admin, with registry.admin_site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "registry.apps.AxesConfig",  # axes, django_otp's plugins: under translated names (registry/apps.py)
    "django_otp",
    "registry.apps.TOTPConfig",
    "registry.apps.StaticTokensConfig",
    "registry",
    "projects",
    "offsets",
    "offsets.behaviour",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "registry.middleware.TrustedProxyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A NUL in the path or query: the 400 page, in the visitor's language, before anything reads it.
    "registry.middleware.RejectNulMiddleware",
    # Which second factor, if any, this session has passed; then the one place that demands it.
    "django_otp.middleware.OTPMiddleware",
    "registry.middleware.MFARequiredMiddleware",
    "registry.middleware.BureauSessionTimeoutMiddleware",
    # Pages of logged-in visitors, or holding a CSRF token, say Cache-Control: private, no-store.
    "registry.middleware.PrivateCacheControlMiddleware",
    "registry.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A form sent twice acts once (ADR 0008): after CSRF's check and the messages, before any view.
    "registry.middleware.OnceOnlyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes requires: turns a lockout into our own translated page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context_processors.portal",
                "projects.context_processors.queues",
            ],
            # {% once_token %} in every state-changing form, without a {% load %} in each template.
            "builtins": ["registry.templatetags.once"],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
# DATABASE_URL takes the usual forms: postgres://user:pass@host:5432/name or sqlite:///path/to/file.
# Without it, an SQLite file under var/ (the embedded default of `make run`).
if not env("DATABASE_URL"):
    (BASE_DIR / "var").mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite's default (deferred) transactions deadlock when two requests that both read then write meet
    # (a double click on "register"): one gets "database is locked" at once, a 500. IMMEDIATE takes the
    # write lock at the start of every atomic block, so the second waits (up to `timeout` seconds) for the
    # first to commit, then finds the new state and is refused cleanly (ADR 0008).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
# PostgreSQL: parameters bound by the server and each statement prepared on its connection once it has run
# DATABASE_PREPARE_THRESHOLD times, so the hot paths (a retirement's dozen statements) are parsed and planned
# once per connection, not once per call (ADR 0018). 0 turns it off, for a pooler in transaction mode.
DATABASE_PREPARE_THRESHOLD = env_int("DATABASE_PREPARE_THRESHOLD", 5)


def bound_by_server(database: dict) -> dict:
    if database["ENGINE"] == "django.db.backends.postgresql" and DATABASE_PREPARE_THRESHOLD > 0:
        database.setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": DATABASE_PREPARE_THRESHOLD}
        )
    return database


bound_by_server(DATABASES["default"])
# A PostgreSQL streaming replica (docs/deployment.md, ADR 0015): anonymous visitors' reads of the public
# pages go there; every write, every logged-in page and a browser's pages for REPLICA_PIN_SECONDS after it
# sent a form stay on the primary. Unset: one database, no router.
REPLICA_DATABASE_URL = env("REPLICA_DATABASE_URL")
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 30)
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = dj_database_url.parse(
        REPLICA_DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
    bound_by_server(DATABASES["replica"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["registry.db_router.PrimaryReplicaRouter"]
    MIDDLEWARE.insert(
        MIDDLEWARE.index("axes.middleware.AxesMiddleware"), "registry.db_router.ReplicaReadsMiddleware"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "registry.User"

# --- Users and sessions --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses logins while an account or address is locked out
    "django.contrib.auth.backends.ModelBackend",
]
# Failed-login throttling, which a stranger cannot turn against the account's owner: after
# AXES_FAILURE_LIMIT failures for one account from one address, that account is paused from that address
# only (the owner elsewhere still logs in, and a password reset lifts the pause at once); after
# LOGIN_ADDRESS_FAILURE_LIMIT failures from one address over any accounts (password spraying), the address
# is paused. Pauses last AXES_COOLOFF_MINUTES. The address is the real client's, taken by
# TrustedProxyMiddleware from the trusted proxy's header. registry.auth.LoginThrottle applies both limits.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 30)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "registry.auth.LoginThrottle"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "registry.auth.client_ip"
AXES_USERNAME_CALLABLE = "registry.auth.attempted_username"
AXES_LOCKOUT_CALLABLE = "registry.auth.locked_out"
AXES_VERBOSE = False
# Password-reset e-mails: at most this many per account, and reset requests per client address, an hour.
PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR = env_int("PASSWORD_RESETS_PER_ACCOUNT_PER_HOUR", 3)
PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = env_int("PASSWORD_RESETS_PER_ADDRESS_PER_HOUR", 10)
# Two-factor login (django-otp): required for bureau staff, optional for enterprise users. The issuer is
# the name authenticator apps show beside the code; wrong codes slow down (1, 2, 4, 8 … seconds).
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER") or "Carbon Inclusion Registry"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:dashboard"
LOGOUT_REDIRECT_URL = "registry:home"
# Bureau staff handle cases for others: their sessions end after this much inactivity.
BUREAU_SESSION_IDLE_SECONDS = env_int("BUREAU_SESSION_IDLE_SECONDS", 8 * 3600)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 14 * 24 * 3600)

# --- Language, time ------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = env("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files -------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "var" / "static")))
# Uploaded documents live outside the static root and are never served by URL: a view checks
# permission and streams them as attachments. The storage API makes an S3-compatible store a setting.
PRIVATE_FILES_ROOT = Path(env("PRIVATE_FILES_ROOT", str(BASE_DIR / "var" / "files")))
# The compact Chinese fonts of the PDFs, made by `manage.py build_pdf_fonts` (registry/pdf_fonts.py).
PDF_FONT_DIR = Path(env("PDF_FONT_DIR", str(BASE_DIR / "var" / "fonts")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_FILES_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if dev_defaults
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 20 * 1024 * 1024)
# Images above this many pixels are refused before decoding (a small file can declare a huge image).
UPLOAD_MAX_IMAGE_PIXELS = env_int("UPLOAD_MAX_IMAGE_PIXELS", 50_000_000)
# An XLSX is a zip: every member together may unpack to at most this, and a large member may be at most
# this many times its compressed size (zip bombs inflate a thousandfold).
UPLOAD_XLSX_MAX_UNPACKED_BYTES = env_int("UPLOAD_XLSX_MAX_UNPACKED_BYTES", 50 * 1024 * 1024)
UPLOAD_XLSX_MAX_RATIO = env_int("UPLOAD_XLSX_MAX_RATIO", 200)

# --- Security ------------------------------------------------------------------------------------
# Behind a reverse proxy, name the header it sets with the client's address (e.g. X-Forwarded-For)
# and the number of proxies in front of Django; the client address is then taken from that header.
TRUSTED_PROXY_HEADER = env("DJANGO_TRUSTED_PROXY_HEADER")
TRUSTED_PROXY_COUNT = env_int("DJANGO_TRUSTED_PROXY_COUNT", 1)
if env_bool("DJANGO_PROXY_SSL_HEADER", not dev_defaults):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not dev_defaults)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if dev_defaults else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", not dev_defaults)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not dev_defaults)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not dev_defaults)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Only our own origin, no inline script or style: every asset is vendored under static/.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Redis, cache, Celery ------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "carbon-registry"),
        }
    }
else:
    # Per process; room for the public pages of a city registry (the default 300 entries was measured too
    # small: docs/performance.md). Production uses Redis.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without Redis (the embedded default), tasks run in-process at the moment they are enqueued,
# which is still after commit: services only enqueue from transaction.on_commit.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands a task that a worker took and never acknowledged (the worker was killed: acks_late) back to the
# queue only after this many seconds; kombu's default is an hour. It must exceed the longest job plus the wait
# of the one task prefetched behind it: the longest, a 1,000-row announcement PDF, takes about 30 s
# (docs/performance.md). A job that outlives it is handed to a second worker while it runs, which is harmless
# (every job is idempotent) but doubles its work. The exception, a platform's month closed at a city's scale
# (minutes, ADR 0022), knows: its copy finds the close under way and returns at once. Every worker looks for
# such tasks every 10 s (kombu's interval, unthrottled here; the default scans one time in ten). The
# reconciliation below usually sends a lost job again sooner; this also brings back tasks it does not know,
# such as a checkpoint.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300),
    "unacked_restore_throttle": 1,
}
# The queue this deployment's tasks go to and its workers read: two registries (or two test runs) sharing
# one Redis database name their own.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", "celery")
# The reconciliation (registry/reconcile.py, every minute): what the database says a job owes (a certificate
# without its file, an event's notification not delivered, a notice or announcement without its PDF) and has
# owed for more than RECONCILE_AFTER_SECONDS, so as not to race the job itself, is sent again, at most
# RECONCILE_BATCH of each kind a run.
RECONCILE_AFTER_SECONDS = env_int("RECONCILE_AFTER_SECONDS", 60)
RECONCILE_BATCH = env_int("RECONCILE_BATCH", 500)
# The periodic jobs run by `make run` itself when there is no beat process (see `manage.py serve`).
RUN_PERIODIC_IN_PROCESS = env_bool("RUN_PERIODIC_IN_PROCESS", not REDIS_URL)

# --- Residents' low-carbon behaviour (offsets/behaviour, ADR 0017) ----------------------------------
# Records may be reported for this many days back; a partition older than the retention period is dropped
# (its daily totals stay). Rows per chunk: one task's transaction. Rows per batch: the most a batch may hold.
BEHAVIOUR_REPORTING_DAYS = env_int("BEHAVIOUR_REPORTING_DAYS", 62)
BEHAVIOUR_RETENTION_DAYS = env_int("BEHAVIOUR_RETENTION_DAYS", 400)
BEHAVIOUR_CHUNK_ROWS = env_int("BEHAVIOUR_CHUNK_ROWS", 100_000)
BEHAVIOUR_BATCH_MAX_ROWS = env_int("BEHAVIOUR_BATCH_MAX_ROWS", 5_000_000)
BEHAVIOUR_CHUNK_ATTEMPTS = env_int("BEHAVIOUR_CHUNK_ATTEMPTS", 8)
# The key of the resident identity numbers' hash (HMAC-SHA256): one account per person without keeping the
# number. Set it in production and never change it (every account's hash depends on it).
IDENTITY_HASH_KEY = env("IDENTITY_HASH_KEY", "development-identity-hash-key" if dev_defaults else "")

# --- E-mail (Django 6.1 MAILERS) -----------------------------------------------------------------
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "registry@example.gov.cn")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if env("MAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env("MAIL_HOST"),
                "port": env_int("MAIL_PORT", 587),
                "username": env("MAIL_USER") or None,
                "password": env("MAIL_PASSWORD") or None,
                "use_tls": env_bool("MAIL_USE_TLS", True),
                "timeout": env_int("MAIL_TIMEOUT", 20),
            },
        }
    }
else:
    # Each message kept as an .eml file (attachments included) and one line on the console (registry/mail.py).
    MAILERS = {
        "default": {
            "BACKEND": "registry.mail.MailFolderBackend",
            "OPTIONS": {"file_path": Path(env("MAIL_FOLDER", str(BASE_DIR / "var" / "mail")))},
        }
    }

# --- Forms, messages ----------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"
# A list filter left empty filters nothing: its empty choice reads "All" (django-filter's is "---------").
# A form's empty choice is set in registry.apps (Django's BLANK_CHOICE_LABEL).
FILTERS_EMPTY_CHOICE_LABEL = _("All")
MESSAGE_TAGS = {40: "danger"}

# --- The registry's own settings -----------------------------------------------------------------
# The public notice of an issuance phase, in working days.
NOTICE_WORKING_DAYS = env_int("NOTICE_WORKING_DAYS", 7)
# Objections accepted from one address per hour (the public form is throttled).
OBJECTIONS_PER_HOUR = env_int("OBJECTIONS_PER_HOUR", 5)
# Time limits of the review stages, in working days (DOMAIN.md's defaults).
REVIEW_WORKING_DAYS = {
    "intake": env_int("REVIEW_DAYS_INTAKE", 5),
    "technical": env_int("REVIEW_DAYS_TECHNICAL", 15),
    "expert": env_int("REVIEW_DAYS_EXPERT", 10),
    "approval": env_int("REVIEW_DAYS_APPROVAL", 5),
}
# Transfers wait for the registry administrator's confirmation unless this is on (DOMAIN.md's default: off).
TRANSFERS_CONFIRM_AUTOMATICALLY = env_bool("TRANSFERS_CONFIRM_AUTOMATICALLY", False)
REGISTRY_AUTHORITY = _("Municipal Bureau of Ecology and Environment")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")
# Ed25519 key that signs the published checkpoints of the audit chain and the ledger (ADR 0007): base64
# of 32 random bytes, or a PEM private key. Required in production (check --deploy says so); with DEBUG
# on or in the embedded demo, a development key derived from SECRET_KEY is used.
CHECKPOINT_SIGNING_KEY = env("CHECKPOINT_SIGNING_KEY")
# A signed checkpoint at least this often while history grows (and one after every registration).
CHECKPOINT_INTERVAL_MINUTES = env_int("CHECKPOINT_INTERVAL_MINUTES", 60)
# Retirements within this many seconds share one checkpoint (each registration gets its own).
CHECKPOINT_AFTER_RETIREMENT_SECONDS = env_int("CHECKPOINT_AFTER_RETIREMENT_SECONDS", 5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint and fontTools narrate every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
