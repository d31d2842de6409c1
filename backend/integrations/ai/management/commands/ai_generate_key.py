"""`manage.py ai_generate_key`: print a new Fernet key for FIELD_ENCRYPTION_KEY.

It runs no system checks, so it works while FIELD_ENCRYPTION_KEY is still missing or malformed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Print a new Fernet key for FIELD_ENCRYPTION_KEY. To rotate, put it first: "
        "FIELD_ENCRYPTION_KEY=NEW,OLD, run ai_rotate_keys, then drop OLD."
    )
    requires_system_checks: ClassVar[list[str]] = []
    requires_migrations_checks = False

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(Fernet.generate_key().decode("ascii"))
