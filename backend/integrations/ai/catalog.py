"""The model catalog and its prices: synced from OpenRouter's `/models`, plus a fixture for direct ids.

`sync_openrouter_models()` fetches OpenRouter's public model list (page by page when the server
honours `offset`/`limit`, in one page otherwise), parses each entry into a `CatalogEntry` with
`Decimal` prices in USD per token, and upserts the rows of kind `openrouter` in one transaction:
a row is written only when a field changed, and a model that left the list is marked `retired`,
never deleted, so old call-log rows and routes still name something. `load_price_fixture()` does
the same for `fixtures/model_prices.json` (direct OpenAI and Anthropic list prices).

`Price` and `estimate_cost()` live in `pricing.py`: the config snapshot carries
`Price` values so the hot path never queries this table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import errors
from .models import CatalogModel

DEFAULT_OPENROUTER_BASE_URL: Final = "https://openrouter.ai/api/v1"
PAGE_SIZE: Final = 200
MAX_PAGES: Final = 500
PRICE_FIXTURE: Final = Path(settings.BASE_DIR) / "fixtures" / "model_prices.json"

# The columns hold 12 decimal places and 20 digits; parse to exactly what the column stores so a
# re-sync compares equal to what was written.
_PLACES: Final = Decimal("1e-12")
_MAX_PRICE: Final = Decimal("1e8")
_FIELD_MAX: Final = 200
_COMPARED_FIELDS: Final = (
    "canonical_slug",
    "name",
    "context_length",
    "prompt_price",
    "completion_price",
    "cache_read_price",
    "cache_write_price",
    "retired",
)

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    """One parsed catalog entry, field for field what a `CatalogModel` row stores."""

    model_id: str
    canonical_slug: str = ""
    name: str = ""
    context_length: int | None = None
    prompt_price: Decimal | None = None
    completion_price: Decimal | None = None
    cache_read_price: Decimal | None = None
    cache_write_price: Decimal | None = None

    def values(self) -> dict[str, Any]:
        return {
            "canonical_slug": self.canonical_slug,
            "name": self.name,
            "context_length": self.context_length,
            "prompt_price": self.prompt_price,
            "completion_price": self.completion_price,
            "cache_read_price": self.cache_read_price,
            "cache_write_price": self.cache_write_price,
            "retired": False,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncResult:
    """What a sync did (or, with `dry_run`, would do)."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    pages: int = 0
    dry_run: bool = False
    created_ids: tuple[str, ...] = field(default=(), repr=False)
    retired_ids: tuple[str, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        pages = f" in {self.pages} page(s)" if self.pages else ""
        note = " Dry run: nothing was saved." if self.dry_run else ""
        return (
            f"{self.fetched} models{pages}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.retired} retired.{note}"
        )


# --- parsing (pure) ------------------------------------------------------------------------------


def parse_price(value: Any) -> Decimal | None:
    """A per-token USD price from OpenRouter's string form; "-1" ("varies"), junk or absent -> None."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not price.is_finite() or price < 0 or price >= _MAX_PRICE:
        return None
    return price.quantize(_PLACES)


def _context_length(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        length = int(value)
    except (TypeError, ValueError):
        return None
    return length if 0 < length < 2**31 else None


def parse_model(data: Mapping[str, Any]) -> CatalogEntry | None:
    """One `/models` entry -> a `CatalogEntry`, or None when it has no usable id."""
    model_id = data.get("id")
    if not isinstance(model_id, str) or not model_id.strip() or len(model_id.strip()) > _FIELD_MAX:
        return None
    pricing = data.get("pricing") if isinstance(data.get("pricing"), Mapping) else {}
    return CatalogEntry(
        model_id=model_id.strip(),
        canonical_slug=str(data.get("canonical_slug") or "")[:_FIELD_MAX],
        name=str(data.get("name") or "")[:_FIELD_MAX],
        context_length=_context_length(data.get("context_length")),
        prompt_price=parse_price(pricing.get("prompt")),
        completion_price=parse_price(pricing.get("completion")),
        cache_read_price=parse_price(pricing.get("input_cache_read")),
        cache_write_price=parse_price(pricing.get("input_cache_write")),
    )


def parse_models(entries: Iterable[Any]) -> list[CatalogEntry]:
    """Parse a list of `/models` entries, skipping the unusable ones and later duplicates of an id."""
    parsed: dict[str, CatalogEntry] = {}
    for data in entries:
        entry = parse_model(data) if isinstance(data, Mapping) else None
        if entry is not None and entry.model_id not in parsed:
            parsed[entry.model_id] = entry
    return list(parsed.values())


# --- fetching ------------------------------------------------------------------------------------


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    where = f"OpenRouter's model list ({url}) answered HTTP {status}"
    if status == 401:
        raise errors.AuthenticationError(
            f"{where}: the key was refused. Fix the OpenRouter provider's key.", provider="openrouter"
        )
    if status == 403:
        raise errors.PermissionDenied(f"{where}: access denied.", provider="openrouter", status=status)
    if status == 429:
        raise errors.RateLimited(f"{where}: rate limited; try again shortly.", provider="openrouter")
    if status >= 500:
        raise errors.ProviderUnavailable(
            f"{where}: the service is failing; try again later.", provider="openrouter", status=status
        )
    raise errors.ProviderError(f"{where}: check the base URL.", provider="openrouter", status=status)


def _get_page(client: httpx.Client, url: str, params: dict[str, int]) -> dict[str, Any]:
    try:
        response = client.get(url, params=params)
    except httpx.TimeoutException as exc:
        raise errors.ProviderTimeout(
            f"OpenRouter's model list ({url}) did not answer in time.", provider="openrouter"
        ) from exc
    except httpx.HTTPError as exc:
        raise errors.ProviderUnavailable(
            f"Could not reach OpenRouter's model list at {url} ({type(exc).__name__}): check the base "
            "URL and the network.",
            provider="openrouter",
        ) from exc
    _raise_for_status(response, url)
    try:
        body = response.json()
    except ValueError as exc:
        raise errors.InvalidResponse(
            f"OpenRouter's model list ({url}) is not JSON: check the base URL.", provider="openrouter"
        ) from exc
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise errors.InvalidResponse(
            f"OpenRouter's model list ({url}) has no `data` list: check the base URL.", provider="openrouter"
        )
    return body


def _is_last_page(body: Mapping[str, Any], received: int, new: int, limit: int, seen: int) -> bool:
    """Whether to stop paging: a short or ignored page, nothing new, or the server says so."""
    if new == 0 or received != limit:
        return True
    total = body.get("total_count")
    if isinstance(total, int) and not isinstance(total, bool):
        return seen >= total
    links = body.get("links")
    return isinstance(links, Mapping) and "next" in links and not links["next"]


def fetch_openrouter_models(
    *,
    base_url: str | None = None,
    api_key: str = "",
    progress: Progress | None = None,
    page_size: int = PAGE_SIZE,
    timeout_s: float = 30.0,
) -> tuple[list[dict[str, Any]], int]:
    """Every entry of OpenRouter's `/models`, and the number of pages fetched.

    Asks for `offset`/`limit` pages; a server that ignores them answers with the whole list (more
    than `limit` entries, or the same entries again), which ends the paging after one page.
    Raises `errors.ProviderError` subclasses; messages never contain the key.
    """
    root = (base_url or getattr(settings, "OPENROUTER_BASE_URL", "") or DEFAULT_OPENROUTER_BASE_URL).rstrip(
        "/"
    )
    url = f"{root}/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    seen: dict[str, dict[str, Any]] = {}
    pages = 0
    with httpx.Client(timeout=timeout_s, headers=headers, follow_redirects=True) as client:
        for offset in range(0, page_size * MAX_PAGES, page_size):
            body = _get_page(client, url, {"offset": offset, "limit": page_size})
            received = body["data"]
            new = [d for d in received if isinstance(d, Mapping) and d.get("id") not in seen]
            seen.update((d.get("id"), d) for d in new)
            pages += 1
            if progress is not None:
                progress(f"Fetched page {pages}: {len(received)} models ({len(seen)} so far) from {url}")
            if _is_last_page(body, len(received), len(new), page_size, len(seen)):
                break
    return list(seen.values()), pages


# --- writing -------------------------------------------------------------------------------------


def _diff(row: CatalogModel, values: Mapping[str, Any]) -> bool:
    return any(getattr(row, name) != values[name] for name in _COMPARED_FIELDS)


def upsert_catalog(
    kind: str, entries: Iterable[CatalogEntry], *, retire_missing: bool, dry_run: bool
) -> SyncResult:
    """Create, update or (with `retire_missing`) retire the `kind` rows to match `entries`.

    Compares before writing, so an identical second run writes nothing. One transaction.
    """
    entries = list(entries)
    now = timezone.now()
    with transaction.atomic():
        existing = {
            row.model_id: row for row in CatalogModel.objects.select_for_update().filter(provider_kind=kind)
        }
        to_create: list[CatalogModel] = []
        to_update: list[CatalogModel] = []
        for entry in entries:
            values = entry.values()
            row = existing.get(entry.model_id)
            if row is None:
                to_create.append(
                    CatalogModel(provider_kind=kind, model_id=entry.model_id, synced_at=now, **values)
                )
            elif _diff(row, values):
                for name, value in values.items():
                    setattr(row, name, value)
                row.synced_at = now
                to_update.append(row)
        listed = {e.model_id for e in entries}
        to_retire = [
            row for mid, row in existing.items() if retire_missing and mid not in listed and not row.retired
        ]
        for row in to_retire:
            row.retired = True
            row.synced_at = now
        if not dry_run:
            _write(to_create, to_update + to_retire)
    return SyncResult(
        fetched=len(entries),
        created=len(to_create),
        updated=len(to_update),
        unchanged=len(entries) - len(to_create) - len(to_update),
        retired=len(to_retire),
        dry_run=dry_run,
        created_ids=tuple(r.model_id for r in to_create),
        retired_ids=tuple(r.model_id for r in to_retire),
    )


def _write(to_create: list[CatalogModel], to_update: list[CatalogModel]) -> None:
    if to_create:
        CatalogModel.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        CatalogModel.objects.bulk_update(to_update, [*_COMPARED_FIELDS, "synced_at"], batch_size=500)


def _feed_model_mapper(kind: str) -> None:
    """Tell the model mapper which slugs the catalog knows, when the mapper takes them."""
    try:
        from .providers import model_mapper
    except ImportError:
        return
    register = getattr(model_mapper, "register_catalog_slugs", None)
    if callable(register):
        register(
            CatalogModel.objects.filter(provider_kind=kind, retired=False).values_list("model_id", flat=True)
        )


def sync_openrouter_models(
    *,
    base_url: str | None = None,
    api_key: str = "",
    progress: Progress | None = None,
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
) -> SyncResult:
    """Fetch OpenRouter's catalog and upsert it into `CatalogModel(provider_kind="openrouter")`.

    Raises `errors.ProviderError` subclasses when the list cannot be fetched (nothing is written
    then). The returned `SyncResult` counts created, updated, unchanged and retired rows.
    """
    raw, pages = fetch_openrouter_models(
        base_url=base_url, api_key=api_key, progress=progress, page_size=page_size
    )
    entries = parse_models(raw)
    if not entries and CatalogModel.objects.filter(provider_kind="openrouter", retired=False).exists():
        # An empty list is a broken answer (a proxy, a filter), not every model retired at once.
        raise errors.InvalidResponse(
            "OpenRouter's model list came back empty; nothing was retired. Check the base URL.",
            provider="openrouter",
        )
    result = upsert_catalog("openrouter", entries, retire_missing=True, dry_run=dry_run)
    if not dry_run:
        _feed_model_mapper("openrouter")
    return replace(result, pages=pages)


def _fixture_entries(path: Path) -> Iterator[tuple[str, CatalogEntry]]:
    for item in json.loads(path.read_text(encoding="utf-8")):
        fields = item["fields"]
        yield (
            fields["provider_kind"],
            CatalogEntry(
                model_id=fields["model_id"],
                canonical_slug=fields.get("canonical_slug", ""),
                name=fields.get("name", ""),
                context_length=fields.get("context_length"),
                prompt_price=parse_price(fields.get("prompt_price")),
                completion_price=parse_price(fields.get("completion_price")),
                cache_read_price=parse_price(fields.get("cache_read_price")),
                cache_write_price=parse_price(fields.get("cache_write_price")),
            ),
        )


def load_price_fixture(path: Path | None = None, *, dry_run: bool = False) -> dict[str, SyncResult]:
    """Upsert the direct-provider list prices of `fixtures/model_prices.json`, per provider kind.

    Matches rows by (kind, model id), so it works whatever pks existing rows have; never retires.
    (`manage.py loaddata fixtures/model_prices.json` loads the same rows by their fixed pks.)
    """
    by_kind: dict[str, list[CatalogEntry]] = {}
    for kind, entry in _fixture_entries(path or PRICE_FIXTURE):
        by_kind.setdefault(kind, []).append(entry)
    return {
        kind: upsert_catalog(kind, entries, retire_missing=False, dry_run=dry_run)
        for kind, entries in by_kind.items()
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogSource:
    """Where to fetch OpenRouter's catalog from: a base URL, a key (maybe blank) and a label for messages."""

    base_url: str
    api_key: str = field(default="", repr=False)
    label: str = ""


def openrouter_source(base_url: str | None = None) -> CatalogSource:
    """The first enabled OpenRouter Provider row's base URL and key, else the environment's.

    An explicit `base_url` wins and is sent no key: the list is public, and a key belongs only to
    the host its row names.
    """
    if base_url:
        return CatalogSource(base_url=base_url, label=base_url)
    from .models import Provider

    row = Provider.objects.filter(kind="openrouter", enabled=True).order_by("priority", "name").first()
    if row is None:
        env_url = getattr(settings, "OPENROUTER_BASE_URL", "") or DEFAULT_OPENROUTER_BASE_URL
        return CatalogSource(
            base_url=env_url, api_key=getattr(settings, "OPENROUTER_API_KEY", ""), label="the environment"
        )
    return CatalogSource(
        base_url=row.base_url or DEFAULT_OPENROUTER_BASE_URL,
        api_key=_row_key(row),
        label=f"provider {row.name!r}",
    )


def _row_key(row: Any) -> str:
    """The row's key through its own resolution (stored, else its env var); blank when unusable."""
    resolve = getattr(row, "resolve_api_key", None)
    try:
        if callable(resolve):
            key = resolve()
            return str((key[0] if isinstance(key, tuple) else key) or "")
        stored = row.api_key
        return "" if is_undecryptable(stored) or not isinstance(stored, str) else stored
    except errors.AIError:
        return ""  # an undecryptable key: the catalog is public, fetch without it (ai.E104 says why)


def is_undecryptable(value: Any) -> bool:
    """Whether a Provider row's `api_key` is the marker of a stored key that did not decrypt."""
    from . import fields

    marker = getattr(fields, "UndecryptableSecret", None)
    return isinstance(marker, type) and isinstance(value, marker)
