"""`manage.py ai_complete` and `manage.py ai_check` against the loopback fake server."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backend.integrations.ai.models import CallLog
from tests.fakes.server import Fault

from .registry_helpers import CANARY_KEY, alias_with_routes, fast_retries, provider_row, two_providers

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_ai_complete_prints_the_reply_and_a_summary_on_stderr(fake_server):
    two_providers(fake_server)
    out, err = run("ai_complete", "Hello there")
    assert out.strip() == "Hello from a."
    assert "[a · gpt-4o-mini · " in err
    assert "attempt(s)" in err
    assert CallLog.objects.get().caller == "cli.ai_complete"


def test_ai_complete_streams(fake_server):
    two_providers(fake_server)
    fake_server.set_reply("a", text="one two three", chunks=3)
    out, err = run("ai_complete", "--stream", "hi")
    assert out.strip() == "one two three"
    assert "[a · " in err


def test_ai_complete_json(fake_server):
    two_providers(fake_server)
    out, _ = run("ai_complete", "--json", "--model", "default", "hi")
    doc = json.loads(out)
    assert doc["provider"] == "a"
    assert doc["text"] == "Hello from a."
    assert doc["usage"]["total_tokens"] > 0


def test_ai_complete_failure_is_a_command_error_without_a_key(fake_server, settings):
    fast_retries(settings)
    a = provider_row("a", "openai", fake_server.base_url("openai", tenant="a"), api_key=CANARY_KEY)
    alias_with_routes("default", (a, "gpt-4o-mini"))
    fake_server.script("a", Fault(status=500, always=True))
    with pytest.raises(CommandError) as caught:
        run("ai_complete", "hi")
    assert "AllProvidersFailed" in str(caught.value)
    assert CANARY_KEY not in str(caught.value)


def test_ai_check_reports_providers_and_alias_order(fake_server):
    two_providers(fake_server)
    out, _ = run("ai_check")
    assert "a " in out and "Works" in out
    assert "default (priority): a:gpt-4o-mini → b:gpt-4o-mini" in out


def test_ai_check_exits_non_zero_when_an_alias_has_no_usable_route(fake_server):
    two_providers(fake_server)
    fake_server.require_key("a", "sk-test-other")
    fake_server.require_key("b", "sk-test-other")
    with pytest.raises(SystemExit) as caught:
        run("ai_check")
    assert caught.value.code == 1


def test_ai_check_json_without_live_checks(fake_server):
    two_providers(fake_server)
    out, _ = run("ai_check", "--no-live", "--json")
    doc = json.loads(out)
    assert [p["name"] for p in doc["providers"]] == ["a", "b"]
    assert doc["aliases"][0]["candidates"][0]["provider"] == "a"
    assert fake_server.count("a") == 0
