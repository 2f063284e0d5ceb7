"""What must never leave BankBridge in clear: account identifiers, tokens, credentials, e-mails.

One set of precompiled patterns serves every place text leaves the process:
each log line (`chalicelib.observability`) and each chat reply built from
bank-supplied text (`chalicelib.conversation.formatting`). Account identifiers
keep their last four characters, the way banks print them (`••1234`); secrets
are replaced whole (`[REDACTED]`).

What is masked: IBANs (with or without spaces); digit runs of 8 or more (account
and card numbers, PSIDs, AWS account ids); digits grouped by single spaces or
dashes when the groups are fours or hold 13+ digits (cards, and national account
formats such as NZ `12-3456-7890123-00`); JWTs and JWEs; `Bearer`/`DPoP`/`Basic`
credentials; OAuth and Meta parameters in URLs and form bodies (RFC 6749
§4.1.2, RFC 7521, RFC 7636: `code=`, `state=`, `*_token=`, `client_secret=`,
`client_assertion=`, `account_linking_token=` ...) and the same names as quoted
keys (`"access_token": "..."`, as in a JSON body or a Python repr in an
exception); credentials in URLs (`https://user:pw@host`); cookies and API-key
headers; e-mail addresses; AWS access key ids, secret keys and session tokens;
Meta access tokens; PEM private keys.

What is kept, because logs must stay useful: amounts (`$5,108.44`), dates and
times, numbers of up to 7 digits, UUIDs and lowercase hex digests of 16+
characters (our own ids and hashed references). A separated run of 13 or more
digits is spared only when it is made of ISO dates and fails the Luhn check;
anything else that could be an identifier is masked.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

MASK_PREFIX = "••"
REDACTED = "[REDACTED]"

# Query and form parameters whose value is a credential (OAuth 2.0, PKCE, JWT
# client assertions, Meta account linking and webhooks, AWS SigV4 pre-signing).
_CREDENTIAL_PARAMETERS = (
    "access_token",
    "refresh_token",
    "id_token",
    "subject_token",
    "actor_token",
    "account_linking_token",
    "verify_token",
    "token",
    "code",
    "code_verifier",
    "state",
    "client_secret",
    "client_assertion",
    "assertion",
    "appsecret_proof",
    "app_secret",
    "secret",
    "password",
    "passwd",
    "otp",
    "one_time_code",
    "confirmation_code",
    "api_key",
    "apikey",
    "signature",
    "x-amz-signature",
    "x-amz-security-token",
    "x-amz-credential",
    "aws_secret_access_key",
    "aws_session_token",
)
# The same as quoted keys (JSON bodies, Python reprs), plus header names.
_CREDENTIAL_KEYS = (
    *_CREDENTIAL_PARAMETERS,
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "private_key",
    "secretaccesskey",
    "sessiontoken",
)
_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key")


def _alternatives(names: tuple[str, ...]) -> str:
    """A regex alternation, longest first, so `token` never shadows `access_token`."""
    return "|".join(re.escape(name) for name in sorted(set(names), key=len, reverse=True))


_B64URL = "-A-Za-z0-9_"  # the leading dash is literal
_VALUE_CHARS = r"""(?:[^&\s"'<>#;,%]|%(?!26)[0-9A-Fa-f]{2})+"""  # up to the next (encoded) &

# Families of patterns, each run only when a cheap test says it could match: a
# single alternation of everything costs ~250 µs on a 170-character line, since
# the regex engine tries every alternative at every position.
_PRIVATE_KEYS = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s\\]*"
    r"(?:-----END[A-Z ]*PRIVATE KEY-----)?"
)
_CREDENTIAL_HINT = re.compile(
    "token|code|state|secret|assertion|proof|passw|otp|key|signature|x-amz-|authorization"
    "|cookie|bearer|basic|dpop"
)  # searched in lowercased text
_CREDENTIALS = re.compile(
    rf"""
    (?P<parameter>(?P<parameter_name>(?:(?<![A-Za-z0-9_-])|(?<=%3[Ff])|(?<=%26))
        (?i:{_alternatives(_CREDENTIAL_PARAMETERS)})(?:=|%3[Dd])){_VALUE_CHARS})
    | (?P<quoted_key>(?P<quoted_name>\\?(?P<quote>["'])(?i:{_alternatives(_CREDENTIAL_KEYS)})
        \\?(?P=quote)\s*[:=]\s*)(?!\[REDACTED\])
        (?:\\?"[^"\\]*(?:\\?")?|\\?'[^'\\]*(?:\\?')?|[^\s,;}}\]\\"']+))
    | (?P<header>(?P<header_name>(?<![A-Za-z0-9_-])(?i:{_alternatives(_HEADERS)}):[\ \t]*)
        [^\r\n"']+)
    | (?P<scheme>(?P<scheme_name>(?i:\b(?:bearer|dpop|basic))[\ \t]+)
        (?P<credential>[0-9]+(?:[\ -][0-9]+)+|[A-Za-z0-9._~+/=-]+))
    """,
    re.VERBOSE,
)
_ATEXT = "-A-Za-z0-9.!#$%&'*+/=?^_`{|}~"  # an e-mail's local part (RFC 5322 §3.2.3)
_ADDRESSES = re.compile(
    rf"""
    (?P<userinfo>(?<=://)[^\s/@:]+(?::[^\s/@]*)?(?=@))
    | (?P<email>(?<![{_ATEXT}])[{_ATEXT}]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*
        \.[A-Za-z][A-Za-z0-9-]*)
    """,
    re.VERBOSE,
)
_TOKEN_HINT = re.compile("ey[JA]|ew[ok]|EAA|A(?:KI|SI|RO|ID|GP|NP)A")
_TOKENS = re.compile(
    rf"""
    (?P<jwt>(?<![{_B64URL}])(?:eyJ|eyA|ewo|ewk)[{_B64URL}]{{8,}}(?:\.[{_B64URL}]*){{0,4}})
    | (?P<aws_key_id>(?<![A-Z0-9])(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA)[A-Z0-9]{{16}}(?![A-Z0-9]))
    | (?P<meta_token>(?<![A-Za-z0-9])EAA[A-Za-z0-9]{{20,}})
    | (?P<base64_secret>(?<![A-Za-z0-9/+_-])(?:[A-Za-z0-9/+]{{100,}}={{0,2}}|[A-Za-z0-9/+]{{40}})
        (?![A-Za-z0-9/+=_-]))
    """,
    re.VERBOSE,
)


