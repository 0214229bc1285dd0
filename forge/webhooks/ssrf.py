"""Keeping webhooks away from the forge's own network (server-side request forgery).

A hook URL is chosen by a repository admin, but the forge is the one that connects, from inside the
operator's network. So the host is resolved and every address it resolves to must be allowed by
``settings.webhook_allowed_hosts``, a comma-separated list of:

* ``external``: globally routable addresses (the default);
* ``loopback``: 127.0.0.0/8 and ::1;
* ``private``: RFC 1918, carrier-grade NAT (100.64.0.0/10) and unique-local IPv6 (fc00::/7);
* ``*``: every address (for closed networks);
* a CIDR (``10.1.0.0/16``, ``fd00::/8``) allowing the addresses in it;
* a host name, or a glob of host names (``hooks.internal``, ``*.corp.example``), allowed whatever it resolves to.

Link-local (cloud metadata at 169.254.169.254), multicast, reserved, unspecified and documentation addresses
are in none of the keyword classes: only ``*`` or a CIDR opens them. IPv4-mapped and IPv4-compatible IPv6
addresses (``::ffff:10.0.0.1``) and the tunnelling forms (6to4, Teredo) are judged by the IPv4 address inside.

The check runs when a hook is saved (a literal address or a name that resolves to a refused address is an
error; a name that does not resolve yet is accepted) and again before each attempt, where the sender then
connects to the very address that was checked, so a DNS answer that changes in between cannot redirect it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from forge.errors import InvalidInput
from forge.i18n import N_

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

REFUSED = N_("This URL points to a private or loopback address; the administrator has not allowed webhooks there.")
UNRESOLVED = N_("The host name %(host)s could not be resolved.")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")


class RefusedAddress(InvalidInput):
    """The URL's host is, or resolves to, an address the settings do not allow (422 when saving)."""


class UnresolvedHost(InvalidInput):
    """The host name has no address (yet): a retryable failure when delivering."""


@dataclass(frozen=True)
class AllowList:
    """``webhook_allowed_hosts`` parsed once."""

    external: bool = False
    loopback: bool = False
    private: bool = False
    everything: bool = False
    networks: tuple[IPNetwork, ...] = ()
    host_globs: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        flags = {"external": False, "loopback": False, "private": False, "everything": False}
        networks: list[IPNetwork] = []
        globs: list[str] = []
        for raw in text.split(","):
            item = raw.strip().lower()
            if not item:
                continue
            if item == "*":
                flags["everything"] = True
            elif item in ("external", "loopback", "private"):
                flags[item] = True
            else:
                try:
                    networks.append(ipaddress.ip_network(item, strict=False))
                except ValueError:
                    globs.append(item.rstrip("."))
        return cls(**flags, networks=tuple(networks), host_globs=tuple(globs))

    def allows_host_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return self.everything or any(fnmatch.fnmatchcase(host, glob) for glob in self.host_globs)

    def allows_address(self, address: IPAddress) -> bool:
        if self.everything or any(address in net for net in self.networks if net.version == address.version):
            return True
        inner = embedded_ipv4(address)
        if inner is not None:
            if any(inner in net for net in self.networks if net.version == 4):
                return True
            address = inner
        kind = classify(address)
        return (kind == "external" and self.external) or (kind == "loopback" and self.loopback) or (
            kind == "private" and self.private)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, 6to4, Teredo)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = address.packed
    if packed[:12] == bytes(12) and packed[12:] not in (bytes(4), b"\x00\x00\x00\x01"):  # ::a.b.c.d
        return ipaddress.IPv4Address(packed[12:])
    return None


def classify(address: IPAddress) -> str:
    """``external``, ``loopback``, ``private`` or ``special`` (link-local, multicast, reserved, unspecified ...)."""
    if address.is_loopback:
        return "loopback"
    if address.is_link_local or address.is_multicast or address.is_unspecified or address.is_reserved:
        return "special"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _CGNAT or any(address in net for net in _RFC1918):
            return "private"
    elif address in _ULA:
        return "private"
    return "external" if address.is_global else "special"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an empty list when it does not)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allowed_hosts: str, *, resolve: Resolver = system_resolver,
              require_resolved: bool = True) -> str | None:
    """Check ``url`` against the allow list; return the address to connect to (None when a host-name rule
    allowed the host itself, or when ``require_resolved`` is false and the name did not resolve).

    Raises RefusedAddress for a refused address and UnresolvedHost when the name has no address and
    ``require_resolved`` is set (before sending; saving a hook passes False)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    allow = AllowList.parse(allowed_hosts)
    if allow.allows_host_name(host):
        return None
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = 80
        found = [a for a in (_literal(text) for text in resolve(host, port)) if a is not None]
        if not found:
            if require_resolved:
                raise UnresolvedHost(UNRESOLVED, host=host)
            return None
        addresses = found
    # Every address must pass: the connection could otherwise go to whichever the resolver put first.
    if not all(allow.allows_address(address) for address in addresses):
        raise RefusedAddress(REFUSED)
    return str(addresses[0])
