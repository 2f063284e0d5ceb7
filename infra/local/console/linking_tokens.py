"""`account_linking_token`s come from the Graph stand-in, as Messenger's come from Meta.

The stand-in then answers BankBridge's PSID lookup (`GET /me?fields=recipient&
account_linking_token=...`) for them, so the app's check that the person who
tapped Log In is the chat user runs for real against the local stack.
"""

from __future__ import annotations

import requests


class LinkingTokensUnavailable(Exception):
    """The Graph stand-in did not issue a token."""


def issue_from_graph(graph_url: str, psid: str) -> str:
    """Ask the stand-in for a fresh `account_linking_token` for `psid`."""
    try:
        answer = requests.post(
            f"{graph_url.rstrip('/')}/__account_linking_tokens", json={"psid": psid}, timeout=5
        )
        answer.raise_for_status()
        return str(answer.json()["account_linking_token"])
    except (requests.RequestException, ValueError, KeyError) as error:
        raise LinkingTokensUnavailable(f"the Graph stand-in issued no token: {error}") from error
