"""A queue worker that logs and raises with secrets, for the local container redaction test.

It imports nothing of the app: whatever redacts its lines must come from the
local Lambda runtime itself, as it would for any handler module.
"""

from __future__ import annotations

import logging
from typing import Any


def log_and_raise(event: dict[str, Any], context: Any) -> None:
    """Log the event's secret, then fail with it (the runtime logs the traceback)."""
    logging.getLogger("vendor.sdk").warning("Calling the bank for %s", event["secret"])
    raise RuntimeError(f"request failed: {event['secret']}")
