"""The webhook address policy without I/O: what each address is, what the policy and its settings
allow, the messages, and the backend that connects only to checked addresses (a fake resolver and a
fake socket layer stand in for the network)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from syncd.engine_options import webhook_options
from syncd.netpolicy import AddressPolicy, AddressRefused, GuardedBackend, check_target, classify
from syncd.settings import load_settings

pytestmark = pytest.mark.unit

ip = ipaddress.ip_address
ANY = "0.0.0.0"  # noqa: S104  # an address under test: nothing binds to it

KINDS = {
    "loopback": ["127.0.0.1", "127.255.255.254", "::1"],
    "link-local": ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"],
    "private": ["10.0.0.5", "172.16.0.1", "172.31.255.254", "192.168.1.1", "192.0.2.7", "198.18.0.1"],
    "unique-local": ["fc00::1", "fd12:3456::1"],
    "shared (CGNAT)": ["100.64.0.1", "100.127.255.254"],
    "unspecified": [ANY, "::", "0.1.2.3"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1"],
    "reserved": ["240.0.0.1", "255.255.255.255", "::7f00:1"],
}
PUBLIC = [
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]
# An IPv6 address carrying a refused IPv4 one is refused as that one.
EMBEDDED = {
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped: the kernel connects to 127.0.0.1
    "::ffff:169.254.169.254": "link-local",
    "::ffff:a00:5": "private",  # ::ffff:10.0.0.5
    "64:ff9b::a00:5": "private",  # NAT64 of 10.0.0.5 (64:ff9b::808:808, of 8.8.8.8, is public)
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1": "link-local",  # 6to4 of 169.254.169.254
}


@pytest.mark.parametrize(("address", "kind"), [(a, k) for k, found in KINDS.items() for a in found])
def test_every_kind_of_address_that_is_not_public_is_named(address: str, kind: str) -> None:
    assert classify(ip(address)) == kind
    assert AddressPolicy().refusal(ip(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(ip(address)) is None


@pytest.mark.parametrize(("address", "kind"), EMBEDDED.items())
def test_an_ipv4_address_inside_an_ipv6_one_is_checked(address: str, kind: str) -> None:
    assert AddressPolicy().refusal(ip(address)) == kind


def test_teredo_is_refused_by_default() -> None:
    # Teredo 2001::/32 (server 65.54.227.120, client 192.0.2.45 obfuscated).
    assert not AddressPolicy().is_allowed(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2"))


def test_allow_private_allows_local_networks_but_never_unspecified_multicast_or_reserved() -> None:
    policy = AddressPolicy(allow_private=True)
    for kind in ("loopback", "link-local", "private", "unique-local", "shared (CGNAT)"):
        assert all(policy.is_allowed(ip(a)) for a in KINDS[kind]), kind
    assert policy.is_allowed(ip("::ffff:127.0.0.1"))
    for kind in ("unspecified", "multicast", "reserved"):
        assert [policy.refusal(ip(a)) for a in KINDS[kind]] == [kind] * len(KINDS[kind])


def test_an_allow_list_allows_exactly_its_networks_even_reserved_never_unspecified_or_multicast() -> None:
    policy = AddressPolicy.from_settings(False, ["127.0.0.0/8", "240.0.0.0/8", "0.0.0.0/8", "224.0.0.0/4"])
    assert policy.is_allowed(ip("127.0.0.1"))
    assert policy.is_allowed(ip("::ffff:127.0.0.1"))  # the mapped form is the same host
    assert policy.is_allowed(ip("240.0.0.1"))
    assert policy.refusal(ip("::1")) == "loopback"  # IPv6 loopback is not in 127.0.0.0/8
    assert policy.refusal(ip("10.0.0.5")) == "private"
    assert policy.refusal(ip(ANY)) == "unspecified"
    assert policy.refusal(ip("224.0.0.1")) == "multicast"


def test_the_settings_build_the_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert webhook_options(load_settings()).policy == AddressPolicy()
    monkeypatch.setenv("SYNCD_WEBHOOK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("SYNCD_WEBHOOK_ALLOW_CIDRS", "10.20.0.0/16, fd00::/8")
    policy = webhook_options(load_settings()).policy
    assert policy.allow_private
    assert policy.allow_cidrs == (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd00::/8"))


def _resolver(answers: dict[str, list[str]]) -> AddressPolicy:
    return AddressPolicy(resolver=lambda host, port: [ip(a) for a in answers[host]])


def test_one_refused_address_refuses_the_name_with_a_message_naming_it_and_the_settings() -> None:
    policy = _resolver({"hooks.example.test": ["93.184.215.14", "10.0.0.5"], "10.0.0.5": ["10.0.0.5"]})
    with pytest.raises(AddressRefused) as caught:
        policy.checked_addresses("hooks.example.test", 443)
    assert str(caught.value) == (
        "hooks.example.test resolves to 10.0.0.5, which is private: refused by webhook policy "
        "(webhook_allow_private / webhook_allow_cidrs)"
    )
    with pytest.raises(AddressRefused) as caught:
        policy.checked_addresses("10.0.0.5", 80)
    assert str(caught.value) == (
        "address 10.0.0.5 is private: refused by webhook policy (webhook_allow_private / webhook_allow_cidrs)"
    )


def test_a_message_shows_the_ipv4_address_an_ipv6_one_was_refused_for() -> None:
    policy = _resolver({"mapped.example.test": ["2002:a9fe:a9fe::1"]})
    with pytest.raises(AddressRefused) as caught:
        policy.checked_addresses("mapped.example.test", 80)
    assert str(caught.value).startswith(
        "mapped.example.test resolves to 2002:a9fe:a9fe::1 (169.254.169.254), which is link-local: "
    )


def test_messages_say_when_only_the_allow_list_or_nothing_allows_an_address() -> None:
    assert str(AddressRefused("240.0.0.1", ip("240.0.0.1"), "reserved")).endswith("(webhook_allow_cidrs)")
    assert str(AddressRefused(ANY, ip(ANY), "unspecified")).endswith("(never allowed)")


def test_check_target_resolves_the_urls_host_and_default_port() -> None:
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        asked.append((host, port))
        return [ip("93.184.215.14")]

    policy = AddressPolicy(resolver=resolver)
    check_target("https://hooks.example.test/x", policy)
    check_target("http://hooks.example.test/x", policy)
    check_target("http://[2606:4700::1]:8080/x", policy)
    check_target("https://bücher.example/x", policy)
    assert asked == [
        ("hooks.example.test", 443),
        ("hooks.example.test", 80),
        ("2606:4700::1", 8080),
        ("xn--bcher-kva.example", 443),
    ]


class _Sockets(httpcore.NetworkBackend):
    """Records where a connection was asked for; every one fails as refused."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.asked.append(host)
        raise httpcore.ConnectError("[Errno 111] Connection refused")


