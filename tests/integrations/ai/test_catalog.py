"""The model catalog: price parsing, cost estimates, idempotent OpenRouter sync, the price fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from backend.integrations.ai import catalog, errors
from backend.integrations.ai.catalog import parse_model, parse_price
from backend.integrations.ai.models import CatalogModel
from backend.integrations.ai.pricing import Price, estimate_cost
from backend.integrations.ai.types import Usage
from tests.integrations.ai.factories import ProviderRowFactory

BASE = "https://openrouter.ai/api/v1"
MODELS_URL = f"{BASE}/models"


def entry(model_id: str, prompt: str = "0.000001", completion: str = "0.000002", **extra: object) -> dict:
    data = {
        "id": model_id,
        "canonical_slug": model_id,
        "name": f"Name of {model_id}",
        "context_length": 8192,
        "pricing": {"prompt": prompt, "completion": completion},
    }
    data.update(extra)
    return data


CATALOG = [
    entry("openai/gpt-4o-mini", "0.00000015", "0.0000006"),
    entry(
        "anthropic/claude-3.5-sonnet",
        "0.000003",
        "0.000015",
        context_length=200000,
        pricing={
            "prompt": "0.000003",
            "completion": "0.000015",
            "input_cache_read": "0.0000003",
            "input_cache_write": "0.00000375",
        },
    ),
    entry("openrouter/auto", "-1", "-1"),
    entry("meta-llama/llama-3.3-70b-instruct:free", "0", "0"),
]


def models_body(data: list[dict], **extra: object) -> dict:
    return {"data": data, **extra}


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.000003", Decimal("0.000003")),
        ("0", Decimal(0)),
        ("0.0000000375", Decimal("0.0000000375")),
        ("-1", None),
        (None, None),
        ("", None),
        ("free", None),
        ("NaN", None),
        (True, None),
    ],
)
def test_parse_price(raw, expected):
    assert parse_price(raw) == expected


def test_parse_price_rounds_to_what_the_column_stores():
    assert parse_price("0.0000000000001234") == Decimal("0.000000000000")


def test_parse_model_reads_prices_and_leaves_missing_cache_prices_unknown():
    parsed = parse_model(CATALOG[0])
    assert parsed.model_id == "openai/gpt-4o-mini"
    assert parsed.prompt_price == Decimal("0.00000015")
    assert parsed.completion_price == Decimal("0.0000006")
    assert parsed.cache_read_price is None
    assert parsed.cache_write_price is None
    sonnet = parse_model(CATALOG[1])
    assert sonnet.cache_read_price == Decimal("0.0000003")
    assert sonnet.cache_write_price == Decimal("0.00000375")
    assert sonnet.context_length == 200000


def test_parse_model_marks_varying_prices_unknown():
    auto = parse_model(CATALOG[2])
    assert auto.prompt_price is None
    assert auto.completion_price is None


@pytest.mark.parametrize("bad", [{}, {"id": ""}, {"id": 42}, {"id": "x" * 201}])
def test_parse_model_skips_entries_without_a_usable_id(bad):
    assert parse_model(bad) is None


def test_parse_models_keeps_the_first_of_duplicate_ids_and_skips_junk():
    parsed = catalog.parse_models([entry("a/b", "1"), "junk", entry("a/b", "2"), {"pricing": {}}])
    assert [(p.model_id, p.prompt_price) for p in parsed] == [("a/b", Decimal(1))]


def test_parse_model_tolerates_missing_pricing_and_odd_context_length():
    parsed = parse_model({"id": "x/y", "context_length": "lots", "pricing": None})
    assert parsed.prompt_price is None
    assert parsed.context_length is None


# --- cost estimates --------------------------------------------------------------------------


def test_estimate_cost_bills_cached_tokens_at_the_cache_read_price():
    price = Price(prompt=Decimal("0.000003"), completion=Decimal("0.000015"), cache_read=Decimal("0.0000003"))
    usage = Usage(prompt_tokens=1000, cached_tokens=400, completion_tokens=100, total_tokens=1100)
    expected = 600 * Decimal("0.000003") + 400 * Decimal("0.0000003") + 100 * Decimal("0.000015")
    assert estimate_cost(price, usage) == expected


def test_estimate_cost_uses_the_prompt_price_when_there_is_no_cache_price():
    price = Price(prompt=Decimal("0.000001"), completion=Decimal("0.000002"))
    usage = Usage(prompt_tokens=10, cached_tokens=4, completion_tokens=5)
    assert estimate_cost(price, usage) == 10 * Decimal("0.000001") + 5 * Decimal("0.000002")


def test_estimate_cost_is_unknown_without_prompt_or_completion_price():
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    assert estimate_cost(Price(prompt=None, completion=Decimal(1)), usage) is None
    assert estimate_cost(Price(prompt=Decimal(1), completion=None), usage) is None


def test_estimate_cost_never_bills_more_cached_tokens_than_prompt_tokens():
    price = Price(prompt=Decimal(2), completion=Decimal(0), cache_read=Decimal(1))
    assert estimate_cost(price, Usage(prompt_tokens=3, cached_tokens=10)) == Decimal(3)


def test_price_from_row():
    row = CatalogModel(prompt_price=Decimal(1), completion_price=Decimal(2), cache_read_price=None)
    assert Price.from_row(row) == Price(prompt=Decimal(1), completion=Decimal(2))


# --- syncing (respx) -------------------------------------------------------------------------


def rows() -> dict[str, CatalogModel]:
    return {r.model_id: r for r in CatalogModel.objects.filter(provider_kind="openrouter")}


@pytest.mark.django_db
def test_sync_creates_rows_then_a_second_identical_sync_changes_nothing(respx_mock):
    respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body(CATALOG)))
    first = catalog.sync_openrouter_models(base_url=BASE)
    assert (first.created, first.updated, first.unchanged, first.retired) == (4, 0, 0, 0)
    before = {mid: (r.synced_at, r.prompt_price, r.cache_read_price) for mid, r in rows().items()}
    assert before["anthropic/claude-3.5-sonnet"][2] == Decimal("0.0000003")
    assert before["openrouter/auto"][1] is None

    second = catalog.sync_openrouter_models(base_url=BASE)
    assert (second.created, second.updated, second.unchanged, second.retired) == (0, 0, 4, 0)
    assert {mid: (r.synced_at, r.prompt_price, r.cache_read_price) for mid, r in rows().items()} == before


@pytest.mark.django_db
def test_sync_updates_only_changed_rows(respx_mock):
    respx_mock.get(MODELS_URL).mock(
        side_effect=[
            httpx.Response(200, json=models_body(CATALOG)),
            httpx.Response(
                200, json=models_body([entry("openai/gpt-4o-mini", "0.0000002", "0.0000006"), *CATALOG[1:]])
            ),
        ]
    )
    catalog.sync_openrouter_models(base_url=BASE)
    untouched = rows()["anthropic/claude-3.5-sonnet"].synced_at
    result = catalog.sync_openrouter_models(base_url=BASE)
    assert (result.updated, result.unchanged) == (1, 3)
    assert rows()["openai/gpt-4o-mini"].prompt_price == Decimal("0.0000002")
    assert rows()["anthropic/claude-3.5-sonnet"].synced_at == untouched


@pytest.mark.django_db
def test_models_no_longer_listed_are_retired_not_deleted_and_come_back(respx_mock):
    respx_mock.get(MODELS_URL).mock(
        side_effect=[
            httpx.Response(200, json=models_body(CATALOG)),
            httpx.Response(200, json=models_body(CATALOG[1:])),
            httpx.Response(200, json=models_body(CATALOG)),
        ]
    )
    catalog.sync_openrouter_models(base_url=BASE)
    gone = catalog.sync_openrouter_models(base_url=BASE)
    assert gone.retired == 1
    assert gone.retired_ids == ("openai/gpt-4o-mini",)
    assert rows()["openai/gpt-4o-mini"].retired is True
    back = catalog.sync_openrouter_models(base_url=BASE)
    assert (back.updated, back.retired) == (1, 0)
    assert rows()["openai/gpt-4o-mini"].retired is False


@pytest.mark.django_db
def test_an_empty_list_retires_nothing(respx_mock):
    respx_mock.get(MODELS_URL).mock(
        side_effect=[
            httpx.Response(200, json=models_body(CATALOG)),
            httpx.Response(200, json=models_body([])),
        ]
    )
    catalog.sync_openrouter_models(base_url=BASE)
    with pytest.raises(errors.InvalidResponse, match="empty"):
        catalog.sync_openrouter_models(base_url=BASE)
    assert not CatalogModel.objects.filter(retired=True).exists()


@pytest.mark.django_db
def test_sync_leaves_other_kinds_alone(respx_mock):
    CatalogModel.objects.create(provider_kind="openai", model_id="gpt-4o", prompt_price=Decimal(1))
    respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body(CATALOG)))
    catalog.sync_openrouter_models(base_url=BASE)
    assert CatalogModel.objects.get(provider_kind="openai", model_id="gpt-4o").retired is False


@pytest.mark.django_db
def test_dry_run_writes_nothing(respx_mock):
    respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body(CATALOG)))
    result = catalog.sync_openrouter_models(base_url=BASE, dry_run=True)
    assert result.created == 4
    assert result.dry_run
    assert not CatalogModel.objects.exists()


def paged_server(data: list[dict], *, with_total: bool):
    def answer(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        limit = int(request.url.params["limit"])
        extra = {"total_count": len(data)} if with_total else {}
        return httpx.Response(200, json=models_body(data[offset : offset + limit], **extra))

    return answer


@pytest.mark.django_db
@pytest.mark.parametrize("with_total", [True, False])
def test_sync_pages_with_offset_and_limit_and_reports_each_page(respx_mock, with_total):
    data = [entry(f"vendor/model-{n}") for n in range(5)]
    route = respx_mock.get(MODELS_URL).mock(side_effect=paged_server(data, with_total=with_total))
    lines: list[str] = []
    result = catalog.sync_openrouter_models(base_url=BASE, progress=lines.append, page_size=2)
    assert result.created == 5
    assert result.pages == 3
    assert len(lines) == 3
    assert lines[0].startswith("Fetched page 1: 2 models (2 so far)")
    assert lines[-1].startswith("Fetched page 3: 1 models (5 so far)")
    assert [r.request.url.params["offset"] for r in route.calls] == ["0", "2", "4"]


@pytest.mark.django_db
def test_sync_stops_at_the_exact_total_without_an_empty_extra_page(respx_mock):
    data = [entry(f"vendor/model-{n}") for n in range(4)]
    route = respx_mock.get(MODELS_URL).mock(side_effect=paged_server(data, with_total=True))
    result = catalog.sync_openrouter_models(base_url=BASE, page_size=2)
    assert (result.created, result.pages, route.call_count) == (4, 2, 2)


@pytest.mark.django_db
def test_a_server_ignoring_pagination_is_read_in_one_page(respx_mock):
    data = [entry(f"vendor/model-{n}") for n in range(5)]
    route = respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body(data)))
    lines: list[str] = []
    result = catalog.sync_openrouter_models(base_url=BASE, progress=lines.append, page_size=2)
    assert (result.created, result.pages, route.call_count, len(lines)) == (5, 1, 1, 1)


@pytest.mark.django_db
def test_a_server_repeating_the_same_page_stops_after_nothing_new(respx_mock):
    data = [entry(f"vendor/model-{n}") for n in range(2)]
    route = respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body(data)))
    result = catalog.sync_openrouter_models(base_url=BASE, page_size=2)
    assert (result.created, route.call_count) == (2, 2)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, json={"error": {"code": 500, "message": "boom"}}), errors.ProviderUnavailable),
        (httpx.Response(401, json={"error": {"code": 401, "message": "no"}}), errors.AuthenticationError),
        (httpx.Response(429, json={"error": {"code": 429, "message": "slow"}}), errors.RateLimited),
        (httpx.Response(404, text="not here"), errors.ProviderError),
        (httpx.Response(200, text="<html>a login page</html>"), errors.InvalidResponse),
        (httpx.Response(200, json={"models": []}), errors.InvalidResponse),
        (httpx.ConnectError("refused"), errors.ProviderUnavailable),
        (httpx.ReadTimeout("slow"), errors.ProviderTimeout),
    ],
)
def test_fetch_failures_raise_typed_errors_and_write_nothing(respx_mock, response, error):
    route = respx_mock.get(MODELS_URL)
    if isinstance(response, Exception):
        route.mock(side_effect=response)
    else:
        route.mock(return_value=response)
    with pytest.raises(error) as caught:
        catalog.sync_openrouter_models(base_url=BASE, api_key="sk-or-v1-test-secret-000")
    assert "sk-or-v1-test-secret-000" not in str(caught.value)
    assert not CatalogModel.objects.exists()


@pytest.mark.django_db
def test_a_failure_on_a_later_page_writes_nothing(respx_mock):
    data = [entry(f"vendor/model-{n}") for n in range(2)]
    respx_mock.get(MODELS_URL).mock(
        side_effect=[httpx.Response(200, json=models_body(data)), httpx.Response(503, json={})]
    )
    with pytest.raises(errors.ProviderUnavailable):
        catalog.sync_openrouter_models(base_url=BASE, page_size=2)
    assert not CatalogModel.objects.exists()


@pytest.mark.django_db
def test_the_key_is_sent_as_a_bearer_token_only_when_given(respx_mock):
    route = respx_mock.get(MODELS_URL).mock(return_value=httpx.Response(200, json=models_body([])))
    catalog.sync_openrouter_models(base_url=BASE, api_key="sk-or-v1-test-key")
    catalog.sync_openrouter_models(base_url=BASE)
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-or-v1-test-key"
    assert "authorization" not in route.calls[1].request.headers


@pytest.mark.django_db
def test_sync_feeds_the_model_mapper_the_current_slugs(respx_mock, monkeypatch):
    import backend.integrations.ai.providers as providers_package

    received: list[list[str]] = []
    try:
        from backend.integrations.ai.providers import model_mapper
    except ImportError:
        model_mapper = types.ModuleType("backend.integrations.ai.providers.model_mapper")
        monkeypatch.setitem(sys.modules, model_mapper.__name__, model_mapper)
        monkeypatch.setattr(providers_package, "model_mapper", model_mapper, raising=False)
    monkeypatch.setattr(
        model_mapper, "register_catalog_slugs", lambda s: received.append(sorted(s)), raising=False
    )
    respx_mock.get(MODELS_URL).mock(
        side_effect=[
            httpx.Response(200, json=models_body(CATALOG)),
            httpx.Response(200, json=models_body(CATALOG[:1])),
        ]
    )
    catalog.sync_openrouter_models(base_url=BASE)
    catalog.sync_openrouter_models(base_url=BASE)
    assert received[0] == sorted(e["id"] for e in CATALOG)
    assert received[1] == ["openai/gpt-4o-mini"]


# --- syncing against the loopback fake server ------------------------------------------------


@pytest.mark.django_db
def test_sync_against_the_fake_servers_catalog_is_idempotent(fake_server):
    base_url = fake_server.base_url("openrouter", tenant="catalog")
    lines: list[str] = []
    first = catalog.sync_openrouter_models(base_url=base_url, progress=lines.append)
    assert first.created == first.fetched > 0
    assert first.pages == 1
    assert len(lines) == 1
    assert "from " + base_url in lines[0]
    free = CatalogModel.objects.get(
        provider_kind="openrouter", model_id="meta-llama/llama-3.3-70b-instruct:free"
    )
    assert (free.prompt_price, free.completion_price) == (Decimal(0), Decimal(0))
    second = catalog.sync_openrouter_models(base_url=base_url)
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.fetched)
    assert fake_server.count("catalog") == 2


# --- the management command -------------------------------------------------------------------


@pytest.mark.django_db
def test_command_prints_progress_and_a_summary(fake_server, capsys):
    call_command("ai_sync_models", "--base-url", fake_server.base_url("openrouter", tenant="cmd"))
    out = capsys.readouterr().out
    assert "Fetched page 1:" in out
    assert "created" in out
    assert CatalogModel.objects.filter(provider_kind="openrouter").exists()


@pytest.mark.django_db
def test_command_dry_run_writes_nothing(fake_server, capsys):
    call_command(
        "ai_sync_models", "--base-url", fake_server.base_url("openrouter", tenant="dry"), "--dry-run"
    )
    assert "Dry run: nothing was saved." in capsys.readouterr().out
    assert not CatalogModel.objects.exists()


@pytest.mark.django_db
def test_command_uses_the_first_enabled_openrouter_provider_row(fake_server):
    ProviderRowFactory(
        openrouter=True, name="or-disabled", disabled=True, priority=1, base_url="http://127.0.0.1:9/api/v1"
    )
    ProviderRowFactory(
        openrouter=True,
        name="or-main",
        priority=5,
        base_url=fake_server.base_url("openrouter", tenant="row"),
        api_key="sk-or-v1-test-row-key",
    )
    call_command("ai_sync_models")
    (request,) = fake_server.requests("row")
    assert request.headers["authorization"] == "Bearer sk-or-v1-test-row-key"


@pytest.mark.django_db
def test_command_with_an_explicit_base_url_sends_no_stored_key(fake_server):
    ProviderRowFactory(openrouter=True, name="or-main", api_key="sk-or-v1-test-row-key")
    call_command("ai_sync_models", "--base-url", fake_server.base_url("openrouter", tenant="explicit"))
    (request,) = fake_server.requests("explicit")
    assert "authorization" not in request.headers


@pytest.mark.django_db
def test_command_raises_a_command_error_on_an_http_error(fake_server):
    from tests.fakes.server import Fault

    fake_server.script("broken", Fault(status=503))
    with pytest.raises(CommandError, match=r"nothing was changed.*HTTP 503"):
        call_command("ai_sync_models", "--base-url", fake_server.base_url("openrouter", tenant="broken"))


@pytest.mark.django_db
def test_command_with_prices_loads_the_fixture(fake_server):
    call_command(
        "ai_sync_models", "--base-url", fake_server.base_url("openrouter", tenant="p"), "--with-prices"
    )
    assert CatalogModel.objects.filter(
        provider_kind="anthropic", model_id="claude-sonnet-4-5-20250929"
    ).exists()


def test_command_exits_non_zero_with_a_message_and_no_traceback(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "FIELD_ENCRYPTION_KEY": "dGVzdC1rZXktZm9yLXBhbmVsLW9ubHktMDAwMDAwMDA=",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "ai_sync_models", "--base-url", "http://127.0.0.1:9/api/v1"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Model sync failed, nothing was changed" in done.stderr
    assert "Traceback" not in done.stderr


# --- the price fixture ------------------------------------------------------------------------

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "model_prices.json"


def test_fixture_prices_are_per_token_and_complete():
    rows_ = json.loads(FIXTURE.read_text())
    by_kind = {}
    for row in rows_:
        fields = row["fields"]
        by_kind.setdefault(fields["provider_kind"], set()).add(fields["model_id"])
        prompt, completion = Decimal(fields["prompt_price"]), Decimal(fields["completion_price"])
        assert 0 < prompt < completion < Decimal("0.001"), fields["model_id"]
        if fields["cache_read_price"] is not None:
            assert Decimal(fields["cache_read_price"]) < prompt
    assert {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-3.5-turbo",
        "gpt-4",
        "o3-mini",
        "o4-mini",
    } <= by_kind["openai"]
    assert {
        "claude-3-5-sonnet-20241022",
        "claude-3-5-haiku-20241022",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-opus-4-1-20250805",
        "claude-3-haiku-20240307",
    } <= by_kind["anthropic"]
    assert len({row["pk"] for row in rows_}) == len(rows_)


@pytest.mark.django_db
def test_loaddata_twice_changes_nothing():
    call_command("loaddata", str(FIXTURE), verbosity=0)
    first = list(CatalogModel.objects.order_by("pk").values())
    call_command("loaddata", str(FIXTURE), verbosity=0)
    assert list(CatalogModel.objects.order_by("pk").values()) == first
    assert CatalogModel.objects.get(provider_kind="openai", model_id="gpt-4o").prompt_price == Decimal(
        "0.0000025"
    )


@pytest.mark.django_db
def test_load_price_fixture_is_idempotent_and_matches_rows_by_model_id():
    CatalogModel.objects.create(provider_kind="openai", model_id="gpt-4o", prompt_price=Decimal(9))
    first = catalog.load_price_fixture()
    assert first["openai"].updated == 1
    second = catalog.load_price_fixture()
    assert all(r.created == r.updated == 0 for r in second.values())
    assert CatalogModel.objects.filter(provider_kind="openai", model_id="gpt-4o").count() == 1
    assert CatalogModel.objects.get(provider_kind="openai", model_id="gpt-4o").prompt_price == Decimal(
        "0.0000025"
    )
