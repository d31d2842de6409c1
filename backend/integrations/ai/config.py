"""Placeholder (being written): the config snapshot."""


def bump_version() -> None:
    """Record that the configuration changed."""
