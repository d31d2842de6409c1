"""The registry's rows: providers, model aliases and their routes, routing settings, the call log.

Admins edit these in Django admin; `config.py` turns the enabled rows into an immutable
`RegistryConfig` snapshot, and no ORM row is read past that point. Every write to a config table,
including queryset `update()`, `delete()`, `bulk_create()` and `bulk_update()`, bumps the config
version so the very next call sees it (see `config.bump_version`).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Self

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from .fields import EncryptedTextField, UndecryptableSecret, fingerprint
from .validators import (
    validate_base_url,
    validate_env_var_name,
    validate_extra_headers,
    validate_key_header_name,
)


def _bump() -> None:
    from .config import bump_version

    bump_version()


class ConfigQuerySet(models.QuerySet):
    """A queryset whose bulk writes bump the config version, as single saves do through signals."""

    def update(self, **kwargs: Any) -> int:
        rows = super().update(**kwargs)
        _bump()
        return rows

    def delete(self) -> tuple[int, dict[str, int]]:
        result = super().delete()
        _bump()
        return result

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[Any]:
        created = super().bulk_create(objs, *args, **kwargs)
        _bump()
        return created

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        rows = super().bulk_update(objs, fields, *args, **kwargs)
        _bump()
        return rows


class NamedManager(models.Manager.from_queryset(ConfigQuerySet)):  # type: ignore[misc]
    """Looks rows up by their unique `name`, the natural key fixtures use."""

    def get_by_natural_key(self, name: str) -> Any:
        return self.get(name=name)


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENROUTER = "openrouter", "OpenRouter"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (Azure, Groq, Together, Ollama, vLLM…)"


class Provider(models.Model):
    """One provider account: where to send calls, with which key, in which order."""

    name = models.SlugField(max_length=64, unique=True, help_text="A unique slug, e.g. openrouter-main.")
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_base_url],
        help_text="Blank uses the kind's official URL. OpenAI-compatible servers are given like "
        "OpenAI's, ending in /v1 (http://localhost:11434/v1 for Ollama).",
    )
    api_key = EncryptedTextField(
        blank=True,
        default="",
        help_text="Stored encrypted; never shown again. Leave blank to use the environment variable.",
    )
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=128,
        blank=True,
        help_text="Used when no key is stored, e.g. OPENROUTER_API_KEY.",
    )
    enabled = models.BooleanField(default=True)
    priority = models.IntegerField(default=100, help_text="Lower is tried first.")
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Share of traffic among providers of the same priority.",
    )
    timeout_seconds = models.FloatField(default=30.0, validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(
        default=2, help_text="Retries on this provider before failing over."
    )
    max_connections = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1)],
        help_text="Size of this provider's HTTP connection pool: the most calls in flight at once "
        "per worker process.",
    )
    extra_headers = models.JSONField(
        default=dict,
        blank=True,
        help_text='Extra HTTP headers as a JSON object, e.g. {"HTTP-Referer": "https://example.com"}.',
    )
    api_version = models.CharField(
        max_length=32, blank=True, help_text="Azure OpenAI only: the api-version query parameter."
    )
    api_key_header = models.CharField(
        "API key header",
        max_length=64,
        blank=True,
        validators=[validate_key_header_name],
        help_text="OpenAI-compatible gateways only: send the key, as it is, in this header instead "
        "of Authorization: Bearer (e.g. Ocp-Apim-Subscription-Key for Azure API Management).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NamedManager()

    class Meta:
        ordering: ClassVar = ["priority", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def natural_key(self) -> tuple[str]:
        return (self.name,)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        self.base_url = (self.base_url or "").strip()
        self.api_key_env = (self.api_key_env or "").strip()
        if isinstance(self.api_key, str):
            self.api_key = self.api_key.strip()
        self.api_key_header = (self.api_key_header or "").strip()
        if self.api_key_header and self.kind != ProviderKind.OPENAI_COMPATIBLE:
            raise ValidationError(
                {
                    "api_key_header": "Only OpenAI-compatible providers take a custom key header: "
                    f"{self.get_kind_display()} has its own. Leave it blank."
                }
            )
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError(
                {
                    "base_url": "An OpenAI-compatible provider needs its base URL, ending in /v1 "
                    "(e.g. http://localhost:11434/v1 for Ollama, https://api.groq.com/openai/v1 for Groq)."
                }
            )
        checks = {"api_key_env": validate_env_var_name, "extra_headers": validate_extra_headers}
        for name, validate in checks.items():
            try:
                validate(getattr(self, name))
            except ValidationError as exc:
                raise ValidationError({name: exc.messages}) from exc

    def key_status(self, *, reveal_hint: bool = True) -> tuple[str, str]:
        """Where this provider's key comes from, as (code, label) for admin and diagnostics.

        Codes: "stored", "env", "missing", "undecryptable". The label shows at most the last four
        characters of a stored key ("set …a1b2"), none with `reveal_hint=False`.
        """
        if isinstance(self.api_key, UndecryptableSecret):
            return ("undecryptable", "cannot decrypt — re-enter the key")
        if self.api_key:
            hint = fingerprint(self.api_key) if reveal_hint else ""
            return ("stored", f"set {hint}" if hint else "set")
        if self.api_key_env and os.environ.get(self.api_key_env, "").strip():
            return ("env", f"from env {self.api_key_env}")
        if self.api_key_env:
            return ("missing", f"missing: env {self.api_key_env} is not set")
        return ("missing", "missing")

    def resolve_api_key(self) -> tuple[str, str]:
        """The key to send and where it came from: (key, "stored" | "env:NAME" | "").

        A stored key wins over the environment variable. Raises `KeyDecryptionError` (naming
        FIELD_ENCRYPTION_KEY) when the stored key cannot be decrypted.
        """
        if isinstance(self.api_key, UndecryptableSecret):
            self.api_key.reveal(owner=self.name)
        if self.api_key:
            return (self.api_key.strip(), "stored")
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            if value:
                return (value, f"env:{self.api_key_env}")
        return ("", "")


class Strategy(models.TextChoices):
    PRIORITY = "priority", "Priority (then weighted within a tie)"
    WEIGHTED = "weighted", "Weighted random across all routes"
    CHEAPEST = "cheapest", "Cheapest by catalog price"
    FASTEST = "fastest", "Fastest by observed latency"


class ModelAlias(models.Model):
    """A stable model name the CMS code asks for (`default`, `fast`, `smart`...)."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.PRIORITY)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NamedManager()

    class Meta:
        ordering: ClassVar = ["name"]
        verbose_name = "model alias"
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.name,)


