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
