"""Worker stand-ins the queue pump runs in container processes (so they must be importable).

Each record's body is JSON: `log` is a file each invocation appends one JSON line
to (a container cannot append to the test's lists), and `first_attempt` says what
the first delivery does: "overrun" sleeps far past any test timeout, "crash" ends
the process. Later deliveries succeed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

OVERRUN_SECONDS = 60


def misbehave_on_first_delivery(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Log the invocation, then overrun or crash on a record's first delivery."""
    for record in event["Records"]:
        instructions = json.loads(record["body"])
        receive_count = int(record["attributes"]["ApproximateReceiveCount"])
        line = {
            "pid": os.getpid(),
            "receive_count": receive_count,
            "remaining_ms": context.get_remaining_time_in_millis(),
        }
        with Path(instructions["log"]).open("a") as log:
            log.write(json.dumps(line) + "\n")
        if receive_count == 1 and instructions["first_attempt"] == "overrun":
            time.sleep(OVERRUN_SECONDS)
        if receive_count == 1 and instructions["first_attempt"] == "crash":
            os._exit(3)
    return {"batchItemFailures": []}
