"""The generic `BankBridge-Signature` scheme: replay window, rotation, tampering."""

from __future__ import annotations

import pytest

from chalicelib.events.exceptions import SignatureInvalid
from chalicelib.events.signing import sign, signature_value, verify

BODY = b'{"notificationId":"n-1","type":"CUSTOM","category":"FRAUD"}'
NOW = 1_800_000_000


def test_a_valid_signature_returns_its_timestamp() -> None:
    header = sign(["s3cret-one"], NOW, BODY)
    assert verify(header, BODY, ["s3cret-one"], now=NOW) == NOW


def test_wrong_secret_is_refused() -> None:
    header = sign(["not-the-secret"], NOW, BODY)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(header, BODY, ["s3cret-one"], now=NOW)


def test_tampered_body_is_refused() -> None:
    header = sign(["s3cret-one"], NOW, BODY)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(header, BODY.replace(b"n-1", b"n-2"), ["s3cret-one"], now=NOW)


@pytest.mark.parametrize(
    ("signed_at", "message"), [(NOW - 301, "older than"), (NOW + 301, "in the future")]
)
def test_timestamps_outside_the_window_are_refused(signed_at: int, message: str) -> None:
    header = sign(["s3cret-one"], signed_at, BODY)
    with pytest.raises(SignatureInvalid, match=message):
        verify(header, BODY, ["s3cret-one"], now=NOW)


@pytest.mark.parametrize("signed_at", [NOW - 300, NOW + 300])
def test_the_window_edges_are_accepted(signed_at: int) -> None:
    assert verify(sign(["k-1"], signed_at, BODY), BODY, ["k-1"], now=NOW) == signed_at


def test_a_timestamp_cannot_be_moved_without_breaking_the_signature() -> None:
    value = signature_value("s3cret-one", NOW - 1000, BODY)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(f"t={NOW},v1={value}", BODY, ["s3cret-one"], now=NOW)


def test_rotation_sender_with_two_values_matches_the_receivers_one_secret() -> None:
    header = sign(["old-secret", "new-secret"], NOW, BODY)
    assert header.count("v1=") == 2
    assert verify(header, BODY, ["new-secret"], now=NOW) == NOW
    assert verify(header, BODY, ["old-secret"], now=NOW) == NOW


def test_rotation_receiver_with_two_secrets_accepts_either() -> None:
    for secret in ("old-secret", "new-secret"):
        assert verify(sign([secret], NOW, BODY), BODY, ["new-secret", "old-secret"], now=NOW)


def test_hs512_when_the_config_allows_it() -> None:
    header = sign(["k-1"], NOW, BODY, "HS512")
    assert verify(header, BODY, ["k-1"], now=NOW, algorithms=["HS512"]) == NOW
    with pytest.raises(SignatureInvalid):
        verify(header, BODY, ["k-1"], now=NOW, algorithms=["HS256"])


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", f"t={NOW}", f"t=soon,v1={'0' * 64}", f"t={NOW},t={NOW},v1={'0' * 64}"],
)
def test_missing_or_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        verify(header, BODY, ["k-1"], now=NOW)
