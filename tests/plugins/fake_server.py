"""Fixtures for the loopback fake provider server."""
