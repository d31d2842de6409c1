"""`EncryptedTextField`: a text column that only ever holds Fernet tokens.

The key material lives in `settings.FIELD_ENCRYPTION_KEY`: one Fernet key, or a comma-separated
list where the first key encrypts and every key decrypts (rotation, see docs/operations.md).
Python code sees plain text; the database, `dumpdata` and any SQL only ever see tokens.

The rules, each one tested in tests/integrations/ai/test_fields.py:

- Every write path encrypts: `save()`, `update(api_key="...")`, `bulk_create()` and
  `bulk_update()` (which wraps values in `Case(When(..., then=Value(v, output_field=field)))`,
  so encryption sits in `get_prep_value`). A SQL expression (`F()`, `Concat()`, a bare `Value()`)
  would store the expression's own text, so it raises `FieldError` instead.
- A token that does not decrypt never crashes a page: it loads as an `UndecryptableSecret` marker
  that shows nothing in its `repr`, is written back byte for byte (never encrypted twice), and
  raises `KeyDecryptionError` naming FIELD_ENCRYPTION_KEY when code asks for the key.
- Lookups other than `isnull` raise `FieldError`: an `exact` match on ciphertext would silently
  match nothing.
- `dumpdata` writes tokens (`value_to_string`); `loaddata` hands those tokens to `to_python`,
  which recognises a string shaped like a Fernet token and decrypts it. A value shaped like a
  token that does not decrypt becomes the marker, so a dump loaded with the wrong key is kept as
  it was instead of being encrypted a second time. Real API keys never look like Fernet tokens
  (version byte 0x80, then a fixed layout of 16-byte blocks).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django import forms
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.expressions import Case, Value, When
from django.db.models.functions import Cast
from django.utils.functional import Promise

from .errors import EncryptionKeyError, KeyDecryptionError

__all__ = [
    "EncryptedTextField",
    "EncryptionKeyError",
    "KeyDecryptionError",
    "UndecryptableSecret",
    "decrypt",
    "encrypt",
    "encryption_keys",
    "fingerprint",
    "looks_like_token",
    "parse_key",
    "split_keys",
]

SETTING: Final = "FIELD_ENCRYPTION_KEY"

_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+={0,2}")
# version (1) + timestamp (8) + IV (16) + HMAC (32) around a ciphertext of 16-byte blocks.
_TOKEN_OVERHEAD: Final = 57


class UndecryptableSecret:
    """A stored token that the configured keys cannot decrypt.

    It stands in for the key so that pages keep working (the admin shows "cannot decrypt —
    re-enter the key"), and saving the row writes `token` back unchanged. It is truthy (a key *is*
    stored) but is not a string: code that needs the key calls `reveal()`, which raises.
    """

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "<UndecryptableSecret: does not decrypt with FIELD_ENCRYPTION_KEY>"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UndecryptableSecret) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)

    def reveal(self, *, owner: str = "") -> str:
        """Raise `KeyDecryptionError`: there is no key to give."""
        raise KeyDecryptionError(_decryption_message(owner))


def _decryption_message(owner: str = "") -> str:
    whose = f"The stored API key of provider '{owner}'" if owner else "A stored API key"
    try:
        encryption_keys()
    except EncryptionKeyError as exc:
        why = str(exc).split(":")[0]
    else:
        why = "it does not decrypt with any key in FIELD_ENCRYPTION_KEY"
    return (
        f"{whose} cannot be used: {why}. Put the key it was encrypted with back into "
        "FIELD_ENCRYPTION_KEY (a comma-separated list is fine: FIELD_ENCRYPTION_KEY=NEW,OLD), "
        "or re-enter the API key under Admin › AI › Providers."
    )


def _raw_setting() -> str:
    raw = getattr(settings, SETTING, "") or ""
    if isinstance(raw, list | tuple):
        return ",".join(str(item) for item in raw)
    return str(raw)


def split_keys(raw: str) -> list[str]:
    """The items of a FIELD_ENCRYPTION_KEY value, in order, blanks dropped."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_key(item: str) -> Fernet | None:
    """A Fernet for one key item, or None when it is not 32 url-safe base64-encoded bytes."""
    try:
        return Fernet(item)
    except (ValueError, TypeError, binascii.Error):
        return None


@functools.lru_cache(maxsize=8)
def _multifernet(raw: str) -> MultiFernet:
    items = split_keys(raw)
    if not items:
        raise EncryptionKeyError(
            "FIELD_ENCRYPTION_KEY is not set: generate one with `python manage.py ai_generate_key` "
            "and put it in .env (make run does this for you)."
        )
    fernets: list[Fernet] = []
    for position, item in enumerate(items, start=1):
        fernet = parse_key(item)
        if fernet is None:
            raise EncryptionKeyError(
                f"FIELD_ENCRYPTION_KEY item {position} of {len(items)} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes): replace it with one from "
                "`python manage.py ai_generate_key`."
            )
        fernets.append(fernet)
    return MultiFernet(fernets)


