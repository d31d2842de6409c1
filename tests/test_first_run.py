"""scripts/first_run.py: .env is written only where nothing is set, never over an existing value;
fixtures load into empty tables only; the admin user is created once."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

import environ
import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import authenticate

from backend.integrations.ai.models import ModelAlias, Provider

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("first_run", ROOT / "scripts" / "first_run.py")
first_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(first_run)

EXISTING_KEY = Fernet.generate_key().decode()


def parse_env(path: Path, monkeypatch) -> dict[str, str]:
    """What django-environ (as settings.py uses it) reads from `path`."""
    parsed: dict[str, str] = {}
    monkeypatch.setattr(environ.Env, "ENVIRON", parsed)
    environ.Env.read_env(str(path), overwrite=False)
    return parsed


def test_a_missing_env_file_is_created_with_both_values(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    assert first_run.ensure_env_file(path, {}) == ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"]
    values = parse_env(path, monkeypatch)
    Fernet(values["FIELD_ENCRYPTION_KEY"])
    assert len(values["SECRET_KEY"]) >= 50
    assert path.read_text().count("SECRET_KEY=") == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_key_is_never_overwritten_and_other_lines_are_kept(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    original = f"# my settings\nDEBUG=true\nFIELD_ENCRYPTION_KEY={EXISTING_KEY}\nALLOWED_HOSTS=example.com"
    path.write_text(original)
    assert first_run.ensure_env_file(path, {}) == ["SECRET_KEY"]
    text = path.read_text()
    assert text.startswith(original + "\n")
    assert text.count("FIELD_ENCRYPTION_KEY=") == 1
    values = parse_env(path, monkeypatch)
    assert values["FIELD_ENCRYPTION_KEY"] == EXISTING_KEY
    assert values["ALLOWED_HOSTS"] == "example.com"


def test_values_set_in_the_environment_are_not_written(tmp_path):
    path = tmp_path / ".env"
    environment = {"SECRET_KEY": "from-env", "FIELD_ENCRYPTION_KEY": EXISTING_KEY}
    assert first_run.ensure_env_file(path, environment) == []
    assert not path.exists()
    path.write_text("DEBUG=false\n")
    assert first_run.ensure_env_file(path, {"FIELD_ENCRYPTION_KEY": EXISTING_KEY}) == ["SECRET_KEY"]
    assert "FIELD_ENCRYPTION_KEY" not in path.read_text()


@pytest.mark.parametrize(
    "line", ["FIELD_ENCRYPTION_KEY=", 'FIELD_ENCRYPTION_KEY=""', "export FIELD_ENCRYPTION_KEY=''"]
)
def test_an_empty_value_is_filled_in_place(tmp_path, monkeypatch, line):
    path = tmp_path / ".env"
    path.write_text(f"SECRET_KEY=kept\n{line}\nDEBUG=true\n")
    assert first_run.ensure_env_file(path, {}) == ["FIELD_ENCRYPTION_KEY"]
    lines = path.read_text().splitlines()
    assert lines[0] == "SECRET_KEY=kept"
    assert lines[2] == "DEBUG=true"
    assert len(lines) == 3
    Fernet(parse_env(path, monkeypatch)["FIELD_ENCRYPTION_KEY"])


def test_a_key_set_on_a_later_line_counts_as_set(tmp_path, monkeypatch):
    # django-environ reads a name's last line; an empty earlier line must not get a new key.
    path = tmp_path / ".env"
    original = f"SECRET_KEY=kept\nFIELD_ENCRYPTION_KEY=\nFIELD_ENCRYPTION_KEY={EXISTING_KEY}\n"
    path.write_text(original)

    assert first_run.ensure_env_file(path, {}) == []

    assert path.read_text() == original
    assert parse_env(path, monkeypatch)["FIELD_ENCRYPTION_KEY"] == EXISTING_KEY


def test_with_every_line_empty_the_line_django_environ_reads_is_filled(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("SECRET_KEY=kept\nFIELD_ENCRYPTION_KEY=\nDEBUG=true\nFIELD_ENCRYPTION_KEY=''\n")

    assert first_run.ensure_env_file(path, {}) == ["FIELD_ENCRYPTION_KEY"]

    lines = path.read_text().splitlines()
    assert lines[1] == "FIELD_ENCRYPTION_KEY="
    Fernet(parse_env(path, monkeypatch)["FIELD_ENCRYPTION_KEY"])  # what settings.py will see


def test_an_empty_environment_value_does_not_count_as_set(tmp_path):
    path = tmp_path / ".env"
    assert first_run.ensure_env_file(path, {"FIELD_ENCRYPTION_KEY": "", "SECRET_KEY": ""}) == [
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
    ]


def test_a_second_run_changes_nothing(tmp_path):
    path = tmp_path / ".env"
    first_run.ensure_env_file(path, {})
    written = path.read_text()
    assert first_run.ensure_env_file(path, {}) == []
    assert path.read_text() == written


@pytest.mark.django_db
def test_fixtures_load_into_empty_tables_only(tmp_path):
    staging = ROOT / "fixtures" / "staging_providers.json"
    missing = tmp_path / "absent.json"
    assert first_run.load_fixtures((staging, missing)) == ["staging_providers.json"]
    assert Provider.objects.count() == 3
    assert ModelAlias.objects.filter(name__in=["default", "fast", "smart", "cheap"]).count() == 4
    Provider.objects.filter(name="openrouter").update(priority=99)  # an admin's change
    assert first_run.load_fixtures((staging,)) == []
    assert Provider.objects.get(name="openrouter").priority == 99


@pytest.mark.django_db
def test_the_admin_user_is_created_once(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    password = first_run.ensure_superuser()
    assert password
    user = authenticate(username="admin", password=password)
    assert user is not None and user.is_superuser and user.is_staff
    assert first_run.ensure_superuser() is None
    assert authenticate(username="admin", password=password) is not None
