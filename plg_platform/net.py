"""Outgoing HTTP to user-given URLs (webhooks) without server-side request forgery.

A URL is safe when every address its host resolves to is public: not private, loopback,
link-local (which holds the cloud metadata address 169.254.169.254), unspecified, multicast,
reserved or shared (CGNAT, 100.64.0.0/10). IPv6 addresses that embed an IPv4 address
(IPv4-mapped, 6to4, Teredo, NAT64) are judged by the embedded address. Resolution is the
system resolver's, so every spelling it accepts (``2130706433``, ``0177.0.0.1``, ``127.1``,
``[::ffff:127.0.0.1]``) is judged by the address it means.

Checking a name and then connecting to it would resolve it twice, and a DNS answer can change
in between (DNS rebinding). ``pinned_urlopen`` therefore resolves once, checks, and connects
to the address it checked; the URL's host name still goes in the ``Host`` header and in TLS
(SNI and certificate verification). Redirects are never followed and environment proxies are
never used. ``WEBHOOK_ALLOW_PRIVATE_TARGETS = True`` (env ``WEBHOOK_ALLOW_PRIVATE_TARGETS=1``)
lets self-hosters send to internal receivers; the address is still pinned.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from plg_platform.errors import ValidationFailed

# One message for every refused target, whatever its address or port: the answer must not
# tell a caller anything about the network behind the server.
TARGET_REFUSED = (
    "This URL points to a private, loopback, link-local or otherwise non-public address; "
    "webhooks are only sent to public addresses."
)
TARGET_UNRESOLVED = "The URL's host name does not resolve."
CONNECTION_FAILED = "Could not reach the receiver."
BAD_URL = "Enter an http:// or https:// URL with a host name."

_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # CGNAT, RFC 6598
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(ValidationFailed):
    """The URL's host is, or resolves to, an address we refuse to connect to."""


def address_is_public(address: str) -> bool:
    """Return whether ``address`` (an IP literal) is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_is_public(str(embedded))
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or ip in _SHARED_ADDRESS_SPACE
        or not ip.is_global
    )


def _private_targets_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False))


@dataclass(frozen=True)
class Target:
    """Where a URL leads: its host name, port and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    address: str


def _split(url: str, field: str) -> tuple[str, str, int]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValidationFailed(BAD_URL, field=field) from error
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(BAD_URL, field=field)
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


def target_resolve(url: str, *, field: str = "url") -> Target:
    """Resolve ``url``'s host once and return a target whose every address is allowed.

    Raise ``UnsafeTarget`` (naming ``field``) when any address is refused, and
    ``ValidationFailed`` when the URL is malformed or its host does not resolve.
    """
    scheme, host, port = _split(url, field)
    name = host.rstrip(".").lower()
    if not _private_targets_allowed() and (name == "localhost" or name.endswith(".localhost")):
        raise UnsafeTarget(TARGET_REFUSED, field=field)  # loopback by definition (RFC 6761)
    try:
        addresses = _resolve(host, port)
    except (OSError, UnicodeError) as error:
        raise ValidationFailed(TARGET_UNRESOLVED, field=field) from error
    if not addresses:
        raise ValidationFailed(TARGET_UNRESOLVED, field=field)
    if not _private_targets_allowed() and not all(address_is_public(a) for a in addresses):
        raise UnsafeTarget(TARGET_REFUSED, field=field)
    return Target(scheme=scheme, host=host, port=port, address=addresses[0])


def url_validate_public(url: str, *, field: str = "url") -> None:
    """Refuse ``url`` when its host is, or resolves to, a non-public address.

    For saving a URL. A name that does not resolve now is accepted (DNS may be down, or the
    receiver not set up yet): every connection checks again through ``pinned_urlopen``.
    """
    try:
        target_resolve(url, field=field)
    except UnsafeTarget:
        raise
    except ValidationFailed as error:
        if error.message != TARGET_UNRESOLVED:
            raise


# --- Connecting to the checked address ---------------------------------------------------------


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and certificate verification against the URL's host name, not the address.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self._address = address

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPConnection:
            return _PinnedHTTPConnection(host, address=self._address, **kwargs)

        return self.do_open(connection, req)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str) -> None:
        super().__init__()
        self._address = address

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        def connection(host: str, **kwargs: Any) -> http.client.HTTPSConnection:
            return _PinnedHTTPSConnection(host, address=self._address, **kwargs)

        return self.do_open(connection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a 3xx is an answer, never a request to another address."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def pinned_urlopen(request: urllib.request.Request, *, timeout: float) -> Any:
    """Open ``request`` like ``urllib.request.urlopen``, connecting only to a checked address.

    Raise ``UnsafeTarget`` before any connection when the host is refused, ``ValidationFailed``
    when it does not resolve; otherwise what ``urlopen`` raises (``HTTPError`` on 4xx/5xx/3xx).
    """
    target = target_resolve(request.full_url)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _NoRedirects,
        _PinnedHTTPHandler(target.address),
        _PinnedHTTPSHandler(target.address),
    )
    return opener.open(request, timeout=timeout)
