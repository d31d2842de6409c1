"""Placeholder: base URL validation (being written)."""


def validate_base_url(value: str) -> None:
    """Refuse base URLs that are not http(s) or that point at forbidden addresses."""
