"""Static files are served with DEBUG off while SERVE_STATIC is on (the default for `make run`)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("debug", [False, True])
def test_admin_css_is_served_with_or_without_debug(client, settings, debug):
    settings.DEBUG = debug
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert not response.streaming
    assert b"body" in response.content


def test_unknown_static_file_is_404(client, settings):
    settings.DEBUG = False
    assert client.get("/static/admin/css/no-such-file.css").status_code == 404


def test_root_redirects_to_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == "/admin/"
