"""Django settings for Panel.

Every value comes from the environment (or a `.env` file in the project folder) through
django-environ, with defaults that are safe for development: a SQLite file in the project folder,
the local-memory cache and DEBUG off unless asked for. `.env.example` lists every variable.
"""

import os
import tempfile
from pathlib import Path

import environ

from backend.panel.ai_features import DEFAULT_FEATURE_ALIASES

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
_env_file = BASE_DIR / ".env"
if _env_file.exists():
    environ.Env.read_env(str(_env_file), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# A development-only fallback: `make run` writes a real one into .env, and the deploy check
# (`manage.py check --deploy`) flags this value.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-panel-development-only-key")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "backend.integrations.ai.apps.AIConfig",
    "backend.pages.apps.PagesConfig",
    "backend.prompts.apps.PromptsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "backend.panel.urls"

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

WSGI_APPLICATION = "backend.panel.wsgi.application"
ASGI_APPLICATION = "backend.panel.asgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite's default journal syncs to disk on every commit (~2 ms, more than the registry's
    # whole per-call budget); WAL with synchronous=NORMAL keeps the ledger insert cheap and lets
    # readers and the writer work at once. transaction_mode=IMMEDIATE avoids "database is locked"
    # upgrades when several threads write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # Tests run threads against the test database: a file (with WAL) lets them share it, where
    # SQLite's default in-memory test database would lock them out. One file per test run.
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME", str(Path(tempfile.gettempdir()) / f"panel-test-{os.getpid()}.sqlite3")
    )

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://panel")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
STATIC_ROOT = BASE_DIR / "staticfiles"
# While on, Django serves /static/ itself (the admin's CSS under uvicorn, DEBUG on or off, no
# collectstatic needed): right for `make run`. In production serve STATIC_ROOT from the web server
# after `collectstatic` and set it false; `manage.py check --deploy` warns otherwise (ai.W001).
SERVE_STATIC = env.bool("SERVE_STATIC", default=True)

# --- The AI provider registry -------------------------------------------------------------------

# One Fernet key, or a comma-separated list: the first encrypts, every one decrypts (rotation).
# Left empty, `manage.py check` fails with ai.E001 and names the fix.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

# Loopback and private-network base URLs (local Ollama, vLLM, LM Studio) are refused unless on.
# Link-local and cloud-metadata addresses are refused always.
AI_ALLOW_PRIVATE_BASE_URLS = env.bool("AI_ALLOW_PRIVATE_BASE_URLS", default=DEBUG)

# Environment fallback, used when no Provider row is enabled (see docs/architecture.md).
AI_PROVIDER = env.str("AI_PROVIDER", default="auto")
OPENROUTER_API_KEY = env.str("OPENROUTER_API_KEY", default="")
OPENROUTER_DEFAULT_MODEL = env.str("OPENROUTER_DEFAULT_MODEL", default="openai/gpt-4o-mini")
OPENROUTER_HTTP_REFERER = env.str("OPENROUTER_HTTP_REFERER", default="")
OPENROUTER_APP_NAME = env.str("OPENROUTER_APP_NAME", default="Panel")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
OPENROUTER_BASE_URL = env.str("OPENROUTER_BASE_URL", default="")

# Tuning (docs/architecture.md): how often a process polls the config stamp, retry and
# circuit-breaker policy, and the default HTTP pool size for providers built from the environment.
AI_CONFIG_CHECK_INTERVAL = env.float("AI_CONFIG_CHECK_INTERVAL", default=1.0)
AI_SHARED_STATE_SECONDS = env.float("AI_SHARED_STATE_SECONDS", default=0.1)
AI_MAX_RETRY_WAIT_SECONDS = env.float("AI_MAX_RETRY_WAIT_SECONDS", default=10.0)
AI_RETRY_BASE_SECONDS = env.float("AI_RETRY_BASE_SECONDS", default=0.5)
AI_RETRY_MAX_BACKOFF_SECONDS = env.float("AI_RETRY_MAX_BACKOFF_SECONDS", default=8.0)
AI_CIRCUIT_FAILURES = env.int("AI_CIRCUIT_FAILURES", default=5)
AI_CIRCUIT_COOLDOWN_SECONDS = env.float("AI_CIRCUIT_COOLDOWN_SECONDS", default=30.0)
AI_HTTP_POOL_SIZE = env.int("AI_HTTP_POOL_SIZE", default=100)

# --- The CMS's AI features (docs/cms-ai.md) ----------------------------------------------------

# Which model alias each CMS feature asks the registry for. An alias is a name the admin routes
# under Admin › AI › Model aliases; override one feature with PANEL_AI_ALIAS_<FEATURE>, e.g.
# PANEL_AI_ALIAS_META_DESCRIPTION=cheap.
PANEL_AI_FEATURE_ALIASES = {
    feature: env.str(f"PANEL_AI_ALIAS_{feature.upper()}", default=alias)
    for feature, alias in DEFAULT_FEATURE_ALIASES.items()
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "backend.integrations.ai": {
            "handlers": ["console"],
            "level": env.str("AI_LOG_LEVEL", default="INFO"),
        },
    },
}
