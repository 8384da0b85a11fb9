"""Callback URLs: https to public addresses only, unless an operator allows a private one."""

from __future__ import annotations

import pytest

from core.webhook_target import AllowList, TargetRefusedError, check_target


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    """Return a resolver that answers these addresses for any host."""
    return lambda host, port: list(addresses)


NOTHING = AllowList()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "non-public"),
        ("10.1.2.3", "non-public"),
        ("172.16.0.9", "non-public"),
        ("192.168.1.1", "non-public"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("169.254.10.10", "non-public"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("::1", "non-public"),
        ("fe80::1", "non-public"),
        ("fc00::5", "non-public"),
        ("::ffff:127.0.0.1", "non-public"),
        ("224.0.0.1", "non-public"),
        ("239.255.255.250", "non-public"),
        ("240.0.0.1", "non-public"),
        ("0.0.0.0", "non-public"),
    ],
)
def test_a_host_with_a_non_public_address_is_refused(address: str, reason: str) -> None:
    with pytest.raises(TargetRefusedError, match=reason):
        check_target("https://hooks.example.com/x", NOTHING, resolver(address))


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    with pytest.raises(TargetRefusedError, match=r"10\.0\.0\.1"):
        check_target("https://hooks.example.com/x", NOTHING, resolver("93.184.215.14", "10.0.0.1"))


def test_a_public_https_target_keeps_its_vetted_addresses() -> None:
    target = check_target(
        "https://Hooks.Example.com:8443/in?x=1", NOTHING, resolver("93.184.215.14")
    )
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/in?x=1")
    assert target.addresses == ("93.184.215.14",)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https:///x", "no host"),
        ("https://hooks.example.com:99999/x", "port"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://hooks.example.com/" + "a" * 2100, "longer"),
    ],
)
def test_odd_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(TargetRefusedError, match=reason):
        check_target(url, NOTHING, resolver("93.184.215.14"))


def test_a_name_that_does_not_resolve_is_refused() -> None:
    def fails(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(TargetRefusedError, match="does not resolve"):
        check_target("https://nowhere.invalid/x", NOTHING, fails)


def test_the_allow_list_opens_private_hosts_and_networks_and_http_to_them() -> None:
    allow = AllowList.parse("127.0.0.1, 10.20.0.0/16 ,receiver.lab.local")
    assert check_target("http://127.0.0.1:9/x", allow, resolver("127.0.0.1")).scheme == "http"
    assert check_target("https://h.lab/x", allow, resolver("10.20.3.4")).addresses == ("10.20.3.4",)
    assert check_target("http://receiver.lab.local/x", allow, resolver("192.168.9.9"))
    with pytest.raises(TargetRefusedError, match="non-public"):
        check_target("https://h.lab/x", allow, resolver("10.21.0.1"))
    with pytest.raises(TargetRefusedError, match="https"):  # http only to allowed hosts
        check_target("http://hooks.example.com/x", allow, resolver("93.184.215.14"))


def test_metadata_addresses_stay_refused_even_when_allowed() -> None:
    allow = AllowList.parse("169.254.0.0/16,fd00::/8")
    for address in ("169.254.169.254", "fd00:ec2::254"):
        with pytest.raises(TargetRefusedError, match="metadata"):
            check_target("https://h/x", allow, resolver(address))
