"""A config change made by one process reaches another running process: within the check
interval through the database stamp (default local-memory cache), at once through Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_FIELD_ENCRYPTION_KEY

ROOT = Path(__file__).resolve().parents[3]

SETUP = """
import django; django.setup()
from backend.integrations.ai.models import ModelAlias, ModelRoute, Provider
url = "http://127.0.0.1:9/v1"
a = Provider.objects.create(name="a", kind="openai", base_url=url, api_key="sk-test-a", priority=10)
b = Provider.objects.create(name="b", kind="openai", base_url=url, api_key="sk-test-b", priority=20)
alias = ModelAlias.objects.create(name="default")
ModelRoute.objects.create(alias=alias, provider=a, model="gpt-4o-mini")
ModelRoute.objects.create(alias=alias, provider=b, model="gpt-4o-mini")
"""

WATCH = """
import time, django; django.setup()
from backend.integrations.ai import config, router
assert router.resolve(config.current(), None).candidates[0].name == "a"
print("ready", flush=True)
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    if router.resolve(config.current(), None).candidates[0].name == "b":
        print("seen", time.time(), flush=True)
        break
    time.sleep(0.01)
else:
    print("never", flush=True)
"""

CHANGE = """
import time, django; django.setup()
from backend.integrations.ai.models import Provider
Provider.objects.filter(name="a").update(priority=99)
print(time.time(), flush=True)
"""


def _env(db_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="backend.panel.settings",
        DATABASE_URL=f"sqlite:///{db_path}",
        FIELD_ENCRYPTION_KEY=TEST_FIELD_ENCRYPTION_KEY,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def _run(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with the two providers, made once and copied per test."""
    db = tmp_path_factory.mktemp("propagation") / "template.sqlite3"
    env = _env(db)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    _run(SETUP, env)
    return db


def _delay_seen(template: Path, tmp_path: Path, **extra: str) -> float:
    db = tmp_path / "shared.sqlite3"
    shutil.copyfile(template, db)
    env = _env(db, **extra)
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCH],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout.readline().strip() == "ready", watcher.stderr.read()
        changed_at = float(_run(CHANGE, env).strip())
        line = watcher.stdout.readline().split()
        watcher.wait(timeout=20)
    finally:
        watcher.kill()
    assert line and line[0] == "seen", f"the other process never saw the change: {line}"
    return float(line[1]) - changed_at


def test_another_process_sees_a_change_within_the_check_interval(migrated_db, tmp_path):
    delay = _delay_seen(migrated_db, tmp_path, AI_CONFIG_CHECK_INTERVAL="1.0")
    assert delay <= 1.0 + 0.3  # the poll interval plus scheduling slack on a busy 2-core machine


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs Redis on 127.0.0.1:6379 (CI has it)")
def test_with_redis_every_process_sees_a_change_at_once(migrated_db, tmp_path):
    # A 60 s poll interval: only the shared cache can carry the change this fast.
    delay = _delay_seen(
        migrated_db, tmp_path, AI_CONFIG_CHECK_INTERVAL="60", CACHE_URL="redis://127.0.0.1:6379/14"
    )
    assert delay < 1.0
