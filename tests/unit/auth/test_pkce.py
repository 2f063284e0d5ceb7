"""PKCE S256 (RFC 7636) and the per-login secrets."""

from __future__ import annotations

from chalicelib.auth.pkce import code_challenge, new_authorization_secrets


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_fresh_secrets_are_long_distinct_and_url_safe() -> None:
    first, second = new_authorization_secrets(), new_authorization_secrets()
    assert 43 <= len(first.code_verifier) <= 128
    assert len(first.state) >= 32
    assert len({first.state, first.nonce, first.code_verifier, second.state}) == 4
    assert all(c.isalnum() or c in "-_" for c in first.code_verifier)
    assert first.code_challenge == code_challenge(first.code_verifier)
