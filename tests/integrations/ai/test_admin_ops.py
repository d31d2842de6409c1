"""Operator admin pages: the read-only call log, the catalog with its sync button and autocomplete."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import httpx
import pytest
from django.contrib.auth.models import Permission, User

from backend.integrations.ai import charts
from backend.integrations.ai.admin_ops import per_million
from backend.integrations.ai.dashboard import DayStats, GroupStats
from backend.integrations.ai.models import CallLog, CatalogModel
from tests.fakes.server import Fault
from tests.integrations.ai.factories import ProviderRowFactory

CALLS = "/admin/ai/calllog/"
CATALOG = "/admin/ai/catalogmodel/"
SYNC = "/admin/ai/catalogmodel/sync/"
MODEL_IDS = "/admin/ai/catalogmodel/model-ids/"


def staff(client, *codenames: str, superuser: bool = False):
    user = User.objects.create_user("ops", password="x", is_staff=True, is_superuser=superuser)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def a_call(**fields) -> CallLog:
    values = {
        "created_at": dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC),
        "caller": "pages.seo",
        "alias": "default",
        "provider": "openrouter-main",
        "model": "openai/gpt-4o-mini",
        "outcome": "success",
        "latency_ms": 123.0,
        "total_tokens": 42,
        "cost": Decimal("0.00123"),
        "attempts": [{"provider": "openrouter-main", "status": 200}],
    }
    values.update(fields)
    return CallLog.objects.create(**values)


# --- the call log ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_call_log_list_shows_the_columns_and_links_the_dashboard(client):
    staff(client, "view_calllog")
    a_call()
    response = client.get(CALLS)
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("pages.seo", "openrouter-main", "openai/gpt-4o-mini", "123 ms", "$0.00123"):
        assert text in html
    assert 'href="/admin/ai/calllog/dashboard/"' in html
    assert "Add call log entry" not in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["outcome__exact=error", "provider=other", "alias=smart", "q=nothing-like-it"]
)
def test_call_log_filters_narrow_the_list(client, query):
    staff(client, "view_calllog")
    a_call()
    response = client.get(f"{CALLS}?{query}")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0


@pytest.mark.django_db
def test_call_log_is_read_only_even_with_every_permission(client):
    staff(client, "view_calllog", "change_calllog", "add_calllog", "delete_calllog")
    call = a_call()
    assert client.get(f"{CALLS}add/").status_code == 403
    page = client.get(f"{CALLS}{call.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(f"{CALLS}{call.pk}/change/", {"caller": "x"}).status_code == 403
    assert client.post(f"{CALLS}{call.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CallLog.objects.get(pk=call.pk).caller == "pages.seo"


@pytest.mark.django_db
def test_superusers_may_delete_call_log_rows(admin_client):
    call = a_call()
    assert admin_client.post(f"{CALLS}{call.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not CallLog.objects.filter(pk=call.pk).exists()


@pytest.mark.django_db
def test_call_log_detail_shows_attempts(admin_client):
    call = a_call()
    html = admin_client.get(f"{CALLS}{call.pk}/change/").content.decode()
    assert "&quot;status&quot;: 200" in html


@pytest.mark.django_db
def test_admin_index_links_the_dashboard_only_for_viewers(client):
    staff(client, "view_calllog")
    assert 'id="ai-tool-dashboard"' in client.get("/admin/").content.decode()
    client.logout()
    User.objects.create_user("plain", password="x", is_staff=True)
    client.login(username="plain", password="x")
    assert 'id="ai-tool-dashboard"' not in client.get("/admin/").content.decode()


# --- the catalog -----------------------------------------------------------------------------


@pytest.fixture
def priced():
    return [
        CatalogModel.objects.create(
            provider_kind="openrouter",
            model_id="openai/gpt-4o-mini",
            name="OpenAI: GPT-4o-mini",
            prompt_price=Decimal("0.00000015"),
            completion_price=Decimal("0.0000006"),
        ),
        CatalogModel.objects.create(
            provider_kind="openrouter", model_id="openai/gpt-3.5-turbo-0301", name="old", retired=True
        ),
        CatalogModel.objects.create(
            provider_kind="openai", model_id="gpt-4o-mini", prompt_price=Decimal("0.00000015")
        ),
    ]


@pytest.mark.django_db
def test_catalog_list_shows_prices_per_million_and_the_sync_button(admin_client, priced):
    html = admin_client.get(CATALOG).content.decode()
    assert "$0.15" in html
    assert "$0.6" in html
    assert 'id="catalog-sync-button"' in html


@pytest.mark.django_db
def test_catalog_search_by_model_id(admin_client, priced):
    response = admin_client.get(CATALOG, {"q": "3.5-turbo"})
    assert [row.model_id for row in response.context["cl"].result_list] == ["openai/gpt-3.5-turbo-0301"]


@pytest.mark.django_db
def test_viewers_see_no_sync_button_and_may_not_sync(client, priced):
    staff(client, "view_catalogmodel")
    assert 'id="catalog-sync-button"' not in client.get(CATALOG).content.decode()
    assert client.post(SYNC).status_code == 403


@pytest.mark.django_db
def test_sync_button_syncs_from_the_first_enabled_openrouter_provider(admin_client, fake_server):
    ProviderRowFactory(
        openrouter=True,
        name="or-main",
        base_url=fake_server.base_url("openrouter", tenant="admin-sync"),
        api_key="sk-or-v1-test-admin-sync",
    )
    response = admin_client.post(SYNC, follow=True)
    assert response.redirect_chain[-1][0] == CATALOG
    text = response.content.decode()
    assert "Synced from OpenRouter (provider &#x27;or-main&#x27;)" in text
    assert "sk-or-v1-test-admin-sync" not in text
    assert (
        CatalogModel.objects.filter(provider_kind="openrouter").count() == fake_server.count("admin-sync") * 5
    )
    (request,) = fake_server.requests("admin-sync")
    assert request.headers["authorization"] == "Bearer sk-or-v1-test-admin-sync"


@pytest.mark.django_db
def test_sync_failure_is_a_message_not_a_500(admin_client, fake_server, priced):
    ProviderRowFactory(openrouter=True, base_url=fake_server.base_url("openrouter", tenant="down"))
    fake_server.script("down", Fault(status=502))
    response = admin_client.post(SYNC, follow=True)
    assert response.status_code == 200
    assert "Nothing was changed: could not fetch the catalog" in response.content.decode()
    assert CatalogModel.objects.filter(retired=False, provider_kind="openrouter").count() == 1


@pytest.mark.django_db
def test_sync_without_a_provider_row_uses_the_environment(admin_client, settings, respx_mock):
    settings.OPENROUTER_BASE_URL = "https://openrouter.example/api/v1"
    respx_mock.get("https://openrouter.example/api/v1/models").mock(
        return_value=httpx.Response(
            200, json={"data": [{"id": "a/b", "pricing": {"prompt": "0", "completion": "0"}}]}
        )
    )
    response = admin_client.post(SYNC, follow=True)
    assert "the environment" in response.content.decode()
    assert CatalogModel.objects.filter(model_id="a/b").exists()


@pytest.mark.django_db
def test_sync_needs_post(admin_client):
    assert admin_client.get(SYNC).status_code == 405


# --- autocomplete ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_model_ids_match_the_query_within_a_kind_live_models_first(admin_client, priced):
    results = admin_client.get(MODEL_IDS, {"q": "gpt", "kind": "openrouter"}).json()["results"]
    assert [r["id"] for r in results] == ["openai/gpt-4o-mini", "openai/gpt-3.5-turbo-0301"]
    assert results[0]["prompt_per_million"] == "$0.15"
    assert results[1]["retired"] is True


@pytest.mark.django_db
def test_model_ids_by_provider_row_use_its_kind(admin_client, priced):
    provider = ProviderRowFactory(kind="openai")
    results = admin_client.get(MODEL_IDS, {"q": "4o", "provider": provider.pk}).json()["results"]
    assert [r["id"] for r in results] == ["gpt-4o-mini"]


@pytest.mark.django_db
def test_model_ids_are_for_users_who_edit_aliases_or_view_the_catalog(client, priced):
    staff(client)
    assert client.get(MODEL_IDS, {"q": "gpt"}).status_code == 403
    user = User.objects.get(username="ops")
    user.user_permissions.add(Permission.objects.get(codename="change_modelalias"))
    assert client.get(MODEL_IDS, {"q": "gpt"}).status_code == 200


@pytest.mark.django_db
def test_the_alias_page_loads_the_autocomplete_script(admin_client):
    html = admin_client.get("/admin/ai/modelalias/add/").content.decode()
    assert "ai/model_autocomplete.js" in html


# --- charts ----------------------------------------------------------------------------------


def test_cost_chart_draws_one_bar_per_provider_largest_first():
    svg = str(
        charts.cost_by_provider(
            [GroupStats(key="small", cost=Decimal("0.5")), GroupStats(key="big", cost=Decimal("2"))]
        )
    )
    assert svg.startswith('<svg class="chart" id="chart-cost-by-provider"')
    assert svg.count('class="bar bar-cost"') == 2
    assert svg.index('data-label="big"') < svg.index('data-label="small"')


def test_latency_chart_draws_p50_and_p95_bars_for_providers_with_successes():
    svg = str(
        charts.latency_by_provider(
            [GroupStats(key="a", p50_ms=100.0, p95_ms=300.0), GroupStats(key="only-errors", calls=3)]
        )
    )
    assert svg.count('class="bar bar-p50"') == 1
    assert svg.count('class="bar bar-p95"') == 1
    assert "only-errors" not in svg


def test_calls_chart_heights_are_proportional():
    days = [
        DayStats(day=dt.date(2025, 3, 1), success=10),
        DayStats(day=dt.date(2025, 3, 2), success=5, errors=5),
    ]
    svg = str(charts.calls_per_day(days))
    heights = {
        (kind, label): float(height)
        for kind, height, label in re.findall(
            r'class="bar bar-(\w+)"[^>]*height="([\d.]+)"[^>]*data-label="([^"]+)"', svg
        )
    }
    full = heights["success", "2025-03-01"]
    assert full > 0
    assert heights["success", "2025-03-02"] == pytest.approx(full / 2, abs=0.1)
    assert heights["error", "2025-03-02"] == pytest.approx(full / 2, abs=0.1)
    assert heights["error", "2025-03-01"] == 0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(0), "$0"),
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0.05"), "$0.0500"),
        (Decimal("0.00012"), "$0.00012"),
    ],
)
def test_format_cost(value, text):
    assert charts.format_cost(value) == text


def test_per_million():
    assert per_million(Decimal("0.0000025")) == "$2.5"
    assert per_million(None) == "—"
