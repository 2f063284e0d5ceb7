"""Both deploy routes pass Chalice's own deploy-time validation for every configured stage.

`chalice package` skips these checks, so without this test route (a) builds an
app that route (b) (`chalice deploy`) refuses before any AWS call.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.aws.chalice_validation import ChaliceValidationError, validate_stage
from infra.aws.template import PROJECT_ROOT

CONFIGURED_STAGES = sorted(
    json.loads((PROJECT_ROOT / ".chalice" / "config.json").read_text())["stages"]
)


@pytest.mark.parametrize("stage", CONFIGURED_STAGES)
def test_every_configured_stage_passes_chalices_deploy_validation(stage: str) -> None:
    validate_stage(PROJECT_ROOT, stage)


def test_a_route_mixing_binary_and_text_content_types_is_refused(tmp_path: Path) -> None:
    """The check is real: the very mistake that blocked `chalice deploy` is caught."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / ".chalice", project / ".chalice")
    (project / "app.py").write_text(
        "from chalice import Chalice\n"
        "app = Chalice(app_name='bankbridge')\n"
        "@app.route('/hook', methods=['POST'],"
        " content_types=['application/json', 'application/octet-stream'])\n"
        "def hook():\n"
        "    return {}\n"
    )

    with pytest.raises(ChaliceValidationError, match="support binary"):
        validate_stage(project, "prod")
