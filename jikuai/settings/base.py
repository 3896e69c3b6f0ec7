"""Jikuai settings: one place, driven by the environment (django-environ).

Embedded default (no environment at all): SQLite file in the project folder, local-memory cache,
Celery tasks run eagerly after commit, development keys generated into ``var/keys`` (git-ignored).
"""

from pathlib import Path

import environ

from jikuai.core.devkeys import ensure_development_keys

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DEBUG = env.bool("DJANGO_DEBUG", default=True)
_dev_keys = ensure_development_keys(VAR_DIR / "keys") if env.bool("JIKUAI_DEV_KEYS", default=True) else {}

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=_dev_keys.get("django_secret_key", ""))
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- PII keys -------------------------------------------------------------------------------
# JIKUAI_PII_KEYS: "kid1:hex32,kid2:hex32"; the last one is the current key for new writes.
# JIKUAI_BLIND_INDEX_KEY: hex, keyed HMAC-SM3 for searchable blind indexes.
PII_KEYS = env.str("JIKUAI_PII_KEYS", default=_dev_keys.get("pii_keys", ""))
BLIND_INDEX_KEY = env.str("JIKUAI_BLIND_INDEX_KEY", default=_dev_keys.get("blind_index_key", ""))
# Key that signs short-lived tokens (QR codes, customer OTP confirmations).
TOKEN_SIGNING_KEY = env.str("JIKUAI_TOKEN_SIGNING_KEY", default=_dev_keys.get("token_signing_key", ""))

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_fsm_log",
    "django_celery_beat",
    "django_celery_results",
    "guardian",
    "axes",
    "simple_history",
    "import_export",
    "django_htmx",
    # kernel
    "jikuai.core",
    "jikuai.org",
    "jikuai.customers",
    "jikuai.api",
    "jikuai.web",
    # domain apps
    "riskrules",
    "lending",
    "performance",
    "lifestyle",
]

# transition history: django-fsm-log, with bulk-written history for rows decided before their first save
DJANGO_FSM_LOG_STORAGE_METHOD = "jikuai.core.fsmlog.DeferrableBackend"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "jikuai.web.locale.ChineseFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "jikuai.web.middleware.CustomerMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "jikuai.urls"
WSGI_APPLICATION = "jikuai.wsgi.application"
ASGI_APPLICATION = "jikuai.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["jikuai.web.templatetags.labels"],  # lang_label in every template
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jikuai.web.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, health-checking a kept connection without a round trip (jikuai/core/pgbackend)
        DATABASES["default"]["ENGINE"] = "jikuai.core.pgbackend"
# the apply's hot statements (jikuai.core.fastsql) are prepared once per connection; switch off behind a
# transaction-pooling PgBouncer older than 1.21
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "org.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/admin/login/"