def _byte_map(members: str, mark: str) -> bytes:
    """A `bytes.translate` table: the bytes of `members` become `mark`, every other byte `.`."""
    return bytes(ord(mark) if chr(i) in members else ord(".") for i in range(256))


# For the cheap tests: "is there a 40-character base64 run / four digits in a row?"
_BASE64_MAP = _byte_map(string.ascii_letters + string.digits + "+/", "a")
_DIGIT_MAP = _byte_map(string.digits, "0")
_NUMBERS = re.compile(
    r"""
    (?P<uuid>(?<![0-9A-Fa-f-])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}
        (?![0-9A-Fa-f-]))
    | (?P<hex>(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])[0-9a-f]{16,}(?![0-9A-Za-z]))
    | (?P<iban>(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}
        (?:(?:\ [A-Z0-9]{4}){2,7}(?:\ [A-Z0-9]{1,3})?|[A-Z0-9]{11,30})(?![A-Za-z0-9]))
    | (?P<grouped_digits>(?<![0-9])[0-9]+(?:[\ -][0-9]+)+)
    | (?P<digits>(?<![0-9])[0-9]{8,}(?![0-9]))
    """,
    re.VERBOSE,
)
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9]{8,}(?![0-9])")
_GROUP_SEPARATOR = re.compile(r"[ -]")
_ISO_DATES = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?: [0-9]{4}-[0-9]{2}-[0-9]{2})*")


