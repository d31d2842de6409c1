"""fixtures/demo_pages.json loads, and loads again without change."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command

from backend.pages.models import Page


@pytest.mark.django_db
def test_demo_pages_load_twice_without_change() -> None:
    call_command("loaddata", settings.BASE_DIR / "fixtures" / "demo_pages.json", verbosity=0)
    first = list(Page.objects.order_by("pk").values())
    call_command("loaddata", settings.BASE_DIR / "fixtures" / "demo_pages.json", verbosity=0)

    assert list(Page.objects.order_by("pk").values()) == first
    assert len(first) >= 3
    for page in Page.objects.all():
        page.full_clean()
    assert Page.objects.filter(body="").exclude(notes="").exists()  # one page to draft from notes
