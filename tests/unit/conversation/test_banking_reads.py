"""`Banking.read` asks a slow bank for every account at once, and keeps the accounts' order."""

from __future__ import annotations

import threading
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.bank_data import Account, Balance
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.exceptions import BankUnavailable
from chalicelib.conversation.banking import Banking, ReadRequest
from chalicelib.deadline import deadline_in, seconds_left
from chalicelib.store.links import Link

USER = ChannelUser(channel="messenger", user_id="psid-1")
ACCOUNT_IDS = ["acc-1", "acc-2", "acc-3"]


class SlowBank:
    """A connector whose balance calls all wait for each other: they pass only if concurrent."""

    def __init__(self, institution_id: str, *, unavailable: bool = False) -> None:
        self.config = SimpleNamespace(display_name=f"Bank {institution_id}")
        self._institution_id = institution_id
        self._unavailable = unavailable
        self._together = threading.Barrier(len(ACCOUNT_IDS), timeout=5)
        self.time_left_seen: list[float | None] = []

    def list_accounts(self, token: str, *, consent_id: str | None) -> list[Account]:
        if self._unavailable:
            raise BankUnavailable("bank unavailable (HTTP 503)", institution_id="x")
        return [
            Account(institution_id=self._institution_id, account_id=account_id, currency="USD")
            for account_id in ACCOUNT_IDS
        ]

    def get_balance(self, token: str, account_id: str, *, consent_id: str | None) -> Balance:
        self.time_left_seen.append(seconds_left())
        self._together.wait()  # raises BrokenBarrierError if the calls come one at a time
        return Balance(account_id=account_id, currency="USD", current=Decimal("1.00"))


def _link(institution_id: str) -> Link:
    return Link(
        channel=USER.channel,
        user_id=USER.user_id,
        institution_id=institution_id,
        sealed_tokens="sealed",
        access_expires_at=0,
        access_lifetime=3600,
    )


def _banking(banks: dict[str, SlowBank], monkeypatch: pytest.MonkeyPatch) -> Banking:
    links: Any = SimpleNamespace(list_for_user=lambda *_: [_link(i) for i in banks])
    banking = Banking(links, banks.__getitem__)
    monkeypatch.setattr(banking, "_token", lambda link, connector: "access-token")
    return banking


def test_every_account_of_a_bank_is_read_at_once_and_the_order_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank = SlowBank("first")
    with deadline_in(30.0):
        reading = _banking({"first": bank}, monkeypatch).read(USER, ReadRequest(balances=True))
    assert [view.account.account_id for view in reading.accounts] == ACCOUNT_IDS
    assert all(view.balance is not None for view in reading.accounts)
    # The invocation deadline reaches the threads that call the bank.
    assert all(left is not None and left < 30.0 for left in bank.time_left_seen)


def test_one_unavailable_bank_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    banks = {"first": SlowBank("first"), "down": SlowBank("down", unavailable=True)}
    reading = _banking(banks, monkeypatch).read(USER, ReadRequest(balances=True))
    assert [view.institution_id for view in reading.accounts] == ["first"] * 3
    assert [(p.institution_id, p.kind) for p in reading.problems] == [("down", "unavailable")]
