"""Writes to the registry's rows that are more than a form save: keys set, removed, rotated.

Admin and management commands call these; they never touch `api_key` themselves. Each function
takes keyword-only arguments and returns a value, so a test can call it without a request.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from .fields import UndecryptableSecret, encryption_keys
from .models import Provider


def provider_save(*, provider: Provider, new_api_key: str = "", remove_key: bool = False) -> Provider:
    """Save `provider`, replacing its stored key with `new_api_key` or removing it.

    A blank `new_api_key` with `remove_key` off keeps the stored key as it is (an undecryptable
    one included: its token is written back unchanged). Raises `EncryptionKeyError` when a new
    key is given but FIELD_ENCRYPTION_KEY cannot encrypt.
    """
    new_api_key = new_api_key.strip()
    if remove_key:
        provider.api_key = ""
    elif new_api_key:
        encryption_keys()
        provider.api_key = new_api_key
    provider.save()
    return provider


def provider_api_key_remove(*, provider: Provider) -> Provider:
    """Forget the stored key; the provider falls back to its `api_key_env` variable."""
    provider.api_key = ""
    provider.save(update_fields=["api_key", "updated_at"])
    return provider


@dataclass(frozen=True, slots=True, kw_only=True)
class RotationReport:
    """What `api_keys_rotate` did: keys re-encrypted, rows without a key, rows left untouched."""

    rotated: int
    without_key: int
    undecryptable: tuple[str, ...]


def api_keys_rotate() -> RotationReport:
    """Re-encrypt every stored key with the first key of FIELD_ENCRYPTION_KEY.

    Keys that no configured key decrypts are left exactly as they are and named in the report.
    Raises `EncryptionKeyError` when FIELD_ENCRYPTION_KEY is missing or malformed.
    """
    encryption_keys()
    with transaction.atomic():
        rows = list(Provider.objects.select_for_update().order_by("name"))
        readable = [row for row in rows if row.api_key and not isinstance(row.api_key, UndecryptableSecret)]
        undecryptable = tuple(row.name for row in rows if isinstance(row.api_key, UndecryptableSecret))
        if readable:
            # bulk_update encrypts each value afresh, i.e. with the first key.
            Provider.objects.bulk_update(readable, ["api_key"])
    return RotationReport(
        rotated=len(readable),
        without_key=len(rows) - len(readable) - len(undecryptable),
        undecryptable=undecryptable,
    )
