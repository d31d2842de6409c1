"""CMS pages: the content the AI features draft, summarize, describe and translate."""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    FRENCH = "fr", "French"
    GERMAN = "de", "German"
    SPANISH = "es", "Spanish"
    ITALIAN = "it", "Italian"
    PORTUGUESE = "pt", "Portuguese"
    DUTCH = "nl", "Dutch"
    POLISH = "pl", "Polish"
    SWEDISH = "sv", "Swedish"
    JAPANESE = "ja", "Japanese"
    CHINESE = "zh", "Chinese"


class Status(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


META_DESCRIPTION_MAX: int = 160


class PageManager(models.Manager["Page"]):
    def get_by_natural_key(self, slug: str) -> Page:
        return self.get(slug=slug)


class Page(models.Model):
    """One page of the site. `body` is HTML or Markdown; `notes` are the editor's brief for drafts."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    body = models.TextField(blank=True, help_text="HTML or Markdown.")
    notes = models.TextField(
        blank=True, help_text="Notes and key points the AI draft is written from. Never published."
    )
    summary = models.TextField(blank=True)
    meta_description = models.CharField(
        max_length=META_DESCRIPTION_MAX,
        blank=True,
        help_text=f"At most {META_DESCRIPTION_MAX} characters, shown by search engines.",
    )
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ENGLISH)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    translation_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="translations",
        help_text="The page this one was translated from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PageManager()

    class Meta:
        ordering: ClassVar = ["title"]

    def __str__(self) -> str:
        return self.title

    def natural_key(self) -> tuple[str]:
        return (self.slug,)
