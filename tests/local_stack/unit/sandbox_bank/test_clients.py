"""Sandbox client registrations: redirect URI matching and what a registration must hold."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.local.sandbox_bank.clients import ClientRegistration, default_client


@pytest.mark.parametrize(
    ("redirect_uri", "allowed"),
    [
        ("http://127.0.0.1:8000/oauth/callback", True),
        ("http://localhost:53111/oauth/callback", True),
        ("http://127.0.0.1/oauth/callback", False),  # the wildcard still needs a port
        ("https://127.0.0.1:8000/oauth/callback", False),
        ("http://127.0.0.1:8000/oauth/callback?next=x", False),
        ("http://127.0.0.1:8000/oauth/callback/extra", False),
        ("http://evil.example:8000/oauth/callback", False),
        ("http://127.0.0.1:8000@evil.example:1/oauth/callback", False),
        ("http://127.0.0.1:80x/oauth/callback", False),
    ],
)
def test_default_client_accepts_loopback_callbacks_on_any_port(
    redirect_uri: str, allowed: bool
) -> None:
    assert default_client().allows_redirect(redirect_uri) is allowed


def test_registered_uris_without_wildcard_match_exactly() -> None:
    client = ClientRegistration(
        client_id="c", client_secret="s" * 12, redirect_uris=("https://app.example/cb",)
    )

    assert client.allows_redirect("https://app.example/cb")
    assert not client.allows_redirect("https://app.example/cb/")


@pytest.mark.parametrize(
    "fields",
    [
        {"redirect_uris": ("https://app.example/cb",)},  # no secret and no jwks
        {"client_secret": "s" * 12, "redirect_uris": ()},
        {"client_secret": "s" * 12, "redirect_uris": ("app.example/cb",)},
        {"client_secret": "s" * 12, "redirect_uris": ("https://app.example/cb#frag",)},
        {"jwks": {"keys": []}, "redirect_uris": ("https://app.example/cb",)},
        {
            "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0", "d": "x"}]},
            "redirect_uris": ("https://app.example/cb",),
        },
    ],
)
def test_invalid_registrations_are_refused(fields: dict) -> None:
    with pytest.raises(ValidationError):
        ClientRegistration(client_id="c", **fields)
