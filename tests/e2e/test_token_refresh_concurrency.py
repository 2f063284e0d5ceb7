"""Twenty concurrent requests on an expired token make exactly one refresh at the bank."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.chat import (
    link_sandbox,
    money_in,
    new_psid,
    pause_for,
    post_events,
    replies,
    say,
    text_of,
)
from tests.e2e.conftest import LocalStack, eventually
from tests.factories import text_event

pytestmark = pytest.mark.e2e

# Long enough that the twenty answers all come within one token's life (else a second,
# honest refresh), short because the test waits it out once.
ACCESS_TOKEN_TTL = 10
CONCURRENT_MESSAGES = 20


@pytest.fixture
def short_lived_rotating_tokens(local_stack: LocalStack) -> Iterator[None]:
    config_url = f"{local_stack.urls['bank']}/sandbox/config"
    previous = requests.get(config_url, timeout=5).json()
    answer = requests.post(
        config_url,
        json={"access_token_ttl": ACCESS_TOKEN_TTL, "rotate_refresh_tokens": True},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    yield
    requests.post(
        config_url,
        json={
            "access_token_ttl": previous["access_token_ttl"],
            "rotate_refresh_tokens": previous["rotate_refresh_tokens"],
        },
        timeout=5,
    )


def _refresh_grants(stack: LocalStack) -> int:
    stats = requests.get(f"{stack.urls['bank']}/sandbox/stats", timeout=5).json()
    return int(stats["grant_types"].get("refresh_token", 0))


def test_one_refresh_for_twenty_concurrent_balance_requests(
    local_stack: LocalStack, short_lived_rotating_tokens: None
) -> None:
    psid = new_psid()
    link_sandbox(local_stack, psid)
    # Token expiry is wall-clock time at the bank: nothing to await but the clock.
    pause_for(ACCESS_TOKEN_TTL)
    refreshes_before = _refresh_grants(local_stack)
    replies_before = len(replies(local_stack, psid))

    with ThreadPoolExecutor(max_workers=CONCURRENT_MESSAGES) as pool:
        answers = list(
            pool.map(
                lambda i: post_events(local_stack, text_event(psid, f"balance {i}")).status_code,
                range(CONCURRENT_MESSAGES),
            )
        )
    assert answers == [200] * CONCURRENT_MESSAGES
    balances = eventually(
        lambda: (
            found
            if len(found := replies(local_stack, psid)[replies_before:]) >= CONCURRENT_MESSAGES
            else None
        ),
        "twenty balance replies",
        timeout=60,
    )
    assert all("Sandbox Bank (FDX)" in text_of(reply) for reply in balances)
    assert all(money_in(text_of(reply)) for reply in balances)
    assert _refresh_grants(local_stack) - refreshes_before == 1

    # The rotated refresh token was persisted: the link still works.
    after = text_of(say(local_stack, psid, "balance")[-1])
    assert "Sandbox Bank (FDX)" in after and "link again" not in after
