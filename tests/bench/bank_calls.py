"""Bank requests per chat intent and standard, beside the fewest the standard allows.

The sandbox bank (loopback thread) serves FDX, UK OB, Berlin Group and CDR; alice
shares three accounts (checking, savings, a card) and is linked through each
standard's real flow. `Banking.read` then answers "balance" and "transactions" as
the worker does, and the sandbox counts every request it saw (token and discovery
included, which a warm read must not need). Each count sits beside the standard's
minimum and, for balances, beside the per-account form (`balances_in_bulk: false`,
what every balance read cost before). Timings: a balance read with the bank answering every
request after `LATENCY_MS`, in bulk and per account, interleaved. Berlin Group is
left out of the timings: its unattended reads are capped at four a day per consent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from chalicelib.settings import get_settings
from tests.bench.figures import Figure, interleaved, ratio_figure, timed
from tests.conftest import TEST_ACCOUNT_REFERENCE_KEY, account_reference_key_of
from tests.fakes.aws import in_memory_aws
from tests.unit.connectors.sandbox_linking import registered_sandbox
from tests.unit.connectors.sandbox_reads import (
    ALICE_ACCOUNTS,
    BALANCES,
    ENDPOINTS,
    INTENTS,
    STANDARDS,
    LinkedReader,
    fewest_requests,
    linked_reader,
)

SECTION_CALLS = f"Bank calls per intent ({ALICE_ACCOUNTS} accounts, sandbox bank)"
SECTION_TIME = "Bank calls: balance read time, bulk vs per account"
LATENCY_MS = 100
TIMING_RUNS = 9
TIMED_STANDARDS = ("FDX", "UK OB", "CDR")


def figures() -> list[Figure]:
    """Requests per intent per standard against the minimum; balance read times."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access line per request
    found: list[Figure] = []
    with _local_dev_stage(), registered_sandbox() as sandbox:
        readers = {standard: linked_reader(sandbox, standard) for standard in STANDARDS}
        per_account = {
            standard: linked_reader(sandbox, standard, balances_in_bulk=False)
            for standard in STANDARDS
        }
        for standard, reader in readers.items():
            for intent, request in INTENTS.items():
                made = reader.read(request)
                minimum = sum(fewest_requests(standard, request).values())
                floor = f"standard's minimum: {minimum}"
                if request.balances:
                    floor += f"; per account: {per_account[standard].read(request).total}"
                found.append(
                    Figure(
                        section=SECTION_CALLS,
                        name=f"{standard}, {intent}",
                        measured=f"{_requests(made.total)} ({_named(standard, made.requests)})",
                        floor=floor,
                        goal=f"<= {minimum}",
                        met=made.total <= minimum,
                    )
                )
        requests.post(f"{sandbox.url}/sandbox/config", json={"latency_ms": LATENCY_MS}, timeout=10)
        for standard in TIMED_STANDARDS:
            found.append(_timing(standard, readers[standard], per_account[standard]))
    return found


def _timing(standard: str, bulk: LinkedReader, per_account: LinkedReader) -> Figure:
    bulk_ms, per_account_ms = interleaved(
        TIMING_RUNS, timed(lambda: bulk.read(BALANCES)), timed(lambda: per_account.read(BALANCES))
    )
    return ratio_figure(
        SECTION_TIME,
        f"{standard}, {LATENCY_MS} ms a request",
        bulk_ms,
        per_account_ms,
        floor_name="per account",
    )


def _requests(count: int) -> str:
    return f"{count} request{'' if count == 1 else 's'}"


def _named(standard: str, counted: dict[str, int]) -> str:
    """E.g. `accounts 1, bulk balances 1`; anything else (a token request) by its path."""
    roles = {path: role for role, path in ENDPOINTS[standard].items()}
    return ", ".join(f"{roles.get(path, path)} {n}" for path, n in counted.items())


@contextmanager
def _local_dev_stage() -> Iterator[None]:
    """The unit tests' `aws` fixture: dev stage rules, in-memory KMS, a fixed reference key."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BANKBRIDGE_STAGE", "dev")
        patch.setenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", "1")
        patch.delitem(os.environ, "AWS_LAMBDA_FUNCTION_NAME", raising=False)
        get_settings.cache_clear()
        with account_reference_key_of(TEST_ACCOUNT_REFERENCE_KEY), in_memory_aws(patch):
            yield
        get_settings.cache_clear()
