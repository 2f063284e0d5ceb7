"""`Banking.read` asks a slow bank for every account at once, and keeps the accounts' order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.bank_data import Account, Balance
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import ListedAccount, ReadContext, TransactionPage
from chalicelib.connectors.exceptions import BankUnavailable
from chalicelib.conversation.banking import MAX_PARALLEL_BANK_READS, Banking, ReadRequest
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

    def list_accounts(self, token: str, *, read: ReadContext) -> list[Account]:
        if self._unavailable:
            raise BankUnavailable("bank unavailable (HTTP 503)", institution_id="x")
        return [
            Account(institution_id=self._institution_id, account_id=account_id, currency="USD")
            for account_id in ACCOUNT_IDS
        ]

    def list_accounts_with_balances(self, token: str, *, read: ReadContext) -> list[ListedAccount]:
        """A bank with no balances in bulk: each is read on its own, all at once."""
        accounts = self.list_accounts(token, read=read)
        return [ListedAccount(account) for account in accounts]

    def get_balance(self, token: str, account_id: str, *, read: ReadContext) -> Balance:
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
        reading = _banking({"first": bank}, monkeypatch).read(
            [_link("first")], ReadRequest(balances=True)
        )
    assert [view.account.account_id for view in reading.accounts] == ACCOUNT_IDS
    assert all(view.balance is not None for view in reading.accounts)
    # The invocation deadline reaches the threads that call the bank.
    assert all(left is not None and left < 30.0 for left in bank.time_left_seen)


def test_one_unavailable_bank_does_not_hide_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    banks = {"first": SlowBank("first"), "down": SlowBank("down", unavailable=True)}
    reading = _banking(banks, monkeypatch).read(
        [_link(i) for i in banks], ReadRequest(balances=True)
    )
    assert [view.institution_id for view in reading.accounts] == ["first"] * 3
    assert [(p.institution_id, p.kind) for p in reading.problems] == [("down", "unavailable")]


class BulkBank:
    """Balances in bulk for some accounts; transaction reads that count how many overlap."""

    def __init__(self, account_ids: list[str], *, with_balance: set[str]) -> None:
        self.config = SimpleNamespace(display_name="Bulk bank")
        self._account_ids = account_ids
        self._with_balance = with_balance
        self.balance_reads: list[str] = []
        self.reads_seen: list[ReadContext] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.most_in_flight = 0
        self._rounds = threading.Barrier(MAX_PARALLEL_BANK_READS, timeout=5)

    def list_accounts(self, token: str, *, read: ReadContext) -> list[Account]:
        return [
            Account(institution_id="bulk", account_id=account_id, currency="USD")
            for account_id in self._account_ids
        ]

    def list_accounts_with_balances(self, token: str, *, read: ReadContext) -> list[ListedAccount]:
        return [
            ListedAccount(
                account,
                _balance(account.account_id) if account.account_id in self._with_balance else None,
            )
            for account in self.list_accounts(token, read=read)
        ]

    def get_balance(self, token: str, account_id: str, *, read: ReadContext) -> Balance:
        self.balance_reads.append(account_id)
        self.reads_seen.append(read)
        return _balance(account_id)

    def first_transactions(self, *args: Any, **kwargs: Any) -> TransactionPage:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        self._rounds.wait()  # a full round of parallel reads, else BrokenBarrierError
        with self._lock:
            self._in_flight -= 1
        return TransactionPage([], more=False)


def _balance(account_id: str) -> Balance:
    return Balance(account_id=account_id, currency="USD", current=Decimal("2.00"))


def _bulk_banking(bank: BulkBank, monkeypatch: pytest.MonkeyPatch) -> Banking:
    links: Any = SimpleNamespace()
    banking = Banking(links, lambda institution_id: bank)
    monkeypatch.setattr(banking, "_token", lambda link, connector: "access-token")
    return banking


def test_only_accounts_the_bulk_answer_left_out_are_asked_for_their_balance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bank = BulkBank(ACCOUNT_IDS, with_balance={"acc-1", "acc-3"})

    reading = _bulk_banking(bank, monkeypatch).read([_link("bulk")], ReadRequest(balances=True))

    assert bank.balance_reads == ["acc-2"]
    assert [view.balance for view in reading.accounts] == [_balance(a) for a in ACCOUNT_IDS]


def test_transaction_reads_of_one_bank_are_parallel_but_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    many = [f"acc-{n}" for n in range(2 * MAX_PARALLEL_BANK_READS)]
    bank = BulkBank(many, with_balance=set())

    reading = _bulk_banking(bank, monkeypatch).read([_link("bulk")], ReadRequest(per_account=5))

    assert len(reading.accounts) == len(many)
    assert bank.most_in_flight == MAX_PARALLEL_BANK_READS


def test_reads_send_when_the_customer_authenticated_at_linking_not_the_time_of_the_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CDR wants `x-fapi-auth-date` = the customer's last sign-in on every call; a chat
    message is none, so each read carries the time kept on the link, and an older link
    without one its creation (minutes after the sign-in that made it)."""
    bank = BulkBank(["acc-1"], with_balance=set())
    kept = _link("bulk").model_copy(
        update={
            "consent_id": "arr-1",
            "authenticated_at": 1_767_000_000,
            "created_at": 1_767_000_300,
        }
    )
    older = _link("bulk").model_copy(update={"created_at": 1_700_000_000})

    _bulk_banking(bank, monkeypatch).read([kept], ReadRequest(balances=True))
    _bulk_banking(bank, monkeypatch).read([older], ReadRequest(balances=True))

    assert bank.reads_seen == [
        ReadContext(
            consent_id="arr-1", authenticated_at=datetime.fromtimestamp(1_767_000_000, UTC)
        ),
        ReadContext(authenticated_at=datetime.fromtimestamp(1_700_000_000, UTC)),
    ]
