"""Validation of provider settings: base URLs (no calls into cloud metadata) and extra headers.

`validate_base_url` decides from the URL's text alone; it never resolves a hostname, so saving a
row makes no DNS query. Link-local and cloud-metadata addresses are refused always (a base URL is
where the registry sends an API key). Loopback and private-network addresses are refused unless
`settings.AI_ALLOW_PRIVATE_BASE_URLS` is on (its default follows DEBUG), so local Ollama, vLLM
and LM Studio work in development. Every message says how to fix the value.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any, Final
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES: Final = frozenset({"http", "https"})

# Cloud instance-metadata endpoints: AWS/GCP/Azure/OpenStack (169.254.169.254 is link-local and
# covered by the range), AWS over IPv6, Alibaba Cloud.
_ALWAYS_REFUSED_NETWORKS: Final = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fd00:ec2::254/128"),
    ipaddress.ip_network("100.100.100.200/32"),
)
_METADATA_HOSTNAMES: Final = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})

# Header names that carry credentials: those belong in the encrypted key field.
AUTH_HEADER_NAMES: Final = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie"}
)
# Words in a header name that say it carries a secret (Ocp-Apim-Subscription-Key, X-Auth-Token...).
SECRET_HEADER_WORDS: Final = (
    "key",
    "token",
    "secret",
    "auth",
    "password",
    "signature",
    "credential",
    "cookie",
)
# Values that are credentials whatever the header is called.
_SECRET_VALUE = re.compile(
    r"^\s*(bearer|basic)\s+\S|(^|[^A-Za-z0-9])(sk|rk)-[A-Za-z0-9_-]{16,}", re.IGNORECASE
)
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def is_secret_header(name: str, value: object = "") -> bool:
    """Does this extra header carry a credential (by its name, or by a value shaped like a key)?"""
    lowered = name.lower()
    if lowered in AUTH_HEADER_NAMES or any(word in lowered for word in SECRET_HEADER_WORDS):
        return True
    return isinstance(value, str) and bool(_SECRET_VALUE.search(value))


_NUMERIC_HOST = re.compile(r"[0-9a-fA-Fx.]+")

_PRIVATE_FIX: Final = (
    "set AI_ALLOW_PRIVATE_BASE_URLS=true to allow local servers such as Ollama, vLLM or LM Studio"
)


def _host_address(host: str) -> IPAddress | None:
    """The IP address a host names literally (including 127.1 and 2130706433), or None for a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_HOST.fullmatch(host) or not any(ch.isdigit() for ch in host):
            return None
        try:
            # The forms C's inet_aton accepts (and so do HTTP clients): 127.1, 0x7f.0.0.1, 2130706433.
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _check_address(address: IPAddress, host: str) -> None:
    if any(address in network for network in _ALWAYS_REFUSED_NETWORKS):
        raise ValidationError(
            f"{host} is a link-local or cloud-metadata address, which is never allowed as a base "
            "URL: enter the provider's public URL, or a loopback/private address for a local server.",
            code="metadata_address",
        )
    if address.is_global or settings.AI_ALLOW_PRIVATE_BASE_URLS:
        return
    kind = "a loopback" if address.is_loopback or address.is_unspecified else "a private-network"
    raise ValidationError(f"{host} is {kind} address: {_PRIVATE_FIX}.", code="private_address")


def _check_hostname(host: str) -> None:
    name = host.rstrip(".")
    if name in _METADATA_HOSTNAMES:
        raise ValidationError(
            f"{name} is a cloud-metadata host, which is never allowed as a base URL: enter the "
            "provider's public URL.",
            code="metadata_address",
        )
    is_local = name == "localhost" or name.endswith(".localhost")
    if is_local and not settings.AI_ALLOW_PRIVATE_BASE_URLS:
        raise ValidationError(f"{name} is a loopback host: {_PRIVATE_FIX}.", code="private_address")


def validate_base_url(value: str) -> None:
    """Refuse base URLs that are not http(s) or that point at forbidden addresses.

    Blank is allowed: it means the kind's official URL.
    """
    value = (value or "").strip()
    if not value:
        return
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ValidationError(
            "Enter a valid URL such as https://api.openai.com/v1 (the host or port is malformed).",
            code="invalid",
        ) from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        raise ValidationError(
            "Enter an http:// or https:// URL with a host, e.g. https://api.openai.com/v1 or "
            "http://localhost:11434/v1.",
            code="invalid_scheme",
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "Remove the user name and password from the URL: put the key in the API key field, "
            "where it is stored encrypted.",
            code="credentials_in_url",
        )
    if parts.query or parts.fragment or "?" in value:
        # The client appends paths to the base URL, so a query string never works there, and it
        # is where a pasted key (`?api-key=...`, `?key=...`) would be stored and shown in plain text.
        raise ValidationError(
            "Remove the query string (the part from ? on) from the base URL: put an Azure "
            "api-version in the API version field and the key in the API key field, where it is "
            "stored encrypted.",
            code="query_in_url",
        )
    address = _host_address(parts.hostname)
    if address is None:
        _check_hostname(parts.hostname)
    else:
        _check_address(address, parts.hostname)


# Headers the HTTP layer itself owns: a key sent in one of them would break the request.
_RESERVED_HEADERS: Final = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection", "accept", "user-agent"}
)


def validate_key_header_name(value: str) -> None:
    """The header a gateway reads its key from (Ocp-Apim-Subscription-Key): a plain header name."""
    if not value:
        return
    if not _HEADER_NAME.fullmatch(value) or len(value) > 64:
        raise ValidationError(
            f"{value!r} is not an HTTP header name: use letters, digits and dashes, "
            "e.g. Ocp-Apim-Subscription-Key.",
            code="bad_header_name",
        )
    if value.lower() in _RESERVED_HEADERS:
        raise ValidationError(f"{value} is set by the HTTP client itself; name the gateway's key header.")


def validate_extra_headers(value: Any) -> None:
    """Extra headers must be a JSON object of header name -> string, with no credentials in it."""
    if value in (None, ""):
        return
    if not isinstance(value, dict):
        raise ValidationError(
            'Enter a JSON object of header names and values, e.g. {"HTTP-Referer": "https://example.com"}.',
            code="not_object",
        )
    for name, header_value in value.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValidationError(
                f"{name!r} is not a valid HTTP header name: use letters, digits and dashes.",
                code="bad_header_name",
            )
        if is_secret_header(name, header_value):
            raise ValidationError(
                f"Do not put credentials in extra headers ({name} looks like one; they are stored and "
                "shown in plain text): enter the key in the API key field, where it is stored encrypted.",
                code="auth_header",
            )
        if not isinstance(header_value, str) or "\n" in header_value or "\r" in header_value:
            raise ValidationError(
                f"The value of {name} must be a single-line string, e.g. "
                '{"X-Title": "Panel"}; numbers and lists are not header values.',
                code="bad_header_value",
            )


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def validate_env_var_name(value: str) -> None:
    """The name of an environment variable (OPENAI_API_KEY), never a pasted key."""
    if value and not _ENV_NAME.fullmatch(value):
        raise ValidationError(
            "Enter the name of an environment variable, such as OPENAI_API_KEY, not the key "
            "itself: paste keys into the API key field.",
            code="env_name",
        )
