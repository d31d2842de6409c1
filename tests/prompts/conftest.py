"""Fixtures for the CMS tests (defined in tests/cms_support.py)."""

from tests.cms_support import _fresh_registry_state, admin_client_logged_in, routing

__all__ = ["_fresh_registry_state", "admin_client_logged_in", "routing"]
