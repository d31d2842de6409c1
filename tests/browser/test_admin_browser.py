"""What an operator does in the admin, in a real headless Chromium against the app under uvicorn.

Log in; add a provider with a key and never see it again; reorder providers from the list; test
connections against the loopback fake server; watch a playground reply arrive in pieces; read the
usage dashboard's charts.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from backend.integrations.ai.models import CallLog, Provider
from tests.integrations.ai.registry_helpers import CANARY_KEY, alias_with_routes, provider_row

pytestmark = pytest.mark.browser


def messages_on(page: Any) -> list[tuple[str, str]]:
    """(level class, text) of each admin message shown."""
    items = page.locator("ul.messagelist li")
    return [
        (items.nth(i).get_attribute("class") or "", items.nth(i).inner_text()) for i in range(items.count())
    ]


def test_logging_in_through_the_form_reaches_the_ai_tools(page, superuser, superuser_password):
    page.goto("/admin/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", superuser_password)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#ai-tools").is_visible()
    tools = page.locator("#ai-tools tr.ai-tool th a").all_inner_texts()
    assert tools == ["Usage dashboard", "Playground", "Route explain"]


def test_a_wrong_password_does_not_log_in(page, superuser):
    page.goto("/admin/login/")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    # The click returns once the reply starts loading; wait for the page that says why.
    assert page.wait_for_selector(".errornote").is_visible()
    assert "/admin/login/" in page.url


def test_a_provider_key_is_stored_but_never_displayed(logged_in, fake_server):
    page = logged_in
    page.goto("/admin/ai/provider/add/")
    page.fill("#id_name", "openai-main")
    page.select_option("#id_kind", "openai")
    page.fill("#id_base_url", fake_server.base_url("openai", tenant="t"))
    page.fill("#id_new_api_key", CANARY_KEY)
    assert page.get_attribute("#id_new_api_key", "type") == "password"
    page.click("input[name=_continue]")
    page.wait_for_url(re.compile(r"/admin/ai/provider/\d+/change/"))

    assert Provider.objects.get(name="openai-main").resolve_api_key()[0] == CANARY_KEY  # it was saved
    assert CANARY_KEY not in page.content()
    assert page.input_value("#id_new_api_key") == ""
    hint = page.locator(".field-key_hint .readonly").inner_text()
    assert CANARY_KEY[-4:] in hint  # only the masked fingerprint
    assert len(hint) < len(CANARY_KEY)

    page.goto("/admin/ai/provider/")
    assert page.locator("#result_list").get_by_text("openai-main").is_visible()
    assert CANARY_KEY not in page.content()


def listed_names(page: Any) -> list[str]:
    return page.locator("#result_list tbody th.field-name a").all_inner_texts()


def test_reordering_priorities_from_the_list_changes_where_calls_go(logged_in, fake_server):
    page = logged_in
    rows = [
        provider_row(name, "openai", fake_server.base_url("openai", tenant=name), priority=prio)
        for name, prio in (("alpha", 10), ("bravo", 20), ("charlie", 30))
    ]
    alias_with_routes("default", *((row, "gpt-4o-mini") for row in rows))
    page.goto("/admin/ai/provider/")
    assert listed_names(page) == ["alpha", "bravo", "charlie"]

    row = page.locator("#result_list tbody tr", has=page.get_by_role("link", name="charlie", exact=True))
    row.locator("input[name$='-priority']").fill("5")
    page.click("input[name=_save]")
    page.wait_for_selector("ul.messagelist")  # the changelist again, with its "changed" message

    assert listed_names(page) == ["charlie", "alpha", "bravo"]
    assert any("success" in level for level, _ in messages_on(page))
    page.goto("/admin/ai/modelalias/explain/?model=default")
    order = page.locator("#explain-candidates tr.candidate").evaluate_all(
        "rows => rows.map(r => r.dataset.provider)"
    )
    assert order == ["charlie", "alpha", "bravo"]


def test_connection_button_reports_works_and_bad_key(logged_in, fake_server):
    page = logged_in
    fake_server.require_key("good", CANARY_KEY)
    fake_server.require_key("bad", "sk-test-the-right-key")
    good = provider_row("good", "openai", fake_server.base_url("openai", tenant="good"), api_key=CANARY_KEY)
    bad = provider_row(
        "bad", "anthropic", fake_server.base_url("anthropic", tenant="bad"), api_key=CANARY_KEY
    )

    page.goto(f"/admin/ai/provider/{good.pk}/change/")
    page.click("#test-connection")
    page.wait_for_selector("ul.messagelist")
    [(level, text)] = messages_on(page)
    assert level == "success"
    assert re.match(r"Provider good: Works in \d+ ms\.", text)

    page.goto(f"/admin/ai/provider/{bad.pk}/change/")
    page.click("#test-connection")
    page.wait_for_selector("ul.messagelist")
    [(level, text)] = messages_on(page)
    assert level == "error"
    assert text.startswith("Provider bad: Bad key (HTTP 401) in ")
    assert CANARY_KEY not in page.content()
    assert fake_server.count("good") == 1
    assert fake_server.count("bad") == 1


def test_connection_action_checks_many_from_the_list(logged_in, fake_server):
    page = logged_in
    fake_server.require_key("bad", "sk-test-the-right-key")
    provider_row("good", "openrouter", fake_server.base_url("openrouter", tenant="good"), priority=1)
    provider_row("bad", "openai", fake_server.base_url("openai", tenant="bad"), priority=2)
    page.goto("/admin/ai/provider/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "test_connection")
    page.click("button[name=index]")
    page.wait_for_selector("ul.messagelist")
    got = [(level, text.split(" in ")[0]) for level, text in messages_on(page)]
    assert got == [("success", "Provider good: Works"), ("error", "Provider bad: Bad key (HTTP 401)")]


def test_the_playground_reply_arrives_in_pieces(logged_in, fake_server):
    page = logged_in
    reply = "The quick brown fox jumps over the lazy dog again and again"
    chat = provider_row("chat", "openai", fake_server.base_url("openai", tenant="t"), api_key=CANARY_KEY)
    alias_with_routes("fast", (chat, "gpt-4o-mini"))
    fake_server.set_reply("t", text=reply, chunks=6, chunk_delay_s=0.15)

    page.goto("/admin/ai/playground/")
    page.select_option("#id_alias", "fast")
    page.fill("#id_system", "Answer briefly.")
    page.fill("#id_prompt", "Tell me about foxes.")
    page.fill("#id_max_tokens", "64")
    page.click("#playground-run")

    # Two observations, each reading the reply and whether the closing facts are shown in one step.
    output = "document.getElementById('playground-output')"
    ended = "!document.getElementById('playground-result').hidden"
    observe = f"() => [{output}.textContent, {ended}]"
    page.wait_for_function(f"() => {output}.textContent.length > 0 || {ended}")
    first, first_ended = page.evaluate(observe)
    assert first
    assert not first_ended, "the first text arrived together with the end: the reply was not streamed"
    page.wait_for_function(f"n => {output}.textContent.length > n || {ended}", arg=len(first))
    second, _ = page.evaluate(observe)
    assert second.startswith(first)
    assert len(second) > len(first)

    page.wait_for_selector("#playground-result", state="visible")
    assert page.inner_text("#playground-output") == reply
    assert page.inner_text("#result-provider") == "chat"
    assert page.inner_text("#result-model") == "gpt-4o-mini"
    assert page.inner_text("#result-attempts") == "1"
    assert re.match(r"\d+ \(prompt \d+, completion 12\)", page.inner_text("#result-tokens"))
    assert re.match(r"\d+ ms", page.inner_text("#result-latency"))
    assert int(page.locator("#playground-output").get_attribute("data-pieces")) == 6
    assert page.locator("#playground-error").is_hidden()
    assert CANARY_KEY not in page.content()
    assert fake_server.requests("t")[0].json["stream"] is True


def test_the_playground_shows_a_failure_as_an_error(logged_in, fake_server):
    page = logged_in
    page.goto("/admin/ai/playground/")
    page.fill("#id_model", "made-up-model")
    page.fill("#id_prompt", "Hello?")
    page.click("#playground-run")
    page.wait_for_selector("#playground-error", state="visible")
    assert "No AI provider is configured" in page.inner_text("#playground-error")
    assert page.locator("#playground-result").is_hidden()
    assert page.is_enabled("#playground-run")


def test_the_dashboard_draws_its_charts(logged_in):
    page = logged_in
    now = timezone.now()
    for day, provider, outcome, latency, cost in [
        (0, "openrouter-main", "success", 420.0, "0.0021"),
        (0, "openrouter-main", "success", 380.0, "0.0019"),
        (1, "openai-direct", "success", 910.0, "0.0104"),
        (2, "openai-direct", "error", 15.0, None),
    ]:
        CallLog.objects.create(
            created_at=now - dt.timedelta(days=day),
            caller="pages.seo",
            alias="default",
            provider=provider,
            model="gpt-4o-mini",
            outcome=outcome,
            latency_ms=latency,
            total_tokens=100,
            cost=Decimal(cost) if cost else None,
        )
    page.goto("/admin/")
    page.click("#ai-tool-dashboard a")
    page.wait_for_url("**/admin/ai/calllog/dashboard/")
    assert page.inner_text("#total-calls .value") == "4"
    for chart in ("chart-calls-per-day", "chart-cost-by-provider", "chart-latency-by-provider"):
        svg = page.locator(f"svg.chart#{chart}")
        assert svg.is_visible()
        box = svg.bounding_box()
        assert box["width"] > 200
        assert box["height"] > 20
    cost_bars = page.locator("#chart-cost-by-provider rect.bar")
    assert cost_bars.evaluate_all("bars => bars.map(b => b.dataset.label)") == [
        "openai-direct",
        "openrouter-main",
    ]
    assert page.locator("#chart-calls-per-day rect.bar-error[height]").count() >= 1
    assert page.locator("#chart-latency-by-provider rect.bar-p95").count() == 2