def test_the_backend_connects_to_the_checked_addresses_never_to_a_refused_one() -> None:
    answers = {"two.example.test": ["93.184.215.14", "2606:2800:21f::1"], "evil.example.test": ["127.0.0.1"]}
    sockets = _Sockets()
    backend = GuardedBackend(_resolver(answers), sockets)
    with pytest.raises(httpcore.ConnectError, match="Connection refused"):
        backend.connect_tcp("two.example.test", 443)
    assert sockets.asked == ["93.184.215.14", "2606:2800:21f::1"]  # literals: no second lookup
    with pytest.raises(
        AddressRefused, match=re.escape("evil.example.test resolves to 127.0.0.1, which is loopback")
    ):
        backend.connect_tcp("evil.example.test", 80)
    assert sockets.asked == ["93.184.215.14", "2606:2800:21f::1"]
    with pytest.raises(httpcore.ConnectError, match="unix socket"):
        backend.connect_unix_socket("/run/docker.sock")


def test_an_unresolvable_name_is_a_connect_error_naming_it() -> None:
    def no_such_name(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        raise OSError(-2, "Name or service not known")

    sockets = _Sockets()
    with pytest.raises(
        httpcore.ConnectError, match=re.escape("cannot resolve nowhere.test: Name or service not known")
    ):
        GuardedBackend(AddressPolicy(resolver=no_such_name), sockets).connect_tcp("nowhere.test", 80)
    assert sockets.asked == []


def test_a_refused_connection_reaches_httpx_as_a_connect_error_with_the_policys_words() -> None:
    from syncd.netpolicy import GuardedTransport

    sockets = _Sockets()
    policy = _resolver({"evil.example.test": ["169.254.169.254"]})
    with (
        httpx.Client(transport=GuardedTransport(policy, inner=sockets)) as client,
        pytest.raises(
            httpx.ConnectError,
            match=re.escape("169.254.169.254, which is link-local: refused by webhook policy"),
        ),
    ):
        client.post("http://evil.example.test/latest/meta-data")
    assert sockets.asked == []


class _TlsStream(httpcore.NetworkStream):
    """A connected socket that records the TLS handshake it is asked for, then fails it."""

    def __init__(self, handshakes: list[str | None]) -> None:
        self.handshakes = handshakes

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        raise AssertionError("nothing is read before the handshake")

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        raise AssertionError("nothing is written before the handshake")

    def close(self) -> None:
        pass

    def start_tls(
        self, ssl_context: object, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self.handshakes.append(server_hostname)
        raise httpcore.ConnectError("handshake refused by the test")


class _TlsSockets(_Sockets):
    def __init__(self) -> None:
        super().__init__()
        self.handshakes: list[str | None] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.asked.append(host)
        return _TlsStream(self.handshakes)


def test_https_connects_to_the_checked_address_and_verifies_the_name() -> None:
    from syncd.netpolicy import GuardedTransport

    sockets = _TlsSockets()
    policy = _resolver({"hooks.example.test": ["93.184.215.14"]})
    with (
        httpx.Client(transport=GuardedTransport(policy, inner=sockets)) as client,
        pytest.raises(httpx.ConnectError, match="handshake refused by the test"),
    ):
        client.post("https://hooks.example.test/hook")
    assert sockets.asked == ["93.184.215.14"]
    assert sockets.handshakes == ["hooks.example.test"]  # SNI and certificate check use the name
