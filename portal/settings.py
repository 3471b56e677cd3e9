"""One settings file, driven by environment variables (see README, "Settings").

The defaults run with no external server: SQLite for the portal and kombu's filesystem
transport as the Celery broker, both under ``var/``. Production differs only by environment.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "insecure-development-key-set-DJANGO_SECRET_KEY-in-production"  # noqa: S105
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "apps.core",
    "apps.accounts",
    "apps.usage",
    "apps.domains",
    "apps.catalog",
    "apps.privacy",
    "apps.queries",
    "apps.synth",
    "apps.lineage",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.security.SecurityHeadersMiddleware",  # CSP and Cache-Control: no-store (Security block)
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.accounts.middleware.OIDCSessionRecheckMiddleware",  # Authentication / OIDC
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for locks instead of failing at once. A
    # transaction takes the write lock when it begins (IMMEDIATE): a deferred one that read first and
    # then writes cannot wait for the lock and fails at once with "database is locked". WAL lets
    # readers go on while one connection writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # The usage rollup's covering index (INCLUDE) is a PostgreSQL optimisation; SQLite ignores it.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

# --- Authentication / OIDC (see README, "Single sign-on") --------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "apps.accounts.oidc.PortalOIDCBackend",  # inert unless OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID are set
    "guardian.backends.ObjectPermissionBackend",
]
# Password log-in (the embedded default); PORTAL_LOCAL_LOGIN=0 leaves single sign-on only. A username
# that fails PORTAL_LOGIN_MAX_FAILURES times from one address within the window is refused for a while.
PORTAL_LOCAL_LOGIN = env_bool("PORTAL_LOCAL_LOGIN", True)
PORTAL_LOGIN_MAX_FAILURES = env_int("PORTAL_LOGIN_MAX_FAILURES", 5)
PORTAL_LOGIN_FAILURE_WINDOW_SECONDS = env_int("PORTAL_LOGIN_FAILURE_WINDOW_SECONDS", 900)
# OpenID Connect (mozilla-django-oidc, checked further by apps.accounts.oidc): on when the issuer and
# the client id are set. RS256 only, iss/aud/exp/nonce checked, state and PKCE (S256) on.
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER", "")
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT", "")
OIDC_OP_LOGOUT_ENDPOINT = env_str("OIDC_OP_LOGOUT_ENDPOINT", "")
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_STORE_ID_TOKEN = True  # sent back as id_token_hint when logging out at the provider
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("OIDC_TOKEN_USE_BASIC_AUTH", False)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 10)
OIDC_VERIFY_SSL = True
OIDC_CLOCK_SKEW_SECONDS = env_int("OIDC_CLOCK_SKEW_SECONDS", 60)
OIDC_CREATE_USER = env_bool("OIDC_CREATE_USER", True)
OIDC_API_AUDIENCE = env_list("OIDC_API_AUDIENCE", [OIDC_RP_CLIENT_ID] if OIDC_RP_CLIENT_ID else [])
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_GROUP_MAP: dict[str, str] = {}
for _pair in env_list("OIDC_GROUP_MAP", []):
    _claimed, _sep, _group = (part.strip() for part in _pair.partition("="))
    if not (_claimed and _sep and _group):
        raise ImproperlyConfigured(f"OIDC_GROUP_MAP takes claim_value=portal_group pairs, got {_pair!r}")
    OIDC_GROUP_MAP[_claimed] = _group
OIDC_STAFF_GROUPS = env_list("OIDC_STAFF_GROUPS", [])
OIDC_SUPERUSER_GROUPS = env_list("OIDC_SUPERUSER_GROUPS", [])
PORTAL_OIDC_PROVIDER_NAME = env_str("PORTAL_OIDC_PROVIDER_NAME", "single sign-on")
# RFC 7662 token introspection: when set, bearer tokens and single sign-on sessions are checked as still active
# at the provider (a person disabled there loses access on the next request). Positive answers about bearer
# tokens are cached this many seconds at most (0 = the provider is asked on every API request).
OIDC_OP_INTROSPECTION_ENDPOINT = env_str("OIDC_OP_INTROSPECTION_ENDPOINT", "")
PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS = env_int("PORTAL_OIDC_INTROSPECTION_CACHE_SECONDS", 5)
# How often a single sign-on session asks the provider whether it still vouches for the person (introspection
# of the session's access token, else its refresh token); 0 = on every request (the default with introspection).
PORTAL_OIDC_RECHECK_SECONDS = env_int("PORTAL_OIDC_RECHECK_SECONDS", 0 if OIDC_OP_INTROSPECTION_ENDPOINT else 300)
PORTAL_OIDC_ENABLED = bool(OIDC_OP_ISSUER and OIDC_RP_CLIENT_ID)
if PORTAL_OIDC_ENABLED:
    _missing = [name for name in ("OIDC_RP_CLIENT_SECRET", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT",
                                  "OIDC_OP_JWKS_ENDPOINT") if not globals()[name]]
    if _missing:
        raise ImproperlyConfigured(f"Single sign-on needs {', '.join(_missing)} as well as OIDC_OP_ISSUER")
if not (PORTAL_LOCAL_LOGIN or PORTAL_OIDC_ENABLED):
    raise ImproperlyConfigured("PORTAL_LOCAL_LOGIN=0 needs single sign-on (OIDC_OP_ISSUER, OIDC_RP_CLIENT_ID)")
# --- end of Authentication / OIDC ---------------------------------------------------------------------
# django-guardian: object permissions only for real users (no anonymous user row).
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request without it
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Security (see docs/security.md) -------------------------------------------------------------
# Production-safe defaults whenever DJANGO_DEBUG is off; plain-HTTP local runs and tests set
# DJANGO_SECURE_COOKIES=0, which also turns off the HTTPS redirect.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True  # pages send the token from the template (hx-headers), never from the cookie
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", SESSION_COOKIE_SECURE)
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):  # only behind a proxy that sets it on every request
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content Security Policy, sent by apps.core.security.SecurityHeadersMiddleware (which also adds the
# origins of the OIDC provider's endpoints to form-action). Never 'unsafe-inline' or 'unsafe-eval'.
PORTAL_CSP = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'", *env_list("PORTAL_CSP_FORM_ACTION", [])],
    "frame-ancestors": ["'none'"],
}
# --- end of Security ---------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
        "apps.accounts.authentication.OIDCBearerAuthentication",  # Authentication / OIDC
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.SafeJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Confidential Data Mesh portal API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MechanismEnum": "apps.privacy.models.Mechanism",
        "AccessModeEnum": "apps.privacy.models.AccessMode",
        # Several models name a field "kind" or "status": one name per choice set (check --deploy is clean).
        "BackendKindEnum": "apps.domains.models.Backend.Kind",
        "JobStatusEnum": "apps.queries.models.QueryJob.Status",
    },
}

# Celery. Results never go to a result backend: the database holds every job's state.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The sweeper re-sends DP query jobs the broker lost and fails those whose worker died.
CELERY_BEAT_SCHEDULE = {
    "queries-sweep": {"task": "apps.queries.tasks.queries_sweep_task", "schedule": 30.0, "options": {"expires": 25}},
    "synth-sweep": {"task": "apps.synth.tasks.synth_sweep_task", "schedule": 30.0, "options": {"expires": 25}},
    "usage-rollup": {"task": "apps.usage.tasks.usage_rollup_task", "schedule": 300.0, "options": {"expires": 290}},
}

# Job routing: one queue per kind of job; a domain listed here gets its own queues
# (``<kind>.<domain>``) so that a worker inside that domain's network serves them alone.
PORTAL_JOB_KINDS = ("harvest", "queries", "synthesis")
PORTAL_DOMAIN_QUEUES = env_list("PORTAL_DOMAIN_QUEUES", [])

# Credentials of registered backends are encrypted with this key (Fernet, urlsafe base64 of
# 32 bytes). Without it, a key is derived from DJANGO_SECRET_KEY, which only DEBUG allows.
PORTAL_CREDENTIALS_KEY = env_str("PORTAL_CREDENTIALS_KEY", "")
if not PORTAL_CREDENTIALS_KEY and not DEBUG:
    raise ImproperlyConfigured("PORTAL_CREDENTIALS_KEY must be set when DJANGO_DEBUG is off")

# Where the demo mesh puts its backend files, and where open-dataset previews stop.
PORTAL_DEMO_DIR = Path(env_str("PORTAL_DEMO_DIR", str(VAR_DIR / "mesh")))
PORTAL_PREVIEW_ROWS = env_int("PORTAL_PREVIEW_ROWS", 20)
PORTAL_BACKEND_TIMEOUT_SECONDS = env_int("PORTAL_BACKEND_TIMEOUT_SECONDS", 10)
PORTAL_BACKEND_FILE_ROOTS = env_list("PORTAL_BACKEND_FILE_ROOTS", [])

# DP query jobs: how long a backend query may run, how often a running job proves it is alive,
# when a silent one counts as dead (failed, charged), when a queued one is sent again, and the most
# groups an answer may have.
PORTAL_QUERY_TIMEOUT_SECONDS = env_int("PORTAL_QUERY_TIMEOUT_SECONDS", 300)
PORTAL_QUERY_HEARTBEAT_SECONDS = env_int("PORTAL_QUERY_HEARTBEAT_SECONDS", 10)
PORTAL_QUERY_STALLED_AFTER_SECONDS = env_int("PORTAL_QUERY_STALLED_AFTER_SECONDS", 120)
PORTAL_QUERY_RESEND_AFTER_SECONDS = env_int("PORTAL_QUERY_RESEND_AFTER_SECONDS", 60)
PORTAL_QUERY_MAX_GROUPS = env_int("PORTAL_QUERY_MAX_GROUPS", 100_000)

# Synthetic-data jobs (apps.synth): samples are Parquet files addressed by their job's id; the DP
# preview of a confidential dataset is funded by its owners from the dataset-wide budget.
PORTAL_SYNTH_DIR = Path(env_str("PORTAL_SYNTH_DIR", str(VAR_DIR / "synth")))
PORTAL_SYNTH_MAX_ROWS = env_int("PORTAL_SYNTH_MAX_ROWS", 1_000_000)
PORTAL_SYNTH_MAX_MODEL_MIB = env_int("PORTAL_SYNTH_MAX_MODEL_MIB", 2048)
PORTAL_SYNTH_NUMERIC_BINS = env_int("PORTAL_SYNTH_NUMERIC_BINS", 16)
PORTAL_SYNTH_PREVIEW_ROWS = env_int("PORTAL_SYNTH_PREVIEW_ROWS", 100)
PORTAL_SYNTH_PREVIEW_EPSILON = env_str("PORTAL_SYNTH_PREVIEW_EPSILON", "1")
PORTAL_SYNTH_HEARTBEAT_SECONDS = env_int("PORTAL_SYNTH_HEARTBEAT_SECONDS", 10)
PORTAL_SYNTH_STALLED_AFTER_SECONDS = env_int("PORTAL_SYNTH_STALLED_AFTER_SECONDS", 120)
PORTAL_SYNTH_RESEND_AFTER_SECONDS = env_int("PORTAL_SYNTH_RESEND_AFTER_SECONDS", 60)
PORTAL_SYNTH_UTILITY_REPORT = env_bool("PORTAL_SYNTH_UTILITY_REPORT", True)

# Usage KPIs come from a daily rollup; a KPI page rolls today up again at most this often.
PORTAL_USAGE_TODAY_REFRESH_SECONDS = env_int("PORTAL_USAGE_TODAY_REFRESH_SECONDS", 60)

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("PORTAL_LOG_LEVEL", "INFO")},
}
