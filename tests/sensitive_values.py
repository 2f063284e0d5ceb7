"""Hypothesis strategies for values that must never leave BankBridge in clear, and the leak check.

Each strategy yields a `Sensitive`: the text as a bank, a library or a careless
log call would write it, what must never appear again (`secrets`), and, for
account identifiers, the characters of which only the last four may be shown.
"""

from __future__ import annotations

import base64
import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from chalicelib.redaction import luhn_valid

URLSAFE = string.ascii_letters + string.digits + "-_"
BASE64 = string.ascii_letters + string.digits + "+/"

# Country, total length and how many leading BBAN characters are letters (a bank code).
IBAN_FORMATS = {
    "BE": (16, 0),
    "BR": (29, 0),
    "CH": (21, 0),
    "DE": (22, 0),
    "ES": (24, 0),
    "FR": (27, 0),
    "GB": (22, 4),
    "IT": (27, 1),
    "MT": (31, 4),
    "NL": (18, 4),
    "NO": (15, 0),
    "PL": (28, 0),
}


@dataclass(frozen=True)
class Sensitive:
    """A value as written, what must never reappear, and the identifier whose last four may."""

    kind: str
    text: str
    secrets: tuple[str, ...] = ()
    identifier: str | None = field(default=None)

    @property
    def shown_as(self) -> str:
        """What a redacted rendering shows instead: `••` and the last four, or the marker."""
        return f"••{self.identifier[-4:]}" if self.identifier else "[REDACTED]"


_SEPARATOR_BETWEEN = re.compile(r"(?<=[A-Za-z0-9])[ -](?=[A-Za-z0-9])")
_MASK = re.compile(r"••[A-Za-z0-9]{4}")


def leaks(item: Sensitive, output: str) -> list[str]:
    """The parts of `item` that `output` gives away: a secret, or 5+ characters of the identifier.

    Separators between letters and digits are dropped first, so `4111 1111` and
    `41111111` count the same; a mask (`••1234`) shows four, and is closed off
    so that text after it (`••1234 5`) is not read as a fifth character.
    """
    found = [secret for secret in item.secrets if secret in output]
    if item.identifier:
        compact = _SEPARATOR_BETWEEN.sub("", _MASK.sub(lambda mask: f"{mask.group()}|", output))
        found += [
            item.identifier[start : start + 5]
            for start in range(len(item.identifier) - 4)
            if item.identifier[start : start + 5] in compact
        ]
    return found


def json_text(output: str, *, without: frozenset[str] = frozenset()) -> str:
    """Every string in a stream of JSON lines, decoded (`\\u2022` back to `•`); other lines as is.

    Top-level keys in `without` are left out.
    """
    parts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                parts.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        else:
            parts.append(str(value))

    for line in output.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            parts.append(line)
            continue
        if isinstance(document, dict):
            document = {key: value for key, value in document.items() if key not in without}
        walk(document)
    return "\n".join(parts)


