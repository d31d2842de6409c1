"""Fixtures for the registry: config snapshot and cache reset between tests."""
