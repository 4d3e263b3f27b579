"""Outgoing requests reach only public addresses, however the address is spelled."""

from __future__ import annotations

import pytest

from plg_platform.errors import ValidationFailed
from plg_platform.net import (
    BAD_URL,
    TARGET_REFUSED,
    TARGET_UNRESOLVED,
    UnsafeTarget,
    address_is_public,
    target_resolve,
    url_validate_public,
)

REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:6379/",
    "http://localhost:8000/hook",
    "http://LOCALHOST./hook",
    "http://api.localhost/hook",
    "http://[::1]/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://100.100.100.200/latest/meta-data/",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://255.255.255.255/hook",
    "http://[fe80::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://[64:ff9b::a9fe:a9fe]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://127.1/hook",
    "http://017700000001/hook",
    "https://user:pass@127.0.0.1:443/hook",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_non_public_targets_are_refused_with_one_message_naming_the_field(url):
    with pytest.raises(UnsafeTarget) as refused:
        url_validate_public(url, field="url")

    assert (refused.value.field, refused.value.message) == ("url", TARGET_REFUSED)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("100.127.255.255", False),
        ("100.128.0.1", True),
        ("198.18.0.1", False),
        ("192.0.2.1", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1%eth0", False),
    ],
)
def test_address_is_public(address, public):
    assert address_is_public(address) is public


def test_the_switch_lets_self_hosters_send_to_internal_targets(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    target = target_resolve("http://localhost:8080/hook")

    assert (target.host, target.port, target.address) in {
        ("localhost", 8080, "127.0.0.1"),
        ("localhost", 8080, "::1"),
    }


def test_a_host_that_does_not_resolve_is_saved_but_never_connected_to():
    url = "https://receiver.invalid/hook"  # .invalid never resolves (RFC 6761)

    url_validate_public(url)  # accepted when saved: DNS may be down or not set up yet
    with pytest.raises(ValidationFailed) as unresolved:
        target_resolve(url)

    assert unresolved.value.message == TARGET_UNRESOLVED


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http:///hook", "http://[::1/hook"])
def test_malformed_urls_are_refused_naming_the_field(url):
    with pytest.raises(ValidationFailed) as refused:
        url_validate_public(url, field="url")

    assert (refused.value.field, refused.value.message) == ("url", BAD_URL)


def _self_signed(tmp_path, host: str):
    """A certificate for ``host`` (and its key) written to PEM files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_to_the_pinned_address_verifies_the_certificate_of_the_host_name(
    tmp_path, monkeypatch, settings
):
    import ssl
    import threading
    import urllib.error
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from plg_platform.net import pinned_urlopen

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    cert_file, key_file = _self_signed(tmp_path, "localhost")
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust our certificate only
        trusted = pinned_urlopen(
            urllib.request.Request(f"https://localhost:{port}/hook", data=b"{}", method="POST"),
            timeout=5,
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
        with pytest.raises(urllib.error.URLError) as untrusted:
            pinned_urlopen(
                urllib.request.Request(f"https://localhost:{port}/hook", data=b"{}"), timeout=5
            )
    finally:
        server.shutdown()
        server.server_close()

    assert trusted.status == 204
    assert seen == [f"localhost:{port}"]
    assert isinstance(untrusted.value.reason, ssl.SSLCertVerificationError)
