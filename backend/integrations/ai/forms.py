"""Admin forms for the registry's rows.

`ProviderForm` never carries the stored key: the model's `api_key` is excluded, a write-only
`new_api_key` (a password input that never renders a value) replaces it, and `remove_key` clears
it. What to do with those two is the service's job (`services.provider_save`). A form that fails
validation is shown again without anything that may be a secret: the key input is always empty,
and a refused `api_key_env` or `extra_headers` value that may hold a key is blanked.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError

from .errors import EncryptionKeyError
from .fields import encryption_keys
from .models import ModelAlias, Provider, RoutingSettings
from .validators import (
    AUTH_HEADER_NAMES,
    SECRET_HEADER_WORDS,
    is_secret_header,
    validate_base_url,
    validate_env_var_name,
    validate_extra_headers,
)

MAX_KEY_LENGTH = 1024


class ProviderForm(forms.ModelForm):
    """A provider's settings with a write-only key."""

    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        max_length=MAX_KEY_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Paste a key to store it (encrypted; it is never shown again). Leave blank to keep "
        "the stored key. Re-enter it if the form comes back with errors.",
    )
    remove_key = forms.BooleanField(
        label="Remove the stored key",
        required=False,
        help_text="The provider then uses the environment variable below, if any.",
    )

    class Meta:
        model = Provider
        exclude: ClassVar = ["api_key"]
        widgets: ClassVar = {"extra_headers": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def _blank(self, name: str, value: str = "") -> None:
        """Show `value` instead of what was submitted for `name` when the form comes back."""
        if name in self.data:
            self.data = self.data.copy()
            self.data[name] = value

    def clean_base_url(self) -> str:
        value = (self.cleaned_data.get("base_url") or "").strip()
        try:
            validate_base_url(value)
        except ValidationError as exc:
            if exc.code in ("credentials_in_url", "query_in_url"):
                self._blank("base_url")  # it may carry a key: never render it back
            raise
        return value

    def clean_api_key_env(self) -> str:
        value = (self.cleaned_data.get("api_key_env") or "").strip()
        try:
            validate_env_var_name(value)
        except ValidationError:
            self._blank("api_key_env")  # it may be the key itself, pasted in the wrong box
            raise
        return value

    def clean_extra_headers(self) -> Any:
        value = self.cleaned_data.get("extra_headers")
        if value is None:
            return {}  # an emptied box means no extra headers; the column is NOT NULL
        try:
            validate_extra_headers(value)
        except ValidationError as exc:
            if exc.code == "auth_header" and isinstance(value, dict):
                scrubbed = {k: ("" if is_secret_header(k, v) else v) for k, v in value.items()}
                self._blank("extra_headers", json.dumps(scrubbed))
            raise
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        raw_headers = str(self.data.get("extra_headers", "")).lower()
        secret_words = (*AUTH_HEADER_NAMES, *SECRET_HEADER_WORDS, "bearer", "sk-")
        if "extra_headers" in self.errors and any(word in raw_headers for word in secret_words):
            self._blank("extra_headers")  # unparsable JSON that names a credential header
        new_key = cleaned.get("new_api_key", "")
        if new_key and cleaned.get("remove_key"):
            raise ValidationError("Either paste a new key or tick “Remove the stored key”, not both.")
        if new_key:
            try:
                encryption_keys()
            except EncryptionKeyError as exc:
                self.add_error("new_api_key", f"The key cannot be stored: {exc}")
        return cleaned


class RoutingSettingsForm(forms.ModelForm):
    """The single routing-settings row; the default alias must name an existing alias."""

    class Meta:
        model = RoutingSettings
        fields: ClassVar = ["mode", "default_alias", "failover_enabled", "store_prompts"]

    def clean_default_alias(self) -> str:
        name = (self.cleaned_data.get("default_alias") or "").strip()
        names = sorted(ModelAlias.objects.values_list("name", flat=True))
        if names and name not in names:
            raise ValidationError(
                f"There is no model alias named '{name}': pick one of {', '.join(names)}, or add it "
                "under Admin › AI › Model aliases first."
            )
        return name
