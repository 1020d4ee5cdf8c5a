"""Where webhooks and chat messages may go. An endpoint is a URL someone typed: without a check,
registering ``http://169.254.169.254/...`` or ``http://10.0.0.5/admin`` would make the senders
POST into the site's own network (server-side request forgery). So, unless
HITL_WEBHOOK_ALLOW_PRIVATE is on (the default only with DEBUG, for local receivers):

- a URL naming an internal address (loopback, private, link-local, shared, reserved, or a name
  such as ``localhost`` or ``*.internal``) is refused when it is registered;
- a name is resolved again when a connection is opened, and a connection to a name that resolves
  to an internal address is not opened (a name may point anywhere, and change).

URLs with a user or password in them are refused always: the signature authenticates the sender,
and a password in a URL is shown wherever the URL is.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

INTERNAL_NAMES = ("localhost",)
INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")


def private_allowed() -> bool:
    return bool(getattr(settings, "HITL_WEBHOOK_ALLOW_PRIVATE", False))


def is_internal_ip(address: str) -> bool:
    """Whether ``address`` (an IP literal) is one of the site's own network's; ValueError if it
    is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") goes
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _internal_name(host: str) -> bool:
    return host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES)


def validate_target(url: str) -> None:
    """A model field validator for endpoint and chat webhook URLs (see the module's doc)."""
    parts = urlsplit(url)
    try:
        _ = parts.port  # ValueError when out of range
    except ValueError:
        raise ValidationError("The port is not a valid one.") from None
    if parts.username is not None or parts.password is not None:
        raise ValidationError("No user name or password in the URL: the signature authenticates the sender.")
    if private_allowed():
        return
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        internal = is_internal_ip(host)
    except ValueError:  # a name: checked again whenever a connection is opened
        internal = _internal_name(host)
    if internal:
        raise ValidationError("An internal address: webhooks go to addresses reachable from the internet.")


def connect_refusal(host: str, port: int | None) -> str:
    """Why no connection to ``host`` may be opened ('' when it may): it resolves to an internal
    address. Asked before each new connection (kept ones were asked when they were opened)."""
    if private_allowed():
        return ""
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return ""  # the connection fails on its own and says why
    for *_, sockaddr in found:
        if is_internal_ip(sockaddr[0]):
            return f"Refused: {host} resolves to an internal address ({sockaddr[0]})."
    return ""
