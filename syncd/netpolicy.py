"""Where syncd may send outgoing requests: the webhook address policy.

A webhook receiver is refused when its address is not public: loopback, private, link-local,
unique-local, shared (CGNAT), reserved, multicast or unspecified, in IPv4 or IPv6, including an IPv4
address inside an IPv6 one (IPv4-mapped, NAT64 64:ff9b::/96, 6to4, Teredo). The operator may allow what is not
public with `webhook_allow_private` (loopback, private, link-local, unique-local, shared) or with
`webhook_allow_cidrs` (any network listed, reserved ones too); multicast and unspecified addresses
are never a receiver and stay refused.

The check runs twice: at `syncd webhooks add` (`check_target`, on what the host resolves to now) and
on every connection (`GuardedTransport`): the host is resolved once, every address checked, and the
connection made to a checked address, so a name that later resolves elsewhere (DNS rebinding) cannot
slip through. TLS and the Host header keep the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[IPAddress]]

# What `webhook_allow_private` allows; a network in `webhook_allow_cidrs` also allows "reserved".
PRIVATE_KINDS = frozenset({"loopback", "private", "link-local", "unique-local", "shared (CGNAT)"})
NEVER_KINDS = frozenset({"unspecified", "multicast"})  # no receiver lives there: nothing allows them

_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # "this host": a connection lands on loopback
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order (a literal, even `127.1` or
    `2130706433`, is parsed the way the socket layer parses it)."""
    found: list[IPAddress] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in found:
            found.append(address)
    return found


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a webhook request may connect to (the default: public ones only)."""

    allow_private: bool = False
    allow_cidrs: tuple[IPNetwork, ...] = ()
    resolver: Resolver = resolve  # the seam tests use to control what a name resolves to

    @classmethod
    def from_settings(cls, allow_private: bool, allow_cidrs: Iterable[str]) -> AddressPolicy:
        return cls(allow_private, tuple(ipaddress.ip_network(cidr) for cidr in allow_cidrs))

    def refusal(self, address: IPAddress) -> str | None:
        """Why a connection to `address` is refused (its kind: 'private', ...), None when allowed."""
        refused = self._refused(address)
        return None if refused is None else refused[0]

    def is_allowed(self, address: IPAddress) -> bool:
        return self._refused(address) is None

    def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """What `host` resolves to, every address allowed; AddressRefused for the first one that is not
        (one refused address refuses the name: it may be the one a later connection gets)."""
        addresses = self.resolver(host, port)
        for address in addresses:
            refused = self._refused(address)
            if refused is not None:
                raise AddressRefused(host, address, *refused)
        return addresses

    def _refused(self, address: IPAddress) -> tuple[str, IPAddress] | None:
        """The kind of the first refused address within `address` (itself or one it carries), and it."""
        for candidate in _addresses_within(address):
            kind = classify(candidate)
            if kind is None:
                continue
            if kind in NEVER_KINDS:
                return kind, candidate
            if any(candidate in network for network in self.allow_cidrs):
                continue
            if self.allow_private and kind in PRIVATE_KINDS:
                continue
            return kind, candidate
        return None


class AddressRefused(httpcore.ConnectError):
    """A connection the policy refuses; the message names the address, its kind and the settings."""

    def __init__(self, host: str, address: IPAddress, kind: str, inner: IPAddress | None = None) -> None:
        self.host, self.address, self.kind = host, address, kind
        shown = f"{address} ({inner})" if inner is not None and inner != address else str(address)
        where = f"address {shown}" if _same(host, address) else f"{host} resolves to {shown}, which"
        if kind in NEVER_KINDS:
            remedy = "never allowed"
        elif kind in PRIVATE_KINDS:
            remedy = "webhook_allow_private / webhook_allow_cidrs"
        else:
            remedy = "webhook_allow_cidrs"
        super().__init__(f"{where} is {kind}: refused by webhook policy ({remedy})")


def classify(address: IPAddress) -> str | None:
    """The kind of an address that is not public, None for a public one (embedded IPv4 addresses are
    not looked at here: see `AddressPolicy.refusal`)."""
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address in _UNIQUE_LOCAL:
        return "unique-local"
    if address in _SHARED:
        return "shared (CGNAT)"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    return None


def _addresses_within(address: IPAddress) -> list[IPAddress]:
    """The addresses that judge `address`: an IPv4 one itself; an IPv4-mapped or NAT64 address its
    IPv4 address (the kernel, or the DNS64 gateway, connects to that one); a 6to4 or Teredo one the
    IPv4 addresses it tunnels to (its own prefix is judged differently by Python releases, so the
    policy does not lean on it); any other IPv6 address itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return [address]
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in _NAT64:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    tunnelled: list[IPAddress] = []
    if address.sixtofour is not None:
        tunnelled.append(address.sixtofour)
    if address.teredo is not None:
        tunnelled.extend(address.teredo)
    return tunnelled or [address]


def _same(host: str, address: IPAddress) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")) == address
    except ValueError:
        return False


def check_target(url: str, policy: AddressPolicy) -> None:
    """`syncd webhooks add`: AddressRefused when the URL's host is, or resolves to, a refused address;
    OSError when it does not resolve now (the check is repeated at every connection)."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # an international name as the resolver wants it (punycode)
    policy.checked_addresses(host, parsed.port or (443 if parsed.scheme == "https" else 80))


# --- connect-time enforcement ---------------------------------------------------------------------


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket layer, resolving each host itself and connecting only to allowed addresses."""

    def __init__(self, policy: AddressPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self._policy.checked_addresses(host, port)
        except OSError as exc:  # the name does not resolve
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        failure: httpcore.ConnectError | None = None
        for address in addresses:  # as socket.create_connection does: the first that answers
            try:
                # An IP literal: the inner backend does no second lookup that could answer otherwise.
                return self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"{host} resolves to no address")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("a webhook is never sent to a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's default transport on a `GuardedBackend`. No proxy: a proxy would be the address
    connected to, and the receiver's would go unchecked."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        limits: httpx.Limits | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        ssl_context = httpx.create_ssl_context()  # honours SSL_CERT_FILE / SSL_CERT_DIR, as httpx does
        super().__init__(verify=ssl_context, trust_env=False)
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(  # the same pool httpx builds, on the guarded backend
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, inner),
        )


def guarded_client(policy: AddressPolicy, **options: Any) -> httpx.Client:
    """An httpx client whose every connection obeys `policy` (environment proxies are ignored)."""
    return httpx.Client(transport=GuardedTransport(policy), trust_env=False, **options)
