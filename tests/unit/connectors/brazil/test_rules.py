"""Brazil consent rules against the consents 3.3.1 file: permission groups, CPF, expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chalicelib.connectors.brazil import rules
from tests.conftest import spec_document


@pytest.fixture(scope="module")
def consents_spec() -> dict:
    return dict(spec_document("brazil-open-finance/consents-3.3.1.yml"))


def spec_groups(description: str) -> dict[str, set[str]]:
    """The permissions of each "Contas" group in the spec's table, by group ("Saldos", ...).

    A group's rows lie between lines whose category cell is a rule (`---`).
    """
    groups: dict[str, set[str]] = {}
    category, group, permissions = "", "", set[str]()
    for line in description.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        if set(cells[1]) == {"-"}:
            if category == "Contas":
                groups[group] = permissions
            category, group, permissions = "", "", set()
            continue
        category, group = category or cells[1], group or cells[2]
        if re.fullmatch(r"[A-Z_]+_READ", cells[3]):
            permissions.add(cells[3])
    return groups


def test_each_group_asked_for_is_complete_in_the_spec_table(consents_spec: dict) -> None:
    """ "A receptora deve enviar obrigatoriamente ... todas as permissions dos agrupamentos de
    dados as quais ela deseja consentimento" (consents 3.3.1, info.description)."""
    table = spec_groups(consents_spec["info"]["description"])

    assert table["Saldos"] == set(rules.PERMISSION_GROUPS["Contas/Saldos"])
    assert table["Extratos"] == set(rules.PERMISSION_GROUPS["Contas/Extratos"])
    assert set(rules.CONSENT_PERMISSIONS) == table["Saldos"] | table["Extratos"]


def test_asked_permissions_are_in_the_request_enum(consents_spec: dict) -> None:
    schema = consents_spec["components"]["schemas"]["CreateConsent"]["properties"]["data"]
    allowed = schema["properties"]["permissions"]["items"]["enum"]

    assert set(rules.CONSENT_PERMISSIONS) <= set(allowed)
    assert len(rules.CONSENT_PERMISSIONS) == len(set(rules.CONSENT_PERMISSIONS))  # no duplicates


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        (" 529 982 247 25 ", "52998224725"),
        ("52998224724", None),  # wrong check digit
        ("11111111111", None),  # valid digits, never a real CPF
        ("5299822472", None),
        ("abc", None),
    ],
)
def test_the_cpf_is_checked_before_it_is_sent(typed: str, kept: str | None) -> None:
    """LoggedUserDocument.identification is '^\\d{11}$'; "É obrigatório que o número do
    documento utilizado seja um número válido" (Cálculo de DV módulo 11 para o CPF)."""
    assert rules.normalise_cpf(typed) == kept


def test_expiration_matches_the_spec_pattern(consents_spec: dict) -> None:
    data = consents_spec["components"]["schemas"]["CreateConsent"]["properties"]["data"]
    pattern = data["properties"]["expirationDateTime"]["pattern"]
    moment = datetime(2026, 12, 2, 9, 5, 7, 123456, tzinfo=timezone(timedelta(hours=-3)))

    written = rules.expiration_date_time(moment)

    assert written == "2026-12-02T12:05:07Z"
    assert re.match(pattern, written)
    assert datetime.strptime(written, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= moment