def redact_text(text: str) -> str:
    """`text` with every identifier and secret above masked; idempotent.

    Families run from the most specific to the most general, so a token is
    replaced whole before its digits could be read as an account number. Each
    runs only when a cheap test says it could match: the shortest thing we mask
    is an e-mail like `a@b.co`, a credential needs `=`, `:` or a space after its
    name, a token is 11+ characters, an account number 8+ digits.
    """
    if len(text) < 6:
        return text
    if "-----BEGIN" in text:
        text = _PRIVATE_KEYS.sub(_secret, text)
    followed = "=" in text or ":" in text or " " in text or "\t" in text or "%3" in text
    if followed and _CREDENTIAL_HINT.search(text.lower()):
        text = _CREDENTIALS.sub(_replace, text)
    if "@" in text:
        text = _ADDRESSES.sub(_replace, text)
    if len(text) < 8:
        return text
    raw = text.encode("utf-8", "replace")
    if len(text) >= 11 and (_TOKEN_HINT.search(text) or b"a" * 40 in raw.translate(_BASE64_MAP)):
        text = _TOKENS.sub(_replace, text)
    # Every identifier we mask holds four digits in a row (a card's group, an IBAN's bank code).
    if b"0000" in raw.translate(_DIGIT_MAP):
        text = _NUMBERS.sub(_replace, text)
    return text


def last_four(identifier: str) -> str:
    """`••` and the identifier's last four letters or digits (separators ignored)."""
    compact = "".join(char for char in identifier if char.isalnum())
    return f"{MASK_PREFIX}{compact[-4:]}"


def luhn_valid(digits: str) -> bool:
    """The ISO/IEC 7812 check digit test that every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _keep(match: re.Match[str]) -> str:
    return match.group()


def _secret(match: re.Match[str]) -> str:
    return REDACTED


def _after_prefix(prefix_group: str) -> Callable[[re.Match[str]], str]:
    """Keep the named prefix (`code=`, `"access_token": `) and replace what follows."""

    def replace(match: re.Match[str]) -> str:
        return f"{match.group(prefix_group)}{REDACTED}"

    return replace


def _scheme_credential(match: re.Match[str]) -> str:
    credential = match.group("credential")
    # "bearer token", "basic authentication": prose; no credential is a short lowercase word.
    if credential.isalpha() and credential.islower() and len(credential) <= 14:
        return match.group()
    return f"{match.group('scheme_name')}{REDACTED}"


def _mixed_base64(match: re.Match[str]) -> str:
    """AWS secret keys and session tokens mix cases and digits; long lowercase words do not."""
    value = match.group()
    mixed = any(c.isupper() for c in value) and any(c.islower() for c in value)
    return REDACTED if mixed and any(c.isdigit() for c in value) else value


def _identifier(match: re.Match[str]) -> str:
    return last_four(match.group())


def _iban_valid(iban: str) -> bool:
    """The ISO 13616 mod-97 check, on a compact IBAN."""
    rearranged = iban[4:] + iban[:4]
    return rearranged.isalnum() and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban(match: re.Match[str]) -> str:
    """The IBAN, less a short number that merely follows it (`… 0000 1`), as its checksum tells."""
    text = match.group()
    head, _, tail = text.rpartition(" ")
    if head and not _iban_valid(text.replace(" ", "")) and _iban_valid(head.replace(" ", "")):
        return f"{last_four(head)} {tail}"
    return last_four(text)


def _grouped_digits(match: re.Match[str]) -> str:
    """Digit groups joined by single spaces or dashes, masked whole when they could hide a number.

    That is when they hold 13 or more digits (a card, an account number in its
    national format, or several numbers side by side, none of which may show)
    or are grouped in fours; only ISO dates that fail Luhn are spared. Shorter
    runs keep their small groups and lose their long ones.
    """
    text = match.group()
    groups = _GROUP_SEPARATOR.split(text)
    digits = "".join(groups)
    in_fours = len(digits) >= 8 and all(len(group) == 4 for group in groups[:-1])
    long_enough = len(digits) >= 13 and (luhn_valid(digits) or not _ISO_DATES.fullmatch(text))
    if in_fours or long_enough:
        return last_four(digits)
    return _LONG_DIGITS.sub(_identifier, text)


_REPLACEMENTS: dict[str, Callable[[re.Match[str]], str]] = {
    "uuid": _keep,
    "hex": _keep,
    "userinfo": _secret,
    "parameter": _after_prefix("parameter_name"),
    "quoted_key": _after_prefix("quoted_name"),
    "header": _after_prefix("header_name"),
    "scheme": _scheme_credential,
    "jwt": _secret,
    "email": _secret,
    "aws_key_id": _secret,
    "meta_token": _secret,
    "base64_secret": _mixed_base64,
    "iban": _iban,
    "grouped_digits": _grouped_digits,
    "digits": _identifier,
}


def _replace(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.lastgroup or ""](match)
