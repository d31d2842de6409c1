"""A real headless Chromium against the app served by uvicorn, for the admin's browser tests.

- The app runs under ASGI (uvicorn, in a thread of the test process, on 127.0.0.1 and an ephemeral
  port) against pytest-django's test database, so the playground's reply really streams. The
  server's threads use their own database connections: the tests use `transactional_db`, whose
  rows are committed and visible to them.
- The browser is Debian's Chromium (`apt-get install chromium`; `make test` installs it when it is
  missing), driven by Playwright's Python package with `executable_path`: Playwright never
  downloads a browser here. One browser serves each test module; each test gets a fresh context
  (cookies, storage) and page. Chromium's background networking is off: this machine's closed
  network refuses those connections.
- These tests are never skipped: without Chromium or Playwright they fail and say how to fix it.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password"
TIMEOUT_MS = 10_000
_ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


class LiveServer:
    """uvicorn serving the project's ASGI app from a daemon thread."""

    def __init__(self) -> None:
        import uvicorn

        from backend.panel.asgi import application

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            application, lifespan="off", log_level="warning", access_log=False, ws="none", loop="asyncio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="uvicorn", daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start; see the log above.")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="session")
def live_app(django_db_setup: Any, django_db_blocker: Any) -> Iterator[LiveServer]:
    """The app under uvicorn, for the whole session (started after the test database exists)."""
    server = LiveServer().start()
    try:
        yield server
    finally:
        server.stop()
        from django.db import connections

        with django_db_blocker.unblock():
            connections.close_all()


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(
            f"Playwright is not installed ({exc}): run `make test`, which installs requirements-dev.txt."
        )
    return sync_playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium, shared by the tests of a module.

    While Playwright's sync API is open it keeps an asyncio loop running on the main thread (its
    dispatcher greenlet), so Django's ORM, called from the tests and the database fixtures, would
    refuse to run (SynchronousOnlyOperation): DJANGO_ALLOW_ASYNC_UNSAFE is set for that time only.
    The async views' own safety is tested without it (tests/integrations/ai/test_admin_tools.py).
    It is closed with its module, before pytest-asyncio's tests need the loop slot again.
    """
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}{'; found ' + found if found else ''}): the browser tests need "
            "Debian's chromium package. Run `make test`, which installs it (apt-get install chromium)."
        )
    sync_playwright = _playwright()
    previous = os.environ.get(_ASYNC_UNSAFE)
    os.environ[_ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            # Playwright gives every launch a fresh, empty --user-data-dir of its own.
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop(_ASYNC_UNSAFE, None)
        else:
            os.environ[_ASYNC_UNSAFE] = previous


@pytest.fixture
def app(live_app: LiveServer, transactional_db: None, settings: Any) -> LiveServer:
    """The live app for one test, with fast password hashing (logging in is not what is measured)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return live_app


@pytest.fixture
def page(browser: Any, app: LiveServer) -> Iterator[Any]:
    """A fresh browser context and page, addressed relative to the live app."""
    context = browser.new_context(base_url=app.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def superuser_password() -> str:
    return PASSWORD


@pytest.fixture
def superuser(app: LiveServer) -> User:
    return User.objects.create_superuser("root", email="root@example.com", password=PASSWORD)


@pytest.fixture
def logged_in(page: Any, superuser: User, app: LiveServer) -> Any:
    """The page with a superuser's session cookie already set (the login form has its own test)."""
    client = Client()
    client.force_login(superuser)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": app.url}])
    return page
