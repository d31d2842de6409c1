"""`manage.py ai_sync_models`: fetch OpenRouter's model catalog and prices into the catalog table."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import catalog, errors


class Command(BaseCommand):
    help = (
        "Fetch OpenRouter's /models into the model catalog (prices, context lengths); models no "
        "longer listed are marked retired. Uses the first enabled OpenRouter provider's base URL "
        "and key, else OPENROUTER_BASE_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url", default="", help="Fetch from this OpenRouter-style base URL instead."
        )
        parser.add_argument("--dry-run", action="store_true", help="Fetch and compare, but write nothing.")
        parser.add_argument(
            "--with-prices",
            action="store_true",
            help="Also load the direct OpenAI/Anthropic list prices of fixtures/model_prices.json.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = catalog.openrouter_source(options["base_url"] or None)
        self.stdout.write(f"Fetching OpenRouter's model list from {source.base_url} ({source.label})")
        try:
            result = catalog.sync_openrouter_models(
                base_url=source.base_url,
                api_key=source.api_key,
                progress=self.stdout.write,
                dry_run=options["dry_run"],
            )
        except errors.ProviderError as exc:
            raise CommandError(f"Model sync failed, nothing was changed: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"OpenRouter catalog: {result.summary()}"))
        if options["with_prices"]:
            for kind, fixed in catalog.load_price_fixture(dry_run=options["dry_run"]).items():
                self.stdout.write(self.style.SUCCESS(f"{kind} list prices: {fixed.summary()}"))
