"""HTTPS through the pinned transport: the TCP connection goes to the checked address, while SNI
and certificate verification stay with the host name (a real TLS server on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from http_server import LocalHttpServer, html

from ragdag.crawling.fetching.fetcher import Fetcher, PermanentFetchError, TransientFetchError
from ragdag.settings import Settings

HOST = "pinned.test"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for HOST signed by it: (ca, cert, key) PEM files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("ragdag test CA"))
        .issuer_name(_name("ragdag test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalHttpServer, Path, list[str | None]]]:
    """An HTTPS server on 127.0.0.1 for HOST; yields it, the CA file and the SNI names it saw."""
    ca, cert, key = make_certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)
    server = LocalHttpServer()
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    server.start()
    try:
        yield server, ca, server_names
    finally:
        server.stop()


def _resolve_to_loopback(*names: str) -> Any:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]
        return real(host, port, *args, **kwargs)

    return getaddrinfo


def _fetcher(ca: Path) -> Fetcher:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace our CA
    session.verify = str(ca)
    settings = Settings(allow_private_networks=True, per_host_delay_s=0.0, http_timeout_s=5.0)
    return Fetcher(settings, session=session, max_retries=0)


def test_https_keeps_sni_and_certificate_checks_for_the_host_name(tls_server, monkeypatch) -> None:
    server, ca, server_names = tls_server
    server.route("/page", html("over TLS"))
    monkeypatch.setattr(socket, "getaddrinfo", _resolve_to_loopback(HOST))
    fetcher = _fetcher(ca)
    try:
        result = fetcher.fetch(f"https://{HOST}:{server.port}/page")
    finally:
        fetcher.close()
    assert b"over TLS" in result.content
    assert set(server_names) == {HOST}  # SNI named the host, not 127.0.0.1
    assert {hit.host for hit in server.hits} == {HOST}


def test_https_certificate_of_another_name_is_refused(tls_server, monkeypatch) -> None:
    server, ca, _ = tls_server
    server.route("/page", html("over TLS"))
    monkeypatch.setattr(socket, "getaddrinfo", _resolve_to_loopback("impostor.test"))
    fetcher = _fetcher(ca)
    try:
        with pytest.raises((TransientFetchError, PermanentFetchError), match="(?i)certificate|hostname"):
            fetcher.fetch(f"https://impostor.test:{server.port}/page")
    finally:
        fetcher.close()
    assert server.hits == []
