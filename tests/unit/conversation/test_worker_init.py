"""The inbound worker's Lambda init prepares the container; no other function's init does.

Lambda names the function's handler in `_HANDLER`; `app.py` runs
`worker.prepare_container` at import only for `app.handle_inbound_events`. Each
case imports the app in a fresh interpreter with `prepare_container` replaced by a
recorder, so no AWS call is made.
"""

from __future__ import annotations

import pytest

from tests.fresh_container import run_in_fresh_container

IMPORT_WITH_RECORDER = """
import json

from chalicelib.conversation import worker

prepared = []
worker.prepare_container = lambda: prepared.append(True)
import app  # noqa: F401

print(json.dumps(bool(prepared)))
"""


def _prepared(handler: str | None) -> bool:
    environment = {"BANKBRIDGE_STAGE": "prod"} | ({"_HANDLER": handler} if handler else {})
    prepared: bool = run_in_fresh_container(IMPORT_WITH_RECORDER, environment)
    return prepared


def test_the_inbound_workers_init_prepares_its_container() -> None:
    assert _prepared("app.handle_inbound_events")


@pytest.mark.parametrize("handler", [None, "app.app", "app.handle_bank_events"])
def test_no_other_init_prepares_the_worker(handler: str | None) -> None:
    assert not _prepared(handler)
