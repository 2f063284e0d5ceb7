"""The inbound worker's Lambda init prepares the container; no other function's init does.

Lambda names the function's handler in `_HANDLER`; `app.py` runs
`worker.prepare_container` at import only for `app.handle_inbound_events`. Each
case imports the app in a fresh interpreter with `prepare_container` replaced by a
recorder, so no AWS call is made.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

IMPORT_WITH_RECORDER = """
from chalicelib.conversation import worker

worker.prepare_container = lambda: print("prepared")
import app  # noqa: F401
"""


def _import_app(handler: str | None) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("BANKBRIDGE_", "_"))}
    environment["BANKBRIDGE_STAGE"] = "prod"
    if handler is not None:
        environment["_HANDLER"] = handler
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITH_RECORDER],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def test_the_inbound_workers_init_prepares_its_container() -> None:
    assert _import_app("app.handle_inbound_events").splitlines() == ["prepared"]


@pytest.mark.parametrize("handler", [None, "app.app", "app.handle_bank_events"])
def test_no_other_init_prepares_the_worker(handler: str | None) -> None:
    assert "prepared" not in _import_app(handler)
