"""URL normalization (one spelling per page) and the SSRF guard (never fetch internal addresses)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ragdag.errors import PermanentError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_TRACKING_PARAMS = frozenset({"fbclid", "gclid"})
_TRACKING_PREFIXES = ("utm_",)

# RFC 3986 characters allowed unescaped in a path (pchar plus "/") and in a query.
PATH_SAFE = "/:@!$&'()*+,;=-._~%"
QUERY_SAFE = PATH_SAFE + "?"
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeUrlError(PermanentError, ValueError):
    """The URL must not be fetched: wrong scheme, embedded credentials or an internal address."""


def quote_url_component(text: str, safe: str) -> str:
    """Escape what must be escaped, upper-case existing escapes and decode escaped unreserved chars.

    ``%7e``, ``%7E`` and ``~`` (or ``é`` and ``%C3%A9``) are the same URL; this picks one spelling.
    Existing escapes are kept (``%2F`` is not ``/``), so applying it twice changes nothing.
    """

    def canonical(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _ESCAPE.sub(canonical, quote(text, safe=safe))


def _is_tracking_param(pair: str) -> bool:
    key = unquote(pair.partition("=")[0]).lower()
    return key in _TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES)


def _normalize_query(query: str) -> str:
    # The raw ``key=value`` pairs are kept as written (no decode/re-encode round trip) because
    # servers disagree on ``+`` versus ``%20``; a stable sort keeps repeated keys in their order.
    pairs = [quote_url_component(p, QUERY_SAFE) for p in query.split("&") if p]
    kept = [p for p in pairs if not _is_tracking_param(p)]
    return "&".join(sorted(kept, key=lambda p: p.partition("=")[0]))


def _normalize_host(host: str) -> str:
    # Not a valid IDN (e.g. an over-long label): keep the host as written.
    with contextlib.suppress(UnicodeError):
        host = host.encode("idna").decode("ascii")
    return f"[{host}]" if ":" in host else host


def normalize_url(url: str) -> str:
    """The canonical spelling of ``url``, used as the identity of a page.

    Lower-cases scheme and host, drops the default port, the fragment and tracking parameters
    (``utm_*``, ``fbclid``, ``gclid``), sorts the query parameters, strips the trailing slash of a
    non-root path and canonicalizes percent escapes. Idempotent. Raises ``ValueError`` when ``url``
    is not absolute.
    """
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"{url!r} is not an absolute URL: write it as https://host/path")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} has an invalid port: {exc}") from exc
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{_normalize_host(parts.hostname)}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = quote_url_component(parts.path, PATH_SAFE).rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, _normalize_query(parts.query), ""))


def loggable_url(url: str) -> str:
    """``url`` as a log line may show it: no user info, and a query only as ``?…`` (tokens and
    signatures ride in queries); the path stays, it names the page."""
    parts = urlsplit(url.strip())
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def host_key(url: str) -> str:
    """The host of ``url`` as politeness counts hosts: one spelling (lower case, IDNA, no
    trailing dot, no port) for ``https://Bücher.example.:443/`` and ``http://xn--bcher-kva.example/``.
    Raises ``ValueError`` when ``url`` is not absolute."""
    return (urlsplit(normalize_url(url)).hostname or "").rstrip(".")


def _embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address tunnels to (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def internal_address_kind(address: IpAddress) -> str | None:
    """Why ``address`` is internal ("loopback", "private", ...), or None for a public address."""
    # An IPv6 address that tunnels to IPv4 reaches whatever that IPv4 address is.
    address = _embedded_ipv4(address) or address
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),  # ipaddress calls some multicast ranges "global"
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),  # e.g. 100.64.0.0/10 carrier-grade NAT
    )
    return next((kind for kind, matches in checks if matches), None)


def _resolve(host: str, port: int) -> list[IpAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


def check_url_is_safe(url: str, allow_private_networks: bool) -> list[IpAddress]:
    """Raise ``UnsafeUrlError`` unless ``url`` is an http(s) URL whose host is public; return the
    addresses checked, which the caller must connect to (``pinned_adapter``) instead of resolving
    the name again: a second lookup may answer differently (DNS rebinding).

    Every address the host resolves to is checked, since the HTTP client may connect to any of
    them. ``socket.gaierror`` (an ``OSError``) propagates when the host does not resolve: that is
    a network failure, not a verdict on the URL.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeUrlError(f"{url!r}: scheme {scheme!r} is not fetched; only http and https are")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError(f"{url!r} embeds credentials: remove the 'user:password@' part")
    if not parts.hostname:
        raise UnsafeUrlError(f"{url!r} has no host")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UnsafeUrlError(f"{url!r} has an invalid port: {exc}") from exc
    addresses = list(dict.fromkeys(_resolve(parts.hostname, port)))
    if allow_private_networks:
        return addresses
    for address in addresses:
        kind = internal_address_kind(address)
        if kind is not None:
            raise UnsafeUrlError(
                f"{url!r} resolves to {address}, a {kind} address; internal hosts are only "
                "crawled with RAGDAG_ALLOW_PRIVATE_NETWORKS=true (local demos and tests)"
            )
    return addresses