# django-axes: lock a staff account after repeated failures
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.5)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "web/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise expects it; collectstatic fills it in production
# Private uploads (KYC images, documents): never served by the web server directly.
PRIVATE_MEDIA_ROOT = env.path("JIKUAI_PRIVATE_MEDIA_ROOT", default=str(VAR_DIR / "private"))
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Cache, Celery --------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "jikuai.core.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jikuai"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ROUTES = {
    "jikuai.core.tasks.*": {"queue": "interactive"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# With a broker, committed bus events reach the workers through the relay process (manage.py bus_relay),
# a few per task; off: one task per event, sent by the publishing request after commit.
BUS_RELAY = env.bool("BUS_RELAY", default=True)

# --- SMS gateway (one-time codes) -----------------------------------------------------------
# console: log a masked line and print the code to the dev console; locmem: tests; http: gateway.
SMS_BACKEND = env.str("JIKUAI_SMS_BACKEND", default="jikuai.core.sms.ConsoleBackend")
SMS_GATEWAY_URL = env.str("JIKUAI_SMS_GATEWAY_URL", default="")
SMS_GATEWAY_APP_ID = env.str("JIKUAI_SMS_GATEWAY_APP_ID", default="")
SMS_GATEWAY_SECRET = env.str("JIKUAI_SMS_GATEWAY_SECRET", default="")
SMS_GATEWAY_TIMEOUT = env.float("JIKUAI_SMS_GATEWAY_TIMEOUT", default=5.0)

OTP_TTL_SECONDS = 300
OTP_MAX_PER_MOBILE_PER_HOUR = env.int("OTP_MAX_PER_MOBILE_PER_HOUR", default=5)
OTP_MAX_PER_IP_PER_HOUR = env.int("OTP_MAX_PER_IP_PER_HOUR", default=20)
OTP_MIN_INTERVAL_SECONDS = env.int("OTP_MIN_INTERVAL_SECONDS", default=60)
OTP_MAX_ATTEMPTS = 5
CUSTOMER_LOGIN_FAILURE_LIMIT = 5
CUSTOMER_LOGIN_LOCK_MINUTES = 30

# --- Core banking adapter (lending disbursement and collection; outside the platform) ----------
JIKUAI_CORE_BANKING_ADAPTER = env.str("JIKUAI_CORE_BANKING_ADAPTER", default="lending.corebanking.LocalAdapter")
JIKUAI_CORE_BANKING_URL = env.str("JIKUAI_CORE_BANKING_URL", default="")
JIKUAI_CORE_BANKING_APP_ID = env.str("JIKUAI_CORE_BANKING_APP_ID", default="")
JIKUAI_CORE_BANKING_SECRET = env.str("JIKUAI_CORE_BANKING_SECRET", default="")
JIKUAI_CORE_BANKING_TIMEOUT = env.float("JIKUAI_CORE_BANKING_TIMEOUT", default=5.0)
JIKUAI_CORE_BANKING_RETRIES = env.int("JIKUAI_CORE_BANKING_RETRIES", default=3)
JIKUAI_CORE_BANKING_CALLBACK_URL = env.str("JIKUAI_CORE_BANKING_CALLBACK_URL", default="")

# --- Contracts and e-signature (lending.contracts) -------------------------------------------
# Key folder layout in lending/contracts/ca.py: ca.cert.pem (trust roots), <institution code>.key.pem and
# .cert.pem (one signing certificate per institution), optional chain.pem. Development generates a local
# test CA and the certificates on first use into var/keys/contracts (git-ignored); production installs
# real files and turns generation off (JIKUAI_DEV_KEYS=false).
JIKUAI_CONTRACT_KEY_DIR = env.str("JIKUAI_CONTRACT_KEY_DIR", default=str(VAR_DIR / "keys" / "contracts"))
JIKUAI_CONTRACT_DEV_PKI = env.bool("JIKUAI_CONTRACT_DEV_PKI", default=env.bool("JIKUAI_DEV_KEYS", default=True))
JIKUAI_CONTRACT_KEY_PASSPHRASE = env.str("JIKUAI_CONTRACT_KEY_PASSPHRASE", default="")
JIKUAI_CONTRACT_TRUST_ROOTS = env.list("JIKUAI_CONTRACT_TRUST_ROOTS", default=[])  # extra PEM files to trust
JIKUAI_CONTRACT_TSA_URL = env.str("JIKUAI_CONTRACT_TSA_URL", default="")  # RFC 3161; empty: local TSA in dev
JIKUAI_CONTRACT_TSA_TIMEOUT = env.float("JIKUAI_CONTRACT_TSA_TIMEOUT", default=5.0)
JIKUAI_CONTRACT_FONT_PATH = env.str("JIKUAI_CONTRACT_FONT_PATH", default="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
JIKUAI_CONTRACT_CONTACT = env.str("JIKUAI_CONTRACT_CONTACT", default="吉快金融客服 96888")
JIKUAI_CONTRACT_VERIFY_MAX_BYTES = env.int("JIKUAI_CONTRACT_VERIFY_MAX_BYTES", default=2 * 1024 * 1024)

# --- API ------------------------------------------------------------------------------------
API_SIGNATURE_MAX_SKEW_SECONDS = 300
API_IDEMPOTENCY_TTL_HOURS = 48
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jikuai.api.auth.SignatureAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["jikuai.api.auth.IsIntegrator"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "jikuai.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jikuai.api.errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "吉快金融 Jikuai integrator API",
    "DESCRIPTION": "Signed requests (X-App-Id, X-Timestamp, X-Nonce, X-Signature); Idempotency-Key on every POST.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # choice sets whose field names collide across apps get stable component names
    "ENUM_NAME_OVERRIDES": {
        "LoanStateEnum": "lending.models.loans.LoanState",
        "RepaymentKindEnum": "lending.models.loans.RepaymentKind",
    },
}

# --- Guardian, history ----------------------------------------------------------------------
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
SIMPLE_HISTORY_HISTORY_ID_USE_UUID = False

# --- Unfold admin ---------------------------------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "吉快金融 管理后台",
    "SITE_HEADER": "吉快金融",
    "SITE_SYMBOL": "account_balance",
    "SHOW_LANGUAGES": True,
    "DASHBOARD_CALLBACK": "jikuai.web.dashboard.dashboard_callback",
    "ENVIRONMENT": "jikuai.web.dashboard.environment_callback",
}

# --- Logging: PII never logged in full ------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "jikuai.core.masking.PiiMaskingFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_pii"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},  # one INFO line per task is noise in eager mode
    },
}

# --- Business defaults ----------------------------------------------------------------------
JIKUAI = {
    "WORKING_HOURS": (9, 17),
}

# What /version.json reports (set by the deployment, e.g. the git commit).
JIKUAI_VERSION = env.str("JIKUAI_VERSION", default="1.0.0-dev")
