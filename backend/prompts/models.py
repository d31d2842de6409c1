"""Prompt templates: reusable instructions with `{placeholders}`, run from the admin or code."""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from backend.prompts.rendering import PromptSyntaxError, placeholders


class ResponseFormat(models.TextChoices):
    TEXT = "text", "Text"
    JSON_OBJECT = "json_object", "JSON object"


class PromptTemplateManager(models.Manager["PromptTemplate"]):
    def get_by_natural_key(self, name: str) -> PromptTemplate:
        return self.get(name=name)


class PromptTemplate(models.Model):
    """A prompt: a system instruction and a user template whose `{placeholders}` are filled per run."""

    name = models.SlugField(
        max_length=80, unique=True, help_text="A unique slug; calls are logged as prompts.<name>."
    )
    description = models.CharField(max_length=255, blank=True)
    system_prompt = models.TextField(blank=True, help_text="May use {placeholders} too.")
    template = models.TextField(
        help_text="The user message, with {placeholders}; write literal braces as {{ }}."
    )
    alias = models.SlugField(
        max_length=64,
        blank=True,
        help_text="The model alias to run with; blank uses the 'prompt' feature's alias from settings.",
    )
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    response_format = models.CharField(
        max_length=16, choices=ResponseFormat.choices, default=ResponseFormat.TEXT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PromptTemplateManager()

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name

    def natural_key(self) -> tuple[str]:
        return (self.name,)

    def clean(self) -> None:
        errors = {}
        for field in ("system_prompt", "template"):
            try:
                placeholders(getattr(self, field) or "")
            except PromptSyntaxError as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every placeholder of the system prompt and the template, in order of first appearance."""
        return tuple(dict.fromkeys((*placeholders(self.system_prompt or ""), *placeholders(self.template))))
