"""Which network destinations BankBridge may contact: addresses, host spellings, ports.

One policy, used twice: when a connector config is validated (`config/rules.py`) and
again when a bank connection opens (`transport.py`), on the very address
connected to. Outside local development only globally reachable unicast
addresses pass: the IANA special-purpose registries for IPv4 (RFC 6890 and
successors) and IPv6, plus multicast and the cloud metadata addresses.

IPv6 forms that carry an IPv4 address are judged by that IPv4 address, because
a translator or tunnel would deliver the packet there:

- IPv4-mapped `::ffff:0:0/96` (RFC 4291 §2.5.5.2), NAT64 well-known prefix
  `64:ff9b::/96` (RFC 6052, used by DNS64 in IPv6-only VPC subnets) and 6to4
  `2002::/16` (RFC 3056): the embedded IPv4 address must pass the IPv4 rules.
- Refused outright, having no use for reaching a bank's API: IPv4-compatible
  `::/96` (deprecated by RFC 4291 §2.5.5.1), IPv4-translated `::ffff:0:0:0/96`
  (RFC 2765), local-use NAT64 `64:ff9b:1::/48` (RFC 8215), and Teredo
  `2001::/32` (RFC 4380: a NAT-traversal client address, whose server and
  obfuscated client IPv4 both sit inside), with the rest of `2001::/23`.

Local development keeps its relaxation (the sandbox bank runs on loopback, and
private networks are allowed), but never for metadata, multicast or the forms
refused outright.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

IPAddress = IPv4Address | IPv6Address

HTTPS_PORT = 443
LOWEST_CONFIGURABLE_PORT = 1024
"""Below this only 443: well-known ports (SMTP, SSH, LDAP, ...) are what SSRF aims at."""

METADATA_ADDRESSES = frozenset(
    {IPv4Address("169.254.169.254"), IPv6Address("fd00:ec2::254"), IPv4Address("169.254.170.2")}
)
"""EC2 instance metadata (IPv4 and IPv6) and the ECS/Lambda container credentials endpoint."""

_NON_PUBLIC_IPV4 = tuple(
    IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
    )
)

_GLOBAL_UNICAST_IPV6 = IPv6Network("2000::/3")
_NON_PUBLIC_IPV6 = tuple(
    IPv6Network(network)
    for network in (
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)

_IPV4_MAPPED = IPv6Network("::ffff:0:0/96")
_NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = IPv6Network("2002::/16")
_REFUSED_OUTRIGHT: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("::/96"), "an IPv4-compatible IPv6 address (deprecated)"),
    (IPv6Network("::ffff:0:0:0/96"), "an IPv4-translated IPv6 address"),
    (IPv6Network("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (IPv6Network("2001::/32"), "a Teredo address"),
)
_UNSPECIFIED_AND_LOOPBACK = ip_network("::/127")

_NUMERIC_LABEL = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address a mapped, NAT64 (`64:ff9b::/96`) or 6to4 address delivers to."""
    if address in _IPV4_MAPPED or address in _NAT64_WELL_KNOWN:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def is_public(address: IPAddress) -> bool:
    """Globally reachable unicast, judged on the address itself (no embedded forms)."""
    if isinstance(address, IPv4Address):
        return address.is_global and not any(address in net for net in _NON_PUBLIC_IPV4)
    return (
        address in _GLOBAL_UNICAST_IPV6
        and address.is_global
        and not any(address in net for net in _NON_PUBLIC_IPV6)
    )


def address_refusal(address: IPAddress, *, local: bool) -> str | None:
    """Why `address` must not be contacted, or None when it may be.

    `local` is the local development stage: loopback and private addresses are
    then allowed, as the sandbox bank needs; nothing else is relaxed.
    """
    if isinstance(address, IPv6Address):
        address = IPv6Address(address.compressed.split("%")[0])  # a zone id changes nothing
        if address not in _UNSPECIFIED_AND_LOOPBACK:
            for network, form in _REFUSED_OUTRIGHT:
                if address in network:
                    return f"{form}, never contacted"
        address = embedded_ipv4(address) or address
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address, never contacted"
    if address.is_multicast:
        return "a multicast address, never contacted"
    if local or is_public(address):
        return None
    return "not a public address (only public hosts are allowed outside local development)"


def is_numeric_host_spelling(host: str) -> bool:
    """True for IPv4 spelt other than as a dotted quad: `2130706433`, `0x7f.1`, `0177.0.0.1`.

    Resolvers (`inet_aton`) and the WHATWG URL parser read such hosts as IPv4
    addresses, so a check that sees a name would be bypassed. A host whose last
    label is numeric is never a DNS name (no top-level domain is numeric).
    """
    name = host.strip().lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")  # full-width digits become ASCII ones
        except UnicodeError:
            return False  # not a resolvable name at all; the resolver refuses it
    if ":" in name:
        return False  # IPv6 literal
    if not _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
        return False
    try:
        IPv4Address(name)
    except ValueError:
        return True
    return False


def port_refusal(port: int | None, *, configured: bool) -> str | None:
    """Why a deployed stage may not use `port`, or None (`None` means the scheme's default).

    443 always passes. Another port passes only when written in the connector's
    own configuration (`configured`) and not a well-known service port below 1024.
    """
    if port is None or port == HTTPS_PORT:
        return None
    if not configured:
        return f"port {port} is not in the connector's configuration (only 443 is implied)"
    if port < LOWEST_CONFIGURABLE_PORT:
        return f"port {port} is a well-known service port; use 443 or a port from 1024 up"
    return None
