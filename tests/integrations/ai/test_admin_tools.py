"""The admin's operator tools through the Django test client: test connection, route explain, playground.

Connection checks run against the loopback fake server with each row's real key; the explain page
is compared with `router.explain()` itself; the playground's stream is read event by event, under
WSGI (the sync test client) and ASGI (the async one).
"""

from __future__ import annotations

import html
import json
import re
import time
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import constants, get_messages
from django.db import connections
from django.test import Client
from django.urls import reverse

from backend.integrations.ai import admin_tools, health, ledger, router
from backend.integrations.ai.models import CallLog, CatalogModel, ModelAlias, RoutingSettings
from tests.fakes.server import Fault

from .registry_helpers import CANARY_KEY, alias_with_routes, fast_retries, provider_row

pytestmark = pytest.mark.django_db

EXPLAIN = "/admin/ai/modelalias/explain/"
PLAYGROUND = "/admin/ai/playground/"
STREAM = "/admin/ai/playground/stream/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Logging in is not under test here: skip PBKDF2's deliberate slowness (about 0.5 s a user).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def staff(client: Client, *codenames: str, username: str = "ops") -> Client:
    user = User.objects.create_user(username, password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def sent_messages(response: Any) -> list[tuple[int, str]]:
    return [(m.level, m.message) for m in get_messages(response.wsgi_request)]


def test_urls_are_where_the_docs_say():
    assert reverse("ai_playground") == PLAYGROUND
    assert reverse("ai_playground_stream") == STREAM
    assert reverse("admin:ai_modelalias_explain") == EXPLAIN
    assert reverse("admin:ai_provider_test_connection", args=[7]) == "/admin/ai/provider/7/test-connection/"


# --- test connection -----------------------------------------------------------------------------


def check_url(provider: Any) -> str:
    return reverse("admin:ai_provider_test_connection", args=[provider.pk])


def test_change_page_has_the_button_for_editors_only(client, admin_client, fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"))
    page = admin_client.get(reverse("admin:ai_provider_change", args=[row.pk])).content.decode()
    assert f'action="{check_url(row)}"' in page
    assert 'id="test-connection"' in page
    viewer = staff(client, "view_provider")
    page = viewer.get(reverse("admin:ai_provider_change", args=[row.pk])).content.decode()
    assert check_url(row) not in page
    assert 'id="test-connection"' not in page


OUTCOMES = [
    # (fault or setup, expected label, message level)
    (None, "Works", constants.SUCCESS),
    ("wrong_key", "Bad key (HTTP 401)", constants.ERROR),
    (Fault(status=402), "No credits (HTTP 402)", constants.WARNING),
    (Fault(status=404), "Model missing (HTTP 404)", constants.WARNING),
    (Fault(status=503, always=True), "Unreachable (HTTP 503)", constants.ERROR),
    (Fault(drop=True, always=True), "Unreachable", constants.ERROR),
    (Fault(malformed=True), "Error", constants.ERROR),
    ("keyless", "Not configured", constants.WARNING),
]


@pytest.mark.parametrize(
    ("setup", "label", "level"),
    OUTCOMES,
    ids=["works", "bad_key", "no_credits", "model_missing", "http_503", "dropped", "malformed", "keyless"],
)
@pytest.mark.parametrize("kind", ["openai", "anthropic", "openrouter"])
def test_each_outcome_is_one_message_with_its_level_and_latency(
    admin_client, fake_server, kind, setup, label, level
):
    fake_server.require_key("t", CANARY_KEY)
    key = {"wrong_key": "sk-test-wrong-key-0000", "keyless": ""}.get(setup, CANARY_KEY)  # type: ignore[arg-type]
    row = provider_row("main", kind, fake_server.base_url(kind, tenant="t"), api_key=key)
    if isinstance(setup, Fault):
        fake_server.script("t", setup)

    response = admin_client.post(check_url(row))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:ai_provider_change", args=[row.pk])
    [(got_level, text)] = sent_messages(response)
    assert got_level == level
    assert text.startswith(f"Provider main: {label} in ")
    assert re.search(r" in \d+ ms\. ", text)
    assert CANARY_KEY not in text
    expected_requests = 0 if setup == "keyless" else 1
    assert fake_server.count("t") >= expected_requests


def test_the_key_never_reaches_the_page_after_a_check(admin_client, fake_server):
    fake_server.require_key("t", "sk-test-the-right-one")
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)
    response = admin_client.post(check_url(row), follow=True)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Provider main: Bad key" in html.unescape(page)
    assert CANARY_KEY not in page


def test_the_check_uses_the_rows_real_key(admin_client, fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)
    admin_client.post(check_url(row))
    [request] = fake_server.requests("t")
    assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_a_disabled_provider_can_be_checked(admin_client, fake_server):
    row = provider_row("off", "openai", fake_server.base_url("openai", tenant="t"), enabled=False)
    [(level, text)] = sent_messages(admin_client.post(check_url(row)))
    assert level == constants.SUCCESS
    assert text.startswith("Provider off: Works")


def test_checking_needs_post(admin_client, fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"))
    assert admin_client.get(check_url(row)).status_code == 405
    assert fake_server.count("t") == 0


def test_checking_needs_change_permission(client, fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"))
    viewer = staff(client, "view_provider")
    assert viewer.post(check_url(row)).status_code == 403
    assert fake_server.count("t") == 0


def test_checking_is_csrf_protected(fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"))
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_superuser("root", password="x"))
    assert browser.post(check_url(row)).status_code == 403
    assert fake_server.count("t") == 0


def test_checking_a_deleted_provider_is_a_message(admin_client):
    response = admin_client.post(reverse("admin:ai_provider_test_connection", args=[999]))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:ai_provider_changelist")
    assert sent_messages(response) == [(constants.WARNING, "That provider no longer exists.")]


def test_an_unexpected_failure_is_a_message_not_a_500(admin_client, fake_server, monkeypatch):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)

    def broken(name: str) -> dict[str, Any]:
        raise RuntimeError(f"boom {CANARY_KEY}")

    monkeypatch.setattr(admin_tools.diagnostics, "check_provider", broken)
    response = admin_client.post(check_url(row))
    [(level, text)] = sent_messages(response)
    assert level == constants.ERROR
    assert text == "Provider main: Error: the check itself failed; see the server log."


def test_the_action_checks_every_selected_provider_in_priority_order(admin_client, fake_server):
    fake_server.require_key("b", "sk-test-right")
    a = provider_row("a", "openai", fake_server.base_url("openai", tenant="a"), priority=20)
    b = provider_row("b", "anthropic", fake_server.base_url("anthropic", tenant="b"), priority=10)
    provider_row("c", "openai", fake_server.base_url("openai", tenant="c"), priority=30)

    response = admin_client.post(
        reverse("admin:ai_provider_changelist"),
        {"action": "test_connection", "_selected_action": [a.pk, b.pk]},
    )

    assert response.status_code == 302
    got = sent_messages(response)
    assert [(level, text.split(" in ")[0]) for level, text in got] == [
        (constants.ERROR, "Provider b: Bad key (HTTP 401)"),
        (constants.SUCCESS, "Provider a: Works"),
    ]
    assert fake_server.count("c") == 0


def test_the_action_is_offered_to_editors_only(client, admin_client, fake_server):
    provider_row("main", "openai", fake_server.base_url("openai", tenant="t"))
    listing = admin_client.get(reverse("admin:ai_provider_changelist")).content.decode()
    assert 'value="test_connection"' in listing
    viewer = staff(client, "view_provider")
    listing = viewer.get(reverse("admin:ai_provider_changelist")).content.decode()
    assert 'value="test_connection"' not in listing


# --- route explain -------------------------------------------------------------------------------


def candidates_on(page: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="candidate" data-provider="([^"]*)" data-model="([^"]*)"', page)


def as_listed(explanation: router.Explanation) -> list[tuple[str, str]]:
    return [(c.provider, c.model) for c in explanation.candidates]


@pytest.fixture
def routed(fake_server):
    first = provider_row("first", "openai", fake_server.base_url("openai", tenant="a"), priority=10)
    second = provider_row("second", "openrouter", fake_server.base_url("openrouter", tenant="b"), priority=20)
    alias_with_routes("smart", (second, "openai/gpt-4o", 1), (first, "gpt-4o", 2), description="x")
    return first, second


def test_alias_page_lists_candidates_in_the_routers_order(admin_client, routed):
    page = admin_client.get(EXPLAIN, {"model": "smart"}).content.decode()
    assert candidates_on(page) == as_listed(router.explain("smart"))
    assert candidates_on(page) == [("second", "openai/gpt-4o"), ("first", "gpt-4o")]
    assert 'id="explain-strategy">priority<' in page
    assert 'id="explain-mode">auto<' in page
    assert "alias <a href=" in page
    assert "explain-shuffled" not in page  # distinct priorities: one order only


def test_a_model_name_is_normalized_per_provider_kind(admin_client, routed):
    page = admin_client.get(EXPLAIN, {"model": "gpt-4o-mini"}).content.decode()
    assert candidates_on(page) == as_listed(router.explain("gpt-4o-mini"))
    assert ("second", "openai/gpt-4o-mini") in candidates_on(page)
    assert ("first", "gpt-4o-mini") in candidates_on(page)
    assert "a model name, sent to every enabled provider" in page


def test_the_rows_carry_priorities_weight_key_source_and_latency(admin_client, routed):
    health.latency.observe("first", "gpt-4o", 123.0)
    page = admin_client.get(EXPLAIN, {"model": "smart"}).content.decode()
    [info] = [c for c in router.explain("smart").candidates if c.provider == "first"]
    row = page.split('data-provider="first"')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
    assert cells[4:7] == [str(info.route_priority), str(info.provider_priority), str(info.weight)]
    assert info.key_source in cells[8]
    assert cells[12] == "123 ms"


def test_prices_are_per_million_tokens_from_the_catalog(admin_client, routed):
    CatalogModel.objects.create(
        provider_kind="openai",
        model_id="gpt-4o",
        prompt_price=Decimal("0.0000025"),
        completion_price=Decimal("0.00001"),
        cache_read_price=Decimal("0.00000125"),
    )
    page = admin_client.get(EXPLAIN, {"model": "smart"}).content.decode()
    row = page.split('data-provider="first"')[1].split("</tr>")[0]
    assert all(price in row for price in ("$2.5", "$10", "$1.25"))
    unpriced = page.split('data-provider="second"')[1].split("</tr>")[0]
    assert "$" not in unpriced


def test_an_open_circuit_shows_when_it_recovers_and_goes_last(admin_client, routed, settings):
    settings.AI_CIRCUIT_FAILURES = 2
    settings.AI_CIRCUIT_COOLDOWN_SECONDS = 60
    for _ in range(2):
        health.record_failure("second")
    page = admin_client.get(EXPLAIN, {"model": "smart"}).content.decode()
    assert candidates_on(page) == [("first", "gpt-4o"), ("second", "openai/gpt-4o")]
    row = page.split('data-provider="second"')[1].split("</tr>")[0]
    assert "circuit-open" in row
    assert re.search(r"retried from \d\d:\d\d:\d\d, in (59|60) s", row)


def test_a_half_open_circuit_says_a_trial_call_is_allowed(admin_client, routed, settings):
    settings.AI_CIRCUIT_FAILURES = 1
    settings.AI_CIRCUIT_COOLDOWN_SECONDS = 60
    health.record_failure("second", now=time.time() - 120)
    [info] = [c for c in router.explain("smart").candidates if c.provider == "second"]
    assert info.circuit == "half_open"
    page = admin_client.get(EXPLAIN, {"model": "smart"}).content.decode()
    row = page.split('data-provider="second"')[1].split("</tr>")[0]
    assert "circuit-half_open" in row
    assert ">half open" in row
    assert "a trial call is allowed since" in row


def test_a_pinned_mode_and_equal_priorities_are_explained(admin_client, fake_server):
    a = provider_row("a", "openai", fake_server.base_url("openai", tenant="a"), priority=10)
    b = provider_row("b", "openai", fake_server.base_url("openai", tenant="b"), priority=10)
    alias_with_routes("fast", (a, "gpt-4o-mini"), (b, "gpt-4o-mini"))
    RoutingSettings.objects.update_or_create(pk=1, defaults={"mode": "openai", "failover_enabled": False})
    page = admin_client.get(EXPLAIN, {"model": "fast"}).content.decode()
    assert sorted(candidates_on(page)) == [("a", "gpt-4o-mini"), ("b", "gpt-4o-mini")]
    assert 'id="explain-mode">openai<' in page
    assert "off: only the first candidate is tried" in page
    assert 'id="explain-shuffled"' in page


@pytest.mark.parametrize("name", ["no-such-alias", "made-up-model-xyz", "a/b/c", "日本語", "' OR 1=1 --"])
def test_no_route_shows_the_routers_error(admin_client, routed, name):
    response = admin_client.get(EXPLAIN, {"model": name})
    assert response.status_code == 200
    explanation = router.explain(name)
    page = response.content.decode()
    if explanation.error:
        assert html.escape(explanation.error) in page
        assert candidates_on(page) == []
    else:
        assert candidates_on(page) == as_listed(explanation)


def test_an_alias_with_no_usable_route_shows_the_error(admin_client, fake_server):
    keyless = provider_row("keyless", "openai", fake_server.base_url("openai", tenant="a"), api_key="")
    alias_with_routes("lonely", (keyless, "gpt-4o"))
    page = admin_client.get(EXPLAIN, {"model": "lonely"}).content.decode()
    error = router.explain("lonely").error
    assert error
    assert "none can serve now" in error and "keyless" in error
    assert f'id="explain-error">{html.escape(error)}<' in page


def test_an_empty_model_explains_the_default_alias(admin_client, routed, fake_server):
    first, _ = routed
    alias_with_routes("default", (first, "gpt-4o-mini"))
    for query in ({}, {"model": ""}, {"model": "   "}):
        page = admin_client.get(EXPLAIN, query).content.decode()
        assert 'id="explain-requested">default<' in page
        assert candidates_on(page) == [("first", "gpt-4o-mini")]


def test_a_too_long_name_is_a_form_error_not_a_500(admin_client, routed):
    response = admin_client.get(EXPLAIN, {"model": "x" * 500})
    assert response.status_code == 200
    assert 'id="explain-form-errors"' in response.content.decode()


def test_explain_needs_view_permission_on_aliases(client, routed):
    assert staff(client, "view_provider").get(EXPLAIN).status_code == 403
    client.logout()
    assert staff(client, "view_modelalias", username="viewer").get(EXPLAIN).status_code == 200


def test_alias_list_and_page_link_to_explain(admin_client, routed):
    alias = ModelAlias.objects.get(name="smart")
    listing = admin_client.get(reverse("admin:ai_modelalias_changelist")).content.decode()
    assert f'href="{EXPLAIN}?model=smart" class="explain-link"' in listing
    assert f'href="{EXPLAIN}" id="explain-routing"' in listing
    page = admin_client.get(reverse("admin:ai_modelalias_change", args=[alias.pk])).content.decode()
    assert f'href="{EXPLAIN}?model=smart" id="explain-alias"' in page


def test_explain_shows_no_key(admin_client, fake_server):
    row = provider_row("main", "openai", fake_server.base_url("openai", tenant="a"), api_key=CANARY_KEY)
    alias_with_routes("default", (row, "gpt-4o"))
    page = admin_client.get(EXPLAIN, {"model": "default"}).content.decode()
    assert candidates_on(page) == [("main", "gpt-4o")]
    assert CANARY_KEY not in page


# --- playground ----------------------------------------------------------------------------------


def events_of(response: Any) -> list[dict[str, Any]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [json.loads(line) for line in body.decode().splitlines()]


def playground_post(**overrides: Any) -> dict[str, Any]:
    data = {"alias": "", "model": "", "system": "Be brief.", "prompt": "Say hello.", "max_tokens": "50"}
    data.update(overrides)
    return data


@pytest.fixture
def chat(fake_server):
    row = provider_row("chat", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)
    alias_with_routes("default", (row, "gpt-4o-mini"))
    alias_with_routes("fast", (row, "gpt-4o-mini"))
    alias_with_routes("retired", (row, "gpt-4o-mini"), enabled=False)
    fake_server.set_reply("t", text="Hello brave new world of streams", chunks=4)
    return row


def test_the_page_offers_enabled_aliases_and_loads_the_script(admin_client, chat):
    page = admin_client.get(PLAYGROUND).content.decode()
    assert '<option value="fast">fast</option>' in page
    assert 'value="retired"' not in page
    assert "/static/ai/playground.js" in page
    assert f'data-stream-url="{STREAM}"' in page
    assert "csrfmiddlewaretoken" in page


def test_the_index_links_the_tools_by_permission(client, admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert f'href="{PLAYGROUND}"' in index
    assert f'href="{EXPLAIN}"' in index
    index = staff(client, "view_provider").get(reverse("admin:index")).content.decode()
    assert PLAYGROUND not in index
    assert EXPLAIN not in index


def test_staff_without_the_permission_get_403(client, chat, fake_server):
    staff(client, "view_provider", "change_provider", "view_modelalias")
    assert client.get(PLAYGROUND).status_code == 403
    assert client.post(STREAM, playground_post()).status_code == 403
    assert fake_server.count("t") == 0


def test_anonymous_users_are_sent_to_log_in_and_cannot_stream(client, chat, fake_server):
    response = client.get(PLAYGROUND)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert client.post(STREAM, playground_post()).status_code == 403
    assert fake_server.count("t") == 0


def test_the_permission_alone_is_enough(client, chat):
    staff(client, "use_playground")
    assert client.get(PLAYGROUND).status_code == 200
    events = events_of(client.post(STREAM, playground_post()))
    assert events[-1]["type"] == "done"


def test_the_reply_streams_as_text_events_then_done(admin_client, chat, fake_server):
    response = admin_client.post(STREAM, playground_post(alias="fast", max_tokens="64", temperature="0.3"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    events = events_of(response)
    texts = [e["text"] for e in events if e["type"] == "text"]
    assert len(texts) >= 2
    assert "".join(texts) == "Hello brave new world of streams"
    done = events[-1]
    assert done["type"] == "done"
    assert (done["provider"], done["model"], done["attempts"]) == ("chat", "gpt-4o-mini", 1)
    assert done["usage"]["completion_tokens"] == 6
    assert done["usage"]["total_tokens"] == done["usage"]["prompt_tokens"] + 6
    assert done["latency_ms"] > 0
    [sent] = fake_server.requests("t")
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    assert (sent.json["max_completion_tokens"], sent.json["temperature"], sent.json["stream"]) == (
        64,
        0.3,
        True,
    )
    ledger.flush()
    row = CallLog.objects.get()
    assert (row.caller, row.alias, row.streamed) == ("admin.playground", "fast", True)


def test_a_typed_model_wins_over_the_alias(admin_client, chat, fake_server):
    events = events_of(admin_client.post(STREAM, playground_post(alias="fast", model="gpt-4.1-nano")))
    assert events[-1]["model"] == "gpt-4.1-nano"
    assert fake_server.requests("t")[0].json["model"] == "gpt-4.1-nano"


def test_a_blank_system_message_is_not_sent(admin_client, chat, fake_server):
    events_of(admin_client.post(STREAM, playground_post(system="  ")))
    assert fake_server.requests("t")[0].json["messages"] == [{"role": "user", "content": "Say hello."}]


def test_the_cost_comes_with_the_done_event(admin_client, chat):
    CatalogModel.objects.create(
        provider_kind="openai",
        model_id="gpt-4o-mini",
        prompt_price=Decimal("0.001"),
        completion_price=Decimal("0.002"),
    )
    done = events_of(admin_client.post(STREAM, playground_post()))[-1]
    usage = done["usage"]
    assert (
        Decimal(done["cost"])
        == Decimal("0.001") * usage["prompt_tokens"] + Decimal("0.002") * usage["completion_tokens"]
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_tokens", "abc"),
        ("max_tokens", "0"),
        ("max_tokens", "1000000"),
        ("temperature", "5"),
        ("temperature", "warm"),
        ("prompt", ""),
        ("alias", "retired"),
        ("alias", "no-such-alias"),
        ("model", "m" * 300),
    ],
)
def test_bad_input_is_an_error_event_not_a_500(admin_client, chat, fake_server, field, value):
    response = admin_client.post(STREAM, playground_post(**{field: value}))
    assert response.status_code == 400
    [event] = events_of(response)
    assert event["type"] == "error"
    assert event["error"] == "InvalidInput"
    assert event["message"]
    assert fake_server.count("t") == 0


def test_no_route_is_an_error_event(admin_client, chat):
    response = admin_client.post(STREAM, playground_post(model="claude-3-5-haiku-20241022"))
    assert response.status_code == 200
    [event] = events_of(response)
    assert (event["type"], event["error"], event["partial"]) == ("error", "ConfigurationError", False)
    assert "No enabled provider can serve model 'claude-3-5-haiku-20241022'" in event["message"]


def test_a_failing_provider_is_an_error_event_without_the_key(admin_client, chat, fake_server, settings):
    fast_retries(settings)
    fake_server.script("t", Fault(status=500, always=True))
    response = admin_client.post(STREAM, playground_post())
    body = b"".join(response.streaming_content).decode()
    [event] = [json.loads(line) for line in body.splitlines()]
    assert (event["type"], event["error"]) == ("error", "AllProvidersFailed")
    assert "chat/gpt-4o-mini" in event["message"]
    assert CANARY_KEY not in body


def test_a_stream_cut_midway_keeps_the_text_and_ends_with_an_error(admin_client, chat, fake_server):
    fake_server.script("t", Fault(stream_cut_after=2))
    events = events_of(admin_client.post(STREAM, playground_post()))
    assert [e["type"] for e in events] == ["text", "text", "error"]
    assert (events[-1]["error"], events[-1]["partial"]) == ("StreamInterrupted", True)


def test_an_unexpected_failure_is_an_error_event(admin_client, chat, monkeypatch):
    def broken(**params: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("backend.integrations.ai.stream", broken)
    [event] = events_of(admin_client.post(STREAM, playground_post()))
    assert event == {
        "type": "error",
        "message": "The call failed unexpectedly; the server log has the details.",
        "error": "RuntimeError",
        "partial": False,
    }


def test_streaming_needs_post(admin_client, chat):
    assert admin_client.get(STREAM).status_code == 405


def test_streaming_is_csrf_protected(chat, fake_server):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_superuser("root", password="x"))
    assert browser.post(STREAM, playground_post()).status_code == 403
    assert fake_server.count("t") == 0


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_view_relays_the_async_stream(async_client, fake_server):
    from asgiref.sync import sync_to_async

    @sync_to_async
    def setup() -> User:
        row = provider_row("chat", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)
        alias_with_routes("default", (row, "gpt-4o-mini"))
        user = User.objects.create_user("player", password="x", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="use_playground"))
        return user

    fake_server.set_reply("t", text="one two three four five", chunks=5)
    await async_client.aforce_login(await setup())
    response = await async_client.post(STREAM, playground_post())
    assert response.status_code == 200
    assert response.is_async
    lines = [line async for line in response.streaming_content]
    events = [json.loads(line) for part in lines for line in part.decode().splitlines()]
    texts = [e["text"] for e in events if e["type"] == "text"]
    assert len(texts) == 5
    assert "".join(texts) == "one two three four five"
    assert events[-1]["type"] == "done"
    assert events[-1]["provider"] == "chat"
    assert CANARY_KEY not in b"".join(lines).decode()
    # The test client keeps connections open after a request; close the worker thread's one.
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_staff_without_the_permission_get_403(async_client):
    from asgiref.sync import sync_to_async

    user = await sync_to_async(User.objects.create_user)("nope", password="x", is_staff=True)
    await async_client.aforce_login(user)
    assert (await async_client.post(STREAM, playground_post())).status_code == 403
    await sync_to_async(connections.close_all)()