def encryption_keys() -> MultiFernet:
    """The configured keys (first encrypts, all decrypt); raises `EncryptionKeyError` if unusable."""
    return _multifernet(_raw_setting())


def encrypt(plaintext: str) -> str:
    """A Fernet token of `plaintext` under the first key of FIELD_ENCRYPTION_KEY."""
    return encryption_keys().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plain text of `token`; raises `KeyDecryptionError` when no configured key opens it."""
    try:
        return encryption_keys().decrypt(token.encode("ascii")).decode()
    except EncryptionKeyError as exc:
        raise KeyDecryptionError(_decryption_message()) from exc
    except (InvalidToken, UnicodeError) as exc:
        raise KeyDecryptionError(_decryption_message()) from exc


def looks_like_token(value: str) -> bool:
    """Whether `value` has the exact shape of a Fernet token (not whether it decrypts)."""
    if len(value) < 100 or not _TOKEN_CHARS.fullmatch(value):
        return False
    try:
        data = base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        return False
    size = len(data) - _TOKEN_OVERHEAD
    return data[0] == 0x80 and size >= 16 and size % 16 == 0


def _open(token: str) -> str | UndecryptableSecret:
    try:
        return decrypt(token)
    except KeyDecryptionError:
        return UndecryptableSecret(token)


def fingerprint(key: str | UndecryptableSecret | None) -> str:
    """A masked hint of a key: "…a1b2" (4 characters), fewer for short keys, "" for none.

    A key shorter than 12 characters shows only "…": four of eight characters would give too
    much of it away.
    """
    if not key or isinstance(key, UndecryptableSecret):
        return ""
    key = key.strip()
    if len(key) >= 20:
        shown = 4
    elif len(key) >= 12:
        shown = 2
    else:
        shown = 0
    return "…" + key[len(key) - shown :] if shown else "…"


def _is_safe_expression(expression: Any) -> bool:
    """Whether an UPDATE expression only carries values this field prepares (bulk_update's shape).

    `bulk_update()` sends `Case(When(pk=..., then=Value(v, output_field=field)), ...)`, wrapped
    in `Cast` on PostgreSQL; each `Value` goes through `get_prep_value` and is encrypted. Anything
    else (a column, a function, a `Value` typed as a plain string) would reach the column as is.
    """
    if isinstance(expression, Value):
        return expression.value is None or isinstance(expression.output_field, EncryptedTextField)
    if isinstance(expression, Cast):
        return all(_is_safe_expression(source) for source in expression.get_source_expressions())
    if isinstance(expression, Case):
        return all(_is_safe_expression(case) for case in expression.cases) and _is_safe_expression(
            expression.default
        )
    if isinstance(expression, When):
        return _is_safe_expression(expression.result)
    return False


def _expression_error(field: models.Field) -> FieldError:
    return FieldError(
        f"{field.model.__name__}.{field.name} is encrypted in Python, so it cannot be set from a "
        "SQL expression (F(), Value(), Concat()...): the column would hold the expression's text. "
        "Assign the plain string instead, e.g. update(api_key='...')."
    )


class EncryptedTextField(models.TextField):
    """A `TextField` whose column holds Fernet tokens and whose Python value is the plain text.

    Blank stays blank (`""` means "no key stored"). See the module docstring for every rule.
    """

    description = "Text encrypted at rest with FIELD_ENCRYPTION_KEY"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        return _open(value)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, UndecryptableSecret):
            return value
        value = super().to_python(value)
        if looks_like_token(value):
            return _open(value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Promise):
            value = value._proxy____cast()
        if hasattr(value, "resolve_expression"):
            raise _expression_error(self)
        value = self.to_python(value)
        if isinstance(value, UndecryptableSecret):
            return value.token
        if not value:
            return value
        return encrypt(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if hasattr(value, "resolve_expression"):
            raise _expression_error(self)
        return value

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        # Called by UPDATE for every value, expressions included: the one place that sees an
        # F()/Concat() before its SQL is written into the column.
        if hasattr(value, "as_sql") and not _is_safe_expression(value):
            raise _expression_error(self)
        return "%s"

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            raise FieldError(
                f"{self.model.__name__}.{self.name} is encrypted: the lookup '{lookup_name}' would "
                "compare ciphertext and silently match nothing. Only isnull is allowed; filter in "
                "Python on the decrypted values instead."
            )
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(
            f"{self.model.__name__}.{self.name} is encrypted: '{lookup_name}' cannot be applied to "
            "ciphertext."
        )

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        prepared = self.get_prep_value(value)
        return prepared or ""

    def formfield(self, **kwargs: Any) -> forms.Field:
        # Never render a stored key back into a page, whichever form uses this field.
        defaults: dict[str, Any] = {
            "form_class": forms.CharField,
            "widget": forms.PasswordInput(render_value=False),
        }
        defaults.update(kwargs)
        return super().formfield(**defaults)
