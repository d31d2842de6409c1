"""System checks for the registry (registered in AppConfig.ready by importing this module).

Ids are stable; each message has a `hint=` naming the fix:

- ai.E001  FIELD_ENCRYPTION_KEY is missing.
- ai.E002  an item of FIELD_ENCRYPTION_KEY is not a Fernet key (the message says which one).
- ai.W001  (deploy) Django serves /static/ itself with DEBUG off (SERVE_STATIC).
- ai.W1xx  reserved for the database-tagged config lint.

The default checks here read settings only, never the database, so `manage.py check` works
before `migrate`. A key is never printed, only its position in the list.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .fields import parse_key, split_keys

_GENERATE_HINT = (
    "Generate a key with `python manage.py ai_generate_key` and set FIELD_ENCRYPTION_KEY in .env "
    "or the environment (`make run` writes one for you)."
)


@register("ai", Tags.security)
def check_encryption_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """FIELD_ENCRYPTION_KEY is set and every comma-separated item is a Fernet key."""
    raw = getattr(settings, "FIELD_ENCRYPTION_KEY", "") or ""
    if isinstance(raw, list | tuple):
        raw = ",".join(str(item) for item in raw)
    items = split_keys(str(raw))
    if not items:
        return [
            Error(
                "FIELD_ENCRYPTION_KEY is not set: stored provider API keys can be neither "
                "encrypted nor decrypted.",
                hint=_GENERATE_HINT,
                id="ai.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for position, item in enumerate(items, start=1):
        if parse_key(item) is None:
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY item {position} of {len(items)} is not a valid Fernet "
                    "key (32 url-safe base64-encoded bytes).",
                    hint="Replace that item; the first key encrypts and every key decrypts, "
                    "separated by commas. " + _GENERATE_HINT,
                    id="ai.E002",
                )
            )
    return errors


@register(Tags.security, deploy=True)
def check_static_serving(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """With DEBUG off, Django serving /static/ itself is fine locally but slow in production."""
    if getattr(settings, "SERVE_STATIC", False) and not settings.DEBUG:
        return [
            Warning(
                "SERVE_STATIC is on: Django serves /static/ itself, which is meant for the local run.",
                hint="In production run `python manage.py collectstatic`, serve STATIC_ROOT from "
                "the web server or a CDN, and set SERVE_STATIC=false.",
                id="ai.W001",
            )
        ]
    return []
