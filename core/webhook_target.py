"""Where a webhook may go: one check, run at submit (422) and again before every send.

A callback URL is https, names a host whose every address is public (not loopback,
private, link-local, multicast, reserved, unspecified or a cloud metadata address), and
carries no credentials. An operator opens private hosts or networks for on-premise
receivers with INFERQ_WEBHOOK_ALLOW (host names, addresses or CIDRs); a target whose every
address is allowed that way may also use plain http. Metadata addresses stay refused even
then. The sender connects to the addresses vetted here, so a name that resolves
differently a moment later (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address) for address in ("169.254.169.254", "fd00:ec2::254")
)


class TargetRefusedError(ValueError):
    """A callback URL the service will not send to; the message says why."""


@dataclass(frozen=True)
class AllowList:
    """Hosts and networks an operator opened to webhooks despite private addresses."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """Read a comma-separated list of host names, addresses and CIDRs."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether the operator opened this host name or this address."""
        return host in self.hosts or any(address in network for network in self.networks)


@dataclass(frozen=True)
class Target:
    """A vetted callback: where to connect (the addresses checked) and what to ask for."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def resolve(host: str, port: int) -> list[str]:
    """Return every address a host name resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: IPAddress) -> bool:
    """Whether an address is a public unicast one (an IPv4-mapped IPv6 one as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    refused = (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not refused


def vet_address(host: str, text: str, allow: AllowList) -> tuple[IPAddress, bool]:
    """Return an address and whether it is only allowed by the operator; refuse the rest."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        raise TargetRefusedError(f"callback host {host} resolves to a metadata address ({address})")
    if is_public(address):
        return address, False
    if allow.allows(host, address):
        return address, True
    raise TargetRefusedError(
        f"callback host {host} resolves to a non-public address ({address}); an operator "
        "may allow it with INFERQ_WEBHOOK_ALLOW"
    )


def split_url(url: str) -> tuple[str, str, int, str]:
    """Return a callback URL's scheme, host, port and path with query; refuse odd URLs."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefusedError(f"callback URL longer than {MAX_URL_LENGTH} characters")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise TargetRefusedError("callback URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"https", "http"}:
        raise TargetRefusedError("callback URL must be https://")
    if parts.username is not None or parts.password is not None:
        raise TargetRefusedError("callback URL must not carry credentials")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefusedError("callback URL has an invalid port") from exc
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefusedError("callback URL has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, path


def check_target(url: str, allow: AllowList, resolver: Resolver = resolve) -> Target:
    """Return the vetted target of a callback URL, or raise TargetRefusedError with the reason."""
    scheme, host, port, path = split_url(url)
    try:
        found = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise TargetRefusedError(f"callback host {host} does not resolve") from exc
    if not found:
        raise TargetRefusedError(f"callback host {host} does not resolve")
    vetted = [vet_address(host, text, allow) for text in found]
    if scheme == "http" and not all(opened for _, opened in vetted):
        raise TargetRefusedError("callback URL must be https:// (http only to allowed hosts)")
    addresses = tuple(str(address) for address, _ in vetted)
    return Target(url, scheme, host, port, path, addresses)
