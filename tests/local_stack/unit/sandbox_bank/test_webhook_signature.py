"""The BankBridge-Signature scheme: format, rotation, replay window, tampering."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from infra.local.sandbox_bank.webhook_signature import SignatureError, sign, verify

BODY = b'{"notificationId":"n-1"}'
NOW = 1_700_000_000


def test_header_is_timestamp_then_one_hmac_per_secret() -> None:
    header = sign(["a-secret", "b-secret"], NOW, BODY)

    expected = [
        hmac.new(secret, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
        for secret in (b"a-secret", b"b-secret")
    ]
    assert header == f"t={NOW},v1={expected[0]},v1={expected[1]}"


def test_any_matching_v1_verifies_during_rotation() -> None:
    header = sign(["old-secret", "new-secret"], NOW, BODY)

    assert verify(header, BODY, "new-secret", NOW + 10) == NOW
    assert verify(header, BODY, "old-secret", NOW - 10) == NOW


@pytest.mark.parametrize(
    ("header", "body", "now", "problem"),
    [
        (None, BODY, NOW, "missing"),
        ("v1=abc", BODY, NOW, "must be"),
        (f"t={NOW}", BODY, NOW, "must be"),
        (f"t=soon,v1={'0' * 64}", BODY, NOW, "must be"),
        (sign(["s3cret-value"], NOW, BODY), BODY, NOW + 301, "window"),
        (sign(["s3cret-value"], NOW, BODY), BODY + b" ", NOW, "does not match"),
        (sign(["other-secret"], NOW, BODY), BODY, NOW, "does not match"),
    ],
    ids=["missing", "no-t", "no-v1", "bad-t", "stale", "tampered", "wrong-secret"],
)
def test_bad_signatures_say_what_is_wrong(header, body, now, problem) -> None:
    with pytest.raises(SignatureError, match=problem):
        verify(header, body, "s3cret-value", now)