def _iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616 check digits: 98 minus the mod-97 of BBAN + country + "00", letters as 10-35."""
    number = int("".join(str(int(char, 36)) for char in bban + country + "00"))
    return f"{98 - number % 97:02d}"


@st.composite
def ibans(draw: st.DrawFn) -> Sensitive:
    """Valid IBANs of several countries, compact or printed in groups of four."""
    country = draw(st.sampled_from(sorted(IBAN_FORMATS)))
    length, letters = IBAN_FORMATS[country]
    bank = draw(st.text(string.ascii_uppercase, min_size=letters, max_size=letters))
    rest = draw(
        st.text(string.digits, min_size=length - 4 - letters, max_size=length - 4 - letters)
    )
    compact = f"{country}{_iban_check_digits(country, bank + rest)}{bank}{rest}"
    printed = " ".join(compact[start : start + 4] for start in range(0, len(compact), 4))
    text = draw(st.sampled_from([compact, printed]))
    return Sensitive("iban", text, identifier=compact)


@st.composite
def card_numbers(draw: st.DrawFn) -> Sensitive:
    """Luhn-valid card numbers of 13-19 digits, plain or grouped with spaces or dashes."""
    prefix = draw(st.sampled_from(["4", "51", "55", "2221", "34", "37", "6011", "35", "62"]))
    length = 15 if prefix in ("34", "37") else draw(st.integers(13, 19))
    body = prefix + draw(st.text(string.digits, min_size=length - len(prefix) - 1, max_size=19))
    body = body[: length - 1]
    number = next(body + check for check in string.digits if luhn_valid(body + check))
    separator = draw(st.sampled_from(["", " ", "-"]))
    if length == 15 and separator:
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[start : start + 4] for start in range(0, length, 4)]
    return Sensitive("card", separator.join(groups) if separator else number, identifier=number)


def account_numbers() -> st.SearchStrategy[Sensitive]:
    """Plain 8-19 digit account numbers."""
    return st.text(string.digits, min_size=8, max_size=19).map(
        lambda digits: Sensitive("account_number", digits, identifier=digits)
    )


def account_identifiers() -> st.SearchStrategy[Sensitive]:
    """Any account identifier: IBAN, card number or account number."""
    return st.one_of(ibans(), card_numbers(), account_numbers())


def _high_entropy(min_size: int, max_size: int, alphabet: str = URLSAFE) -> st.SearchStrategy[str]:
    """Token-like strings: random enough that finding one in the output means it leaked."""
    return st.text(alphabet, min_size=min_size, max_size=max_size).filter(
        lambda text: len(set(text)) >= min(8, min_size // 2)
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def jwts(draw: st.DrawFn) -> Sensitive:
    """Signed JWTs (header.payload.signature), the shape of ID tokens and client assertions."""
    header = {"alg": draw(st.sampled_from(["RS256", "PS256", "ES256"])), "typ": "JWT"}
    header["kid"] = draw(_high_entropy(8, 16))
    claims = {"sub": draw(_high_entropy(8, 24)), "iat": draw(st.integers(1_700_000_000, 2**31))}
    signature = _b64url(draw(st.binary(min_size=32, max_size=256)).ljust(32, b"\x01"))
    token = ".".join(
        [_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()), signature]
    )
    payload = token.split(".")[1]
    return Sensitive("jwt", token, secrets=(token, payload, signature))


def bearer_tokens() -> st.SearchStrategy[Sensitive]:
    """`Authorization: Bearer …` and a bare `Bearer …`, with opaque or JWT tokens."""
    tokens = st.one_of(_high_entropy(16, 64), jwts().map(lambda item: item.text))
    return st.builds(
        lambda token, header: Sensitive(
            "bearer", f"Authorization: Bearer {token}" if header else f"Bearer {token}", (token,)
        ),
        tokens,
        st.booleans(),
    )


@st.composite
def oauth_urls(draw: st.DrawFn) -> Sensitive:
    """Callback URLs, token requests and form bodies carrying codes, states and tokens."""
    names = ("code", "state", "refresh", "verifier")
    values = {name: draw(_high_entropy(12, 64)) for name in names}
    template = draw(
        st.sampled_from(
            [
                "https://bank.example/oauth/callback?code={code}&state={state}&iss=https%3A%2F%2Fbank",
                "https://bank.example/token?grant_type=refresh_token&refresh_token={refresh}",
                "grant_type=authorization_code&code={code}&code_verifier={verifier}&state={state}",
                "https://m.me/l.php?u=https%3A%2F%2Fx%3Fcode%3D{code}%26state%3D{state}",
                "{{'access_token': '{refresh}', 'refresh_token': '{code}', 'expires_in': 60}}",
            ]
        )
    )
    text = template.format(**values)
    secrets = tuple(value for value in values.values() if value in text)
    # A value that is also part of the fixed text (`code_verifie`) would count that text as a leak.
    skeleton = template.format(**dict.fromkeys(values, " "))
    assume(not any(value in skeleton for value in secrets))
    return Sensitive("oauth", text, secrets)


def emails() -> st.SearchStrategy[Sensitive]:
    """RFC 5322 addresses, odd characters included."""
    return st.emails().map(lambda address: Sensitive("email", address, (address,)))


@st.composite
def aws_credentials(draw: st.DrawFn) -> Sensitive:
    """An access key id, a 40-character secret key or a session token."""
    key_id = "AKIA" + draw(st.text(string.ascii_uppercase + "234567", min_size=16, max_size=16))
    secret = draw(
        st.text(BASE64, min_size=40, max_size=40).filter(
            lambda s: (
                any(c.isupper() for c in s)
                and any(c.islower() for c in s)
                and any(c.isdigit() for c in s)
            )
        )
    )
    session = "IQoJb3JpZ2luX2VjE" + draw(_high_entropy(100, 300, BASE64))
    value = draw(st.sampled_from([key_id, secret, session]))
    return Sensitive("aws", value, (value,))


def tokens() -> st.SearchStrategy[Sensitive]:
    """Every kind of credential."""
    return st.one_of(jwts(), bearer_tokens(), oauth_urls(), aws_credentials())


def sensitive_values() -> st.SearchStrategy[Sensitive]:
    """Anything that must not leave in clear."""
    return st.one_of(account_identifiers(), tokens(), emails())
