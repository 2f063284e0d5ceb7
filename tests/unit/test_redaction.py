"""The redaction patterns: what they mask, what they must leave alone, and that nothing slips by."""

from __future__ import annotations

import secrets
import string
import uuid
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.observability import REDACTED, redact
from chalicelib.redaction import luhn_valid, redact_text
from tests.sensitive_values import Sensitive, leaks, sensitive_values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account 123456789012", "account ••9012"),
        ("card 4111 1111 1111 1111 ok", "card ••1111 ok"),
        ("card 4111-1111-1111-1111", "card ••1111"),
        ("amex 3782 822463 10005", "amex ••0005"),
        ("NZ 12-3456-7890123-00", "NZ ••2300"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "IBAN ••5432."),
        ("IBAN DE89370400440532013000", "IBAN ••3000"),
        ("id=acc_12345678", "id=acc_••5678"),
        (
            "GET /oauth/callback?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj&iss=https://x",
            "GET /oauth/callback?code=[REDACTED]&state=[REDACTED]&iss=https://x",
        ),
        (
            "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=bb",
            "grant_type=refresh_token&refresh_token=[REDACTED]&client_id=bb",
        ),
        (
            "client_secret=s3cr3t&client_assertion=abc.def",
            "client_secret=[REDACTED]&client_assertion=[REDACTED]",
        ),
        (
            "account_linking_token=ARTx9&redirect_uri=x",
            "account_linking_token=[REDACTED]&redirect_uri=x",
        ),
        ("/link/start?token=Zx81kQ", "/link/start?token=[REDACTED]"),
        ("hub.verify_token=vt-1&hub.challenge=42", "hub.verify_token=[REDACTED]&hub.challenge=42"),
        (
            "u=https%3A%2F%2Fx%3Fcode%3Dabc%26state%3Dxyz",
            "u=https%3A%2F%2Fx%3Fcode%3D[REDACTED]%26state%3D[REDACTED]",
        ),
        ("Authorization: Bearer ya29.a0Af", "Authorization: [REDACTED]"),
        ("sent with Bearer abc.DEF-123_x", "sent with Bearer [REDACTED]"),
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic [REDACTED]"),
        ("BEARER 3782 822463 10005 then", "BEARER [REDACTED] then"),  # all groups, not the first
        (
            "{'access_token': 'at-1', \"refresh_token\": \"rt 2\"}",
            "{'access_token': [REDACTED], \"refresh_token\": [REDACTED]}",
        ),
        ('{\\"id_token\\": \\"abc\\"}', '{\\"id_token\\": [REDACTED]}'),
        ("Cookie: __Host-bb_state=abc; other=1", "Cookie: [REDACTED]"),
        (
            "jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl end",
            "jwt [REDACTED] end",
        ),
        ("mail bob.smith+bank@example.co.uk now", "mail [REDACTED] now"),
        ("https://user:pa55@bank.example/x", "https://[REDACTED]@bank.example/x"),
        ("key AKIAIOSFODNN7EXAMPLE", "key [REDACTED]"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY.", "secret [REDACTED]."),
        ("page token EAAGm0PX4ZCpsBAKZCZBaZBZAZBZCZCZCZB", "page token [REDACTED]"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----!", "[REDACTED]!"),
        ("arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sqs:us-east-1:••9012:q"),
    ],
)
def test_what_is_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Bob's Checking ••4953: $5,108.44 available, $5,200.00 current",
        "-$1,234,567.89 and 1,200 JPY and 99.99 CHF",
        "Nov 22  Blue Bottle Coffee  -$4.50 (pending)",
        "at 2026-12-02T03:00:51.123456+00:00, 14:02 UTC, between 2026-11-02 2026-12-02",
        "status=200 latency_ms=184.2 attempt=3 size=1048576",
        "reference 1234567 and linking code 482 913",
        pytest.param(f"interaction_id={uuid.uuid4()} sqs message {uuid.uuid4()}", id="uuids"),
        pytest.param(
            f"event m_{secrets.token_urlsafe(24)} from Meta, fbtrace_id A7Bc9DkRzQ1",
            id="random-mid",  # a fixed id: pytest-xdist workers must collect the same tests
        ),
        "evt_01HF8KQ2Z3 and ref 3f9a0c1d2e3f4a5b and sha256=" + "a1b2c3d4" * 8,
        'File "/work/main/chalicelib/batch.py", line 249, in run',
        "Bearer token refused; basic authentication off; the state was open",
        "graph_code=190 error_code=4 http_status=400",
        "institution_id=sandbox-fdx path=/fdx/v6/accounts/acc-7/transactions",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


@settings(max_examples=300, deadline=None)
@given(
    item=sensitive_values(),
    before=st.text(string.ascii_letters + string.digits + ".,;:()'\"", max_size=12),
    after=st.text(string.ascii_letters + string.digits + ".,;:()'\"", max_size=12),
)
def test_a_value_in_any_sentence_is_masked(item: Sensitive, before: str, after: str) -> None:
    # A bare token in prose has no shape to find; only the sentence around it is generated.
    assume(not leaks(item, f"{before} {after}"))
    redacted = redact_text(f"{before} {item.text} {after}")
    assert leaks(item, redacted) == []
    # A number written next to it is masked with it: the four shown may not be its own; after
    # a word like `Bearer` the whole number is taken for a credential and replaced instead.
    assert "••" in redacted or REDACTED in redacted if item.identifier else REDACTED in redacted


@settings(max_examples=200, deadline=None)
@given(item=sensitive_values())
def test_redaction_is_idempotent(item: Sensitive) -> None:
    once = redact_text(f"value: {item.text}")
    assert redact_text(once) == once


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


def test_date_ranges_are_spared_but_a_card_written_like_them_is_not() -> None:
    assert redact_text("2026-11-02 2026-12-02") == "2026-11-02 2026-12-02"
    luhn_valid_dates = next(
        f"2026-11-{day:02d} 2026-12-{other:02d}"
        for day in range(1, 29)
        for other in range(1, 29)
        if luhn_valid(f"202611{day:02d}202612{other:02d}")
    )
    assert redact_text(luhn_valid_dates).startswith("••")


def test_structured_values_are_redacted_by_key_and_by_content() -> None:
    document = {
        "authorization": "anything at all",
        "institution_id": "sandbox-fdx",
        "detail": ["call to https://x/?code=abc", 123456789012, 7, True, None, 18.5],
        "123456789012": "keyed by a number",
        "raw": b"iban GB82WEST12345698765432",
        "amount_value": Decimal("12345678.90"),
    }
    assert redact(document) == {
        "authorization": REDACTED,
        "institution_id": "sandbox-fdx",
        "detail": ["call to https://x/?code=[REDACTED]", "••9012", 7, True, None, 18.5],
        "••9012": "keyed by a number",
        "raw": "iban ••5432",
        "amount_value": "••5678.90",
    }
