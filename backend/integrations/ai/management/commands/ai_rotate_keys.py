"""`manage.py ai_rotate_keys`: re-encrypt every stored API key with the first FIELD_ENCRYPTION_KEY.

Rotation: set FIELD_ENCRYPTION_KEY=NEW,OLD, run this, then drop OLD (docs/operations.md). Keys no
configured key can decrypt are left untouched and named; the command then exits with status 1.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ...errors import EncryptionKeyError
from ...services import api_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored provider API key with the first key of FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = api_keys_rotate()
        except EncryptionKeyError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Re-encrypted {report.rotated} stored key(s) with the first FIELD_ENCRYPTION_KEY; "
            f"{report.without_key} provider(s) have no stored key."
        )
        if report.undecryptable:
            names = ", ".join(report.undecryptable)
            raise CommandError(
                f"{len(report.undecryptable)} stored key(s) could not be decrypted and were left "
                f"untouched: {names}. Add the key they were encrypted with to FIELD_ENCRYPTION_KEY "
                "and run this again, or re-enter those keys under Admin › AI › Providers."
            )
        self.stdout.write(self.style.SUCCESS("Done: every stored key now uses the first key."))