class RouteManager(models.Manager.from_queryset(ConfigQuerySet)):  # type: ignore[misc]
    def get_by_natural_key(self, alias: str, provider: str, model: str) -> ModelRoute:
        return self.get(alias__name=alias, provider__name=provider, model=model)


class ModelRoute(models.Model):
    """One way to serve an alias: a provider and the model id to ask it for."""

    alias = models.ForeignKey(ModelAlias, on_delete=models.CASCADE, related_name="routes")
    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="routes")
    model = models.CharField(
        max_length=200, help_text="The model id as this provider names it, e.g. openai/gpt-4o-mini."
    )
    priority = models.IntegerField(default=100, help_text="Lower is tried first.")
    weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)

    objects = RouteManager()

    class Meta:
        ordering: ClassVar = ["priority", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["alias", "provider", "model"], name="ai_route_unique"),
            models.CheckConstraint(condition=~models.Q(model=""), name="ai_route_model_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.alias_id and self.alias.name} → {self.provider_id and self.provider.name}:{self.model}"

    def natural_key(self) -> tuple[str, str, str]:
        return (self.alias.name, self.provider.name, self.model)

    natural_key.dependencies = ("ai.modelalias", "ai.provider")  # type: ignore[attr-defined]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        self.model = (self.model or "").strip()
        if not self.model:
            raise ValidationError({"model": "Enter the model id this provider should be asked for."})


class RoutingMode(models.TextChoices):
    AUTO = "auto", "Auto: follow priorities across every provider"
    OPENROUTER = "openrouter", "OpenRouter only"
    OPENAI = "openai", "OpenAI only"
    ANTHROPIC = "anthropic", "Anthropic only"


class RoutingSettings(models.Model):
    """The single row of global routing settings (`RoutingSettings.load()`)."""

    mode = models.CharField(max_length=16, choices=RoutingMode.choices, default=RoutingMode.AUTO)
    default_alias = models.SlugField(
        max_length=64, default="default", help_text="The alias used when a call names no model."
    )
    failover_enabled = models.BooleanField(
        default=True, help_text="Try the next candidate when one fails. Off: one candidate only."
    )
    store_prompts = models.BooleanField(
        default=False, help_text="Keep prompt and reply text in the call log."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = models.Manager.from_queryset(ConfigQuerySet)()

    class Meta:
        verbose_name = "routing settings"
        verbose_name_plural = "routing settings"
        # Running prompts from the admin spends money: a permission of its own (admin playground).
        permissions: ClassVar = [("use_playground", "Can use the AI playground")]

    def __str__(self) -> str:
        return "Routing settings"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Self:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class ConfigStamp(models.Model):
    """One row whose `version` grows on every config write: what other processes poll."""

    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"config v{self.version}"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    INTERRUPTED = "interrupted", "Stream interrupted"


class CostSource(models.TextChoices):
    REPORTED = "reported", "Reported by the provider"
    ESTIMATED = "estimated", "Estimated from catalog prices"
    UNKNOWN = "unknown", "Unknown"


class CallLog(models.Model):
    """One row per logical call, successes and failures alike. Never holds a key."""

    created_at = models.DateTimeField(default=timezone.now)
    caller = models.CharField(max_length=100, blank=True)
    requested_model = models.CharField(max_length=200, blank=True)
    alias = models.CharField(max_length=64, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    error_class = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.JSONField(default=list, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    failed_over = models.BooleanField(default=False)
    latency_ms = models.FloatField(default=0)
    first_chunk_ms = models.FloatField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    cost_source = models.CharField(max_length=16, choices=CostSource.choices, default=CostSource.UNKNOWN)
    streamed = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=32, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    prompt_text = models.TextField(blank=True)
    response_text = models.TextField(blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        verbose_name = "call log entry"
        verbose_name_plural = "call log"
        indexes: ClassVar = [
            models.Index(fields=["created_at"], name="ai_calllog_created"),
            models.Index(fields=["provider", "created_at"], name="ai_calllog_provider"),
            models.Index(fields=["alias", "created_at"], name="ai_calllog_alias"),
            models.Index(fields=["outcome", "created_at"], name="ai_calllog_outcome"),
            models.Index(fields=["caller", "created_at"], name="ai_calllog_caller"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.caller or '-'} {self.outcome} {self.provider}"


class CatalogModel(models.Model):
    """A model's catalog entry and prices (USD per token), synced from OpenRouter or a fixture.

    `provider_kind` is the kind whose ids `model_id` uses: `openrouter` slugs from the synced
    catalog, `openai`/`anthropic` direct ids from `fixtures/model_prices.json`.
    """

    provider_kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    model_id = models.CharField(max_length=200)
    canonical_slug = models.CharField(max_length=200, blank=True)
    name = models.CharField(max_length=200, blank=True)
    context_length = models.PositiveIntegerField(null=True, blank=True)
    prompt_price = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    completion_price = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cache_read_price = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    cache_write_price = models.DecimalField(max_digits=20, decimal_places=12, null=True, blank=True)
    retired = models.BooleanField(default=False)
    synced_at = models.DateTimeField(default=timezone.now)

    objects = models.Manager.from_queryset(ConfigQuerySet)()

    class Meta:
        ordering: ClassVar = ["provider_kind", "model_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["provider_kind", "model_id"], name="ai_catalog_unique"),
        ]
        verbose_name = "catalog model"

    def __str__(self) -> str:
        return f"{self.provider_kind}:{self.model_id}"
