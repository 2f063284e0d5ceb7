"""The one destination policy: which addresses, host spellings and ports a bank call may use."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.field_errors import field_errors
from chalicelib.connectors.config.models import ConnectorConfig
from chalicelib.connectors.destinations import (
    address_refusal,
    embedded_ipv4,
    is_numeric_host_spelling,
    port_refusal,
)
from tests.factories import acme_config

METADATA = IPv4Address("169.254.169.254")
PUBLIC_V4 = "93.184.216.34"
REFUSED_V4_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]


def teredo(server: IPv4Address, client: IPv4Address, flags: int = 0, port: int = 0) -> IPv6Address:
    """RFC 4380 §4: 2001:0::/32, server IPv4, flags, then port and client IPv4 both inverted."""
    value = (0x2001_0000 << 96) | (int(server) << 64) | (flags << 48)
    value |= ((port ^ 0xFFFF) << 32) | (int(client) ^ 0xFFFF_FFFF)
    return IPv6Address(value)


def refused(address: str, *, local: bool = False) -> bool:
    return address_refusal(ip_address(address), local=local) is not None


@pytest.mark.parametrize(
    "address",
    [
        # IPv4 special-purpose ranges
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.170.2",
        "100.64.0.1",
        "100.127.255.254",
        "198.18.0.1",
        "198.19.255.1",
        "192.0.2.10",
        "198.51.100.7",
        "203.0.113.9",
        "192.0.0.8",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        # IPv6 special-purpose ranges
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd00:ec2::254",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "2001:2::1",
        "100::1",
        "5f00::1",
        # IPv6 forms that embed a refused IPv4 address
        "::ffff:169.254.169.254",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "::a9fe:a9fe",
        "::127.0.0.1",
        "::ffff:0:a9fe:a9fe",
        "64:ff9b:1:a9fe:a9:fe00::",
        "2002:a9fe:a9fe::1",
        "2002:7f00:1::",
        "2002:a00:1::1",
        str(teredo(IPv4Address("65.54.227.120"), METADATA)),
        str(teredo(METADATA, IPv4Address(PUBLIC_V4))),
    ],
)
def test_non_public_addresses_are_refused_outside_local_development(address: str) -> None:
    assert refused(address)


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC_V4,
        "8.8.8.8",
        "2606:2800:220:1:248:1893:25c8:1946",
        "2a00:1450:4001:80b::200e",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34 (DNS64 in an IPv6-only subnet)
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_public_addresses_pass_embedded_or_not(address: str) -> None:
    assert address_refusal(ip_address(address), local=False) is None


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("2606:2800:220:1::1", None),
    ],
)
def test_embedded_ipv4_is_extracted_where_it_is_judged(address: str, embedded: str | None) -> None:
    found = embedded_ipv4(IPv6Address(address))
    assert (str(found) if found else None) == embedded


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "fd00:ec2::254",
        "fd00:ec2::254%eth0",
        "169.254.170.2",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
        "::a9fe:a9fe",
        "::7f00:1",
        str(teredo(IPv4Address("65.54.227.120"), IPv4Address("127.0.0.1"))),
        "224.0.0.251",
    ],
)
def test_metadata_multicast_and_outright_forms_are_refused_even_locally(address: str) -> None:
    assert refused(address, local=True)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.1.2.3", "::ffff:127.0.0.1", "64:ff9b::7f00:1"]
)
def test_local_development_keeps_loopback_and_private_networks(address: str) -> None:
    assert address_refusal(ip_address(address), local=True) is None


def _in(network: str) -> st.SearchStrategy[IPv4Address]:
    net = IPv4Network(network)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


refused_ipv4 = st.sampled_from(REFUSED_V4_NETWORKS).flatmap(_in)
public_ipv4 = st.ip_addresses(v=4).filter(
    lambda a: address_refusal(a, local=False) is None  # type: ignore[arg-type]
)
suffix = st.integers(0, 2**80 - 1)


def embeddings(v4: IPv4Address, low: int, other: IPv4Address) -> list[IPv6Address]:
    """Every IPv6 form carrying `v4`: mapped, compatible, SIIT, NAT64 (/96, local-use /48),
    6to4 (any subnet and interface id) and Teredo (as client, and as server)."""
    n = int(v4)
    return [
        IPv6Address((0xFFFF << 32) | n),
        IPv6Address(n),
        IPv6Address((0xFFFF << 48) | n),
        IPv6Address((0x64FF9B << 96) | n),
        IPv6Address((0x64FF9B0001 << 80) | ((n >> 16) << 64) | ((n & 0xFFFF) << 40)),
        IPv6Address((0x2002 << 112) | (n << 80) | low),
        teredo(other, v4, flags=low & 0xFFFF, port=(low >> 16) & 0xFFFF),
        teredo(v4, other, flags=low & 0xFFFF, port=(low >> 16) & 0xFFFF),
    ]


@given(refused_ipv4, suffix, st.ip_addresses(v=4))
def test_any_ipv6_embedding_a_refused_ipv4_is_refused(
    v4: IPv4Address, low: int, other: Any
) -> None:
    assert address_refusal(v4, local=False) is not None
    for form in embeddings(v4, low, other):
        assert address_refusal(form, local=False) is not None, form


@given(suffix, st.ip_addresses(v=4))
def test_any_ipv6_embedding_the_metadata_address_is_refused_even_locally(
    low: int, other: Any
) -> None:
    for form in embeddings(METADATA, low, other):
        assert address_refusal(form, local=True) is not None, form


@given(public_ipv4, suffix)
def test_translation_forms_of_a_public_ipv4_pass_like_the_ipv4_itself(v4: Any, low: int) -> None:
    n = int(v4)
    for form in (
        IPv6Address((0xFFFF << 32) | n),
        IPv6Address((0x64FF9B << 96) | n),
        IPv6Address((0x2002 << 112) | (n << 80) | low),
    ):
        assert address_refusal(form, local=False) is None, form


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f.1", "0x7f000001", "127.1", "0177.0.0.1", "127.0.0.01", "10.0x1", "a.123"],
)
def test_numeric_ipv4_spellings_are_recognised(host: str) -> None:
    assert is_numeric_host_spelling(host)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "93.184.216.34", "bank.example", "api.bank-1.example", "::1", "0x.bank"]
)
def test_names_and_dotted_quads_are_not_numeric_spellings(host: str) -> None:
    assert not is_numeric_host_spelling(host)


def test_full_width_digits_count_as_the_ascii_spelling_resolvers_see() -> None:
    assert is_numeric_host_spelling("\uff12\uff11\uff13\uff10\uff17\uff10\uff16\uff14\uff13\uff13")


@pytest.mark.parametrize(
    ("port", "configured", "allowed"),
    [
        (None, False, True),
        (443, False, True),
        (8443, False, False),
        (8443, True, True),
        (22, True, False),
        (80, True, False),
        (1024, True, True),
    ],
)
def test_port_rule(port: int | None, configured: bool, allowed: bool) -> None:
    assert (port_refusal(port, configured=configured) is None) is allowed


# The same policy at config validation (admin API, CLI, discovery documents).


def _config(**changes: Any) -> dict[str, Any]:
    return acme_config(**changes)


def _errors(
    data: dict[str, Any], *, local: bool = False, answer: str = PUBLIC_V4
) -> dict[str, str]:
    context = validation_context(local=local, resolver=lambda host: [answer])
    try:
        ConnectorConfig.model_validate(data, context=context)
    except ValidationError as error:
        return {item.field: item.message for item in field_errors(error)}
    return {}


@pytest.mark.parametrize(
    "url",
    [
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[::ffff:a9fe:a9fe]/latest",
        "https://[::a9fe:a9fe]/latest",
        "https://[2002:a9fe:a9fe::1]/latest",
        "https://[2001:0:4136:e378:8000:63bf:5601:5601]/",
    ],
)
def test_configs_refuse_ipv6_literals_embedding_internal_ipv4(url: str) -> None:
    assert "api_base_url" in _errors(_config(api_base_url=url))


@pytest.mark.parametrize("answer", ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "::a9fe:a9fe"])
def test_configs_refuse_names_resolving_to_embedded_metadata_even_locally(answer: str) -> None:
    assert "api_base_url" in _errors(_config(), local=True, answer=answer)


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1"])
def test_configs_refuse_numeric_host_spellings_even_locally(host: str) -> None:
    errors = _errors(
        _config(api_base_url=f"http://{host}:8001/fdx"), local=True, answer="127.0.0.1"
    )
    assert "numeric spelling" in errors["api_base_url"]


def test_configured_ports_outside_local_development() -> None:
    assert _errors(_config(api_base_url="https://api.acme.example:8443/fdx")) == {}
    assert (
        "well-known"
        in _errors(_config(api_base_url="https://api.acme.example:22/fdx"))["api_base_url"]
    )
    assert (
        "port"
        in _errors(_config(api_base_url="https://api.acme.example:99999/fdx"))["api_base_url"]
    )
    assert (
        _errors(_config(api_base_url="http://127.0.0.1:80/fdx"), local=True, answer="127.0.0.1")
        == {}
    )


def test_configured_origins_are_the_explicit_non_443_ports() -> None:
    config = ConnectorConfig.model_validate(
        _config(
            api_base_url="https://API.acme.example:8443/fdx",
            token_url="https://auth.acme.example:443/token",
            authorize_url="https://auth.acme.example/authorize",
        ),
        context=validation_context(local=False, resolver=lambda host: [PUBLIC_V4]),
    )
    assert config.configured_origins == frozenset({("api.acme.example", 8443)})
