"""X-Hub-Signature-256 and the subscription handshake."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.channels.meta.signature import (
    sign,
    signature_is_valid,
    verification_challenge,
)

SECRET = "app-secret"


def test_valid_signature_over_raw_bytes_is_accepted() -> None:
    body = b'{"object":"page","entry":[]}'
    header = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature_is_valid(SECRET, body, header)


def test_escaped_unicode_body_is_hashed_as_received_not_decoded() -> None:
    # Meta signs the escaped form: "\u00e4\u00f6\u00e5", never the decoded "äöå".
    escaped = b'{"text":"\\u00e4\\u00f6\\u00e5"}'
    decoded = '{"text":"äöå"}'.encode()
    header = sign(SECRET, escaped)
    assert signature_is_valid(SECRET, escaped, header)
    assert not signature_is_valid(SECRET, decoded, header)


def test_uppercase_hex_digest_is_accepted() -> None:
    body = b"{}"
    header = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    assert signature_is_valid(SECRET, body, header)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256=abc",
        "sha1=" + hmac.new(SECRET.encode(), b"{}", hashlib.sha1).hexdigest(),
        hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),  # no prefix
        "sha256=" + "z" * 64,
        sign("other-secret", b"{}"),
    ],
)
def test_missing_malformed_or_wrong_signatures_are_rejected(header: str | None) -> None:
    assert not signature_is_valid(SECRET, b"{}", header)


def test_tampered_body_is_rejected() -> None:
    header = sign(SECRET, b'{"a":1}')
    assert not signature_is_valid(SECRET, b'{"a":2}', header)


def test_no_app_secret_fails_closed() -> None:
    assert not signature_is_valid("", b"{}", sign("", b"{}"))


def test_handshake_returns_challenge_for_matching_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "1158201444"}
    assert verification_challenge(query, "vt") == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        None,
        {},
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "vt", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "vt"},
        {"hub.verify_token": "vt", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses_anything_else(query: dict[str, str] | None) -> None:
    assert verification_challenge(query, "vt") is None


def test_handshake_refuses_when_no_token_is_configured() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert verification_challenge(query, "") is None
