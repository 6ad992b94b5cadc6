"""A requests transport that connects to the addresses the SSRF guard checked, not to a new lookup.

``check_url_is_safe`` resolves a host and vets every address; if ``requests`` then resolved the
name again, a DNS server answering differently the second time (DNS rebinding) could send the
request to 127.0.0.1 or 169.254.169.254. Here only the TCP connect is redirected to the checked
addresses: the URL keeps its host name, so the Host header, TLS SNI and certificate verification
are all for the name, exactly as without pinning.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from requests.exceptions import InvalidURL
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.poolmanager import SSL_KEYWORDS
from urllib3.util.connection import create_connection

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Pools kept open per adapter (one per origin and address set); the oldest closes beyond this.
_MAX_POOLS = 64
Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _pinned_connection(base: type[HTTPConnection], addresses: tuple[str, ...]) -> type[HTTPConnection]:
    class PinnedConnection(base):  # type: ignore[valid-type, misc]
        """Connects to ``addresses`` in order (as a resolver's answer would be tried)."""

        def _new_conn(self) -> socket.socket:
            error: Exception | None = None
            for address in addresses:
                try:
                    return create_connection(
                        (address, self.port),
                        self.timeout,
                        source_address=self.source_address,
                        socket_options=self.socket_options,
                    )
                except TimeoutError as exc:
                    error = ConnectTimeoutError(
                        self, f"Connection to {self.host} ({address}) timed out. (connect timeout={self.timeout})"
                    )
                    error.__cause__ = exc
                except OSError as exc:
                    error = NewConnectionError(self, f"Failed to establish a new connection to {address}: {exc}")
                    error.__cause__ = exc
            raise error or NewConnectionError(self, "no checked address to connect to")

    return PinnedConnection


class PinnedAddressAdapter(HTTPAdapter):
    """Sends each request over a connection to the addresses ``pin`` gave for its origin.

    A request to an origin that was never pinned is refused: the fetcher pins after every check,
    so an unpinned one would be a request that skipped the guard. Requests through a proxy are left
    to the proxy (it resolves the name; the check then vets what this machine resolves).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pins: dict[Origin, tuple[str, ...]] = {}
        self._pools: dict[tuple[Any, ...], HTTPConnectionPool] = {}

    def pin(self, url: str, addresses: Iterable[object]) -> None:
        """Connect requests to the origin of ``url`` to ``addresses`` (until pinned again)."""
        self._pins[origin_of(url)] = tuple(str(address) for address in addresses)

    def get_connection_with_tls_context(
        self,
        request: Any,
        verify: Any,
        proxies: dict[str, str] | None = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        if select_proxy(request.url, proxies):
            return super().get_connection_with_tls_context(request, verify, proxies, cert)
        origin = origin_of(request.url)
        addresses = self._pins.get(origin)
        if not addresses:
            raise InvalidURL(f"{origin[1]} was not checked by the SSRF guard", request=request)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        key = (origin, addresses, tuple(sorted(pool_kwargs.items(), key=lambda item: item[0])))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._new_pool(host_params, pool_kwargs, addresses)
            self._pools[key] = pool
            if len(self._pools) > _MAX_POOLS:
                self._pools.pop(next(iter(self._pools))).close()
        return pool

    def _new_pool(
        self, host_params: dict[str, Any], pool_kwargs: dict[str, Any], addresses: tuple[str, ...]
    ) -> HTTPConnectionPool:
        scheme = host_params["scheme"]
        context = {**self.poolmanager.connection_pool_kw, **pool_kwargs}
        if scheme == "https":
            pool_cls: type[HTTPConnectionPool] = HTTPSConnectionPool
            connection_cls: type[HTTPConnection] = HTTPSConnection
        else:
            pool_cls, connection_cls = HTTPConnectionPool, HTTPConnection
            for keyword in SSL_KEYWORDS:
                context.pop(keyword, None)
        pool = pool_cls(host_params["host"], host_params["port"], **context)
        pool.ConnectionCls = _pinned_connection(connection_cls, addresses)
        return pool

    def close(self) -> None:
        super().close()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
