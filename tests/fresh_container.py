"""Python code run as a new Lambda container runs the app: a fresh interpreter at the
project root, with only the settings a test gives it.

Tests of what a cold start loads or builds need a process that has imported nothing yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHELL_ONLY = ("BANKBRIDGE_", "AWS_", "_", "PYDANTIC_")
"""Variables of this shell that would leak into the container (settings, credentials,
Lambda's reserved `_HANDLER`, pydantic's switches): a test sets the ones it means."""


def run_in_fresh_container(code: str, environment: Mapping[str, str]) -> Any:
    """Run `code` in a fresh interpreter with `environment` on top of this shell's harmless
    variables; return the JSON of the last line it printed."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_ONLY)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
