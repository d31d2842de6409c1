"""Placeholder: the encrypted key field (being written)."""

from django.db import models


class EncryptedTextField(models.TextField):
    """A text column that only ever holds Fernet tokens."""
