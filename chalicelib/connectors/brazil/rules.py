"""Open Finance Brasil rules BankBridge follows when it asks for a consent.

- Permissions (consents 3.3.1, `info.description`): "A receptora deve enviar
  obrigatoriamente, no pedido de criação de consentimento, todas as permissions dos
  agrupamentos de dados as quais ela deseja consentimento". Balances are the group
  Contas/Saldos and statements the group Contas/Extratos; each is asked for whole.
- `loggedUser.document` is required (`CreateConsent.data.required`): the CPF of the
  person "logado na instituição receptora" — "É obrigatório que o número do documento
  utilizado seja um número válido e pertencente ao usuário logado". BankBridge has no
  customer file, so the person types it on BankBridge's own linking page; it is checked
  here (11 digits, CPF check digits), sent once in the consent request and never stored,
  queued or logged.
- `expirationDateTime` is RFC 3339 "zulu" to the second (its `pattern`), within the
  12 months a consent may last (the config's `consent_days`, at most 365).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from chalicelib.connectors.config.rules import StandardRules

ACCOUNTS_API_VERSION = "v2"
CONSENTS_API_VERSION = "v3"
RULES = StandardRules(
    version_pattern=re.compile(r"^2\.\d+(\.|$)"),
    versions_supported="2.x of the Accounts API (2.4.2 verified), with Consents API v3",
    signs_request_object=True,
)
"""FAPI-BR: the authorization request is a signed request object, pushed (PAR)."""

PERMISSION_GROUPS: dict[str, tuple[str, ...]] = {
    "Contas/Saldos": ("ACCOUNTS_READ", "ACCOUNTS_BALANCES_READ", "RESOURCES_READ"),
    "Contas/Extratos": ("ACCOUNTS_READ", "ACCOUNTS_TRANSACTIONS_READ", "RESOURCES_READ"),
}
"""The data groups a chat reads (balances, statements) and every permission of each."""
CONSENT_PERMISSIONS = tuple(
    dict.fromkeys(permission for group in PERMISSION_GROUPS.values() for permission in group)
)
CLIENT_SCOPES = ["consents"]
CONSENT_SCOPE_PREFIX = "consent:"
DOCUMENT_KIND = "CPF"
_CPF = re.compile(r"^\d{11}$")


def consent_scope(consent_id: str) -> str:
    """The OAuth scope that binds an authorization to one consent (`consent:{consentId}`)."""
    return f"{CONSENT_SCOPE_PREFIX}{consent_id}"


def normalise_cpf(value: str) -> str | None:
    """The 11 digits of a valid CPF (`123.456.789-09` or `12345678909`), else None.

    Checked with the CPF's two mod-11 check digits, as the spec says a transmissora
    may, so a typing slip is caught on our page instead of as a refused consent.
    """
    digits = re.sub(r"[.\-\s]", "", value)
    if not _CPF.match(digits) or len(set(digits)) == 1:
        return None
    for length in (9, 10):
        weights = range(length + 1, 1, -1)
        total = sum(int(d) * w for d, w in zip(digits[:length], weights, strict=True))
        check = (total * 10) % 11 % 10
        if check != int(digits[length]):
            return None
    return digits


def expiration_date_time(moment: datetime) -> str:
    """`2021-05-21T08:30:00Z`: UTC to the second, the only form the spec's pattern allows."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
