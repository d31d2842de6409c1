"""System checks for FIELD_ENCRYPTION_KEY: messages with ids and hints, never the key, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from backend.integrations.ai.checks import check_encryption_key, check_static_serving

ROOT = Path(__file__).resolve().parents[3]
GOOD = Fernet.generate_key().decode()
BAD_ITEM = "not-a-fernet-key-but-a-secret-looking-value"


def test_a_good_key_or_key_list_passes(settings):
    settings.FIELD_ENCRYPTION_KEY = GOOD
    assert check_encryption_key() == []
    settings.FIELD_ENCRYPTION_KEY = f"{GOOD}, {Fernet.generate_key().decode()}"
    assert check_encryption_key() == []


@pytest.mark.parametrize("value", ["", "  ", ",", None])
def test_missing_key_is_ai_e001(settings, value):
    settings.FIELD_ENCRYPTION_KEY = value
    [error] = check_encryption_key()
    assert error.id == "ai.E001"
    assert "FIELD_ENCRYPTION_KEY" in error.msg
    assert "ai_generate_key" in error.hint


def test_malformed_item_is_ai_e002_naming_its_position_only(settings):
    settings.FIELD_ENCRYPTION_KEY = f"{GOOD},{BAD_ITEM},{GOOD}"
    [error] = check_encryption_key()
    assert error.id == "ai.E002"
    assert "item 2 of 3" in error.msg
    assert BAD_ITEM not in error.msg + error.hint
    assert GOOD not in error.msg + error.hint


def test_check_command_fails_with_the_message(settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    with pytest.raises(SystemCheckError, match=r"ai\.E001"):
        call_command("check", tag=["ai"])
    settings.FIELD_ENCRYPTION_KEY = f"{GOOD},{BAD_ITEM}"
    with pytest.raises(SystemCheckError, match=r"ai\.E002") as caught:
        call_command("check", tag=["ai"])
    assert BAD_ITEM not in str(caught.value)


def test_check_command_passes_with_a_good_key(settings):
    settings.FIELD_ENCRYPTION_KEY = GOOD
    call_command("check", tag=["ai"])


def test_static_serving_warns_only_on_deploy_without_debug(settings):
    settings.SERVE_STATIC, settings.DEBUG = True, False
    assert [w.id for w in check_static_serving()] == ["ai.W001"]
    settings.SERVE_STATIC = False
    assert check_static_serving() == []
    settings.SERVE_STATIC, settings.DEBUG = True, True
    assert check_static_serving() == []


def _manage(*args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIELD_ENCRYPTION_KEY": key, "DJANGO_SETTINGS_MODULE": "backend.panel.settings"}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("key", "check_id"), [("", "ai.E001"), (f"{GOOD},{BAD_ITEM}", "ai.E002")], ids=["missing", "malformed"]
)
def test_manage_py_check_fails_cleanly_and_help_and_keygen_still_work(key, check_id):
    check = _manage("check", key=key)
    assert check.returncode == 1
    assert check_id in check.stderr
    assert "FIELD_ENCRYPTION_KEY" in check.stderr
    assert "Traceback" not in check.stderr + check.stdout
    assert BAD_ITEM not in check.stderr + check.stdout

    help_run = _manage("help", key=key)
    assert help_run.returncode == 0, help_run.stderr
    assert "ai_generate_key" in help_run.stdout

    keygen = _manage("ai_generate_key", key=key)
    assert keygen.returncode == 0, keygen.stderr
    Fernet(keygen.stdout.strip())  # a usable key


def test_manage_py_check_passes_with_a_good_key():
    result = _manage("check", key=GOOD)
    assert result.returncode == 0, result.stderr
    assert "ai.E00" not in result.stderr + result.stdout
