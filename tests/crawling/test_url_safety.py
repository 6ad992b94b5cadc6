"""URL normalization and the SSRF guard."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from ragdag.crawling.fetching.url_safety import UnsafeUrlError, check_url_is_safe, normalize_url

NORMALIZED = [
    ("HTTP://Example.COM/Path", "http://example.com/Path"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("https://example.com:8443/a", "https://example.com:8443/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com/a#section-2", "https://example.com/a"),
    ("https://example.com/a/", "https://example.com/a"),
    ("https://example.com/a//", "https://example.com/a"),
    ("https://example.com/", "https://example.com/"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com?b=1", "https://example.com/?b=1"),
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?b=2&a=1&b=1", "https://example.com/a?a=1&b=2&b=1"),
    (
        "https://example.com/a?utm_source=x&id=7&UTM_Medium=y&fbclid=z&gclid=w",
        "https://example.com/a?id=7",
    ),
    ("https://example.com/a?utm_source=x", "https://example.com/a"),
    ("https://example.com/a?&&x=1&", "https://example.com/a?x=1"),
    ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("https://example.com/%7Euser/a%2Fb", "https://example.com/~user/a%2Fb"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://example.com/search?q=a+b", "https://example.com/search?q=a+b"),
    ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
    ("http://[::1]:8080/x/", "http://[::1]:8080/x"),
    ("  https://example.com/a  ", "https://example.com/a"),
]


@pytest.mark.parametrize(("url", "expected"), NORMALIZED)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", [url for url, _ in NORMALIZED])
def test_normalize_url_is_idempotent(url: str) -> None:
    once = normalize_url(url)
    assert normalize_url(once) == once


@pytest.mark.parametrize("url", ["example.com/a", "/a/b", "", "https://", "mailto:someone"])
def test_normalize_url_rejects_relative_urls(url: str) -> None:
    with pytest.raises(ValueError, match="not an absolute URL"):
        normalize_url(url)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.8.9.10:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fc00::1]/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata service
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://100.64.0.1/", "non-public"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://localhost/", "loopback"),
    ],
)
def test_internal_addresses_are_refused(url: str, kind: str) -> None:
    with pytest.raises(UnsafeUrlError, match=f"a {kind} address"):
        check_url_is_safe(url, allow_private_networks=False)


@pytest.mark.parametrize(
    "url",
    ["http://93.184.216.34/", "https://[2606:4700:4700::1111]/", "http://[64:ff9b::5db8:d822]/"],
)
def test_public_addresses_pass(url: str) -> None:
    check_url_is_safe(url, allow_private_networks=False)


def test_private_networks_can_be_allowed() -> None:
    check_url_is_safe("http://127.0.0.1:8080/", allow_private_networks=True)
    check_url_is_safe("http://10.0.0.1/", allow_private_networks=True)


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "javascript:alert(1)", "gopher://x/"])
def test_only_http_and_https_schemes(url: str) -> None:
    with pytest.raises(UnsafeUrlError, match="only http and https"):
        check_url_is_safe(url, allow_private_networks=True)


@pytest.mark.parametrize("url", ["https://user:secret@example.com/", "https://user@example.com/"])
def test_credentials_in_url_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrlError, match="credentials"):
        check_url_is_safe(url, allow_private_networks=True)


def _fake_resolver(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return getaddrinfo


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding style: a public name that also resolves to an internal address.
    monkeypatch.setattr(socket, "getaddrinfo", _fake_resolver("93.184.216.34", "10.1.2.3"))
    with pytest.raises(UnsafeUrlError, match=r"10\.1\.2\.3, a private address"):
        check_url_is_safe("https://news.example.com/a", allow_private_networks=False)


def test_public_name_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _fake_resolver("93.184.216.34"))
    check_url_is_safe("https://news.example.com/a", allow_private_networks=False)


def test_unresolvable_host_raises_gaierror(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(socket.gaierror):
        check_url_is_safe("https://no-such-host.invalid/", allow_private_networks=False)
