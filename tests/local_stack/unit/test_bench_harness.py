"""`make bench`'s harness: which figures BENCHMARKS.md keeps, and when the run fails."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.bench import run
from tests.bench.figures import Figure
from tests.bench.run import Measured

HAND_WRITTEN = "\n## Test suite time (issue 13)\n\nMeasured by hand.\n"


def figure(section: str, met: bool | None) -> Figure:
    return Figure(section=section, name=f"{section} figure", measured="1 ms", goal="x", met=met)


def test_a_rewrite_replaces_measured_modules_and_keeps_the_rest_and_hand_written_parts() -> None:
    earlier = run.render(
        {
            "ack": Measured([figure("Old ack", True)], "earlier"),
            "fanout": Measured([figure("Fan-out", True)], "earlier"),
        },
        "",
    )
    later = run.render(
        {"ack": Measured([figure("New ack", False)], "later")}, earlier + HAND_WRITTEN
    )
    assert "Old ack" not in later
    assert "New ack" in later and "ack.py`: later" in later
    assert "Fan-out" in later and "fanout.py`: earlier" in later  # not re-measured: kept as is
    assert later.index("New ack") < later.index("Fan-out")  # in the order of `MODULES`
    assert later.endswith(HAND_WRITTEN)
    assert later.count("## Test suite time") == 1


def test_a_module_that_fails_is_a_missed_goal_naming_it() -> None:
    (failed,) = run.run_module("no_such_benchmark").figures
    assert failed.met is False
    assert "no_such_benchmark" in failed.name
    assert run.missed_goals([failed]) != []


def test_a_module_runs_without_this_shells_aws_credentials_or_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-real")
    started: list[dict[str, str]] = []

    def fake_run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        if "--measure" in command:
            started.append(options["env"])
        return subprocess.CompletedProcess(command, returncode=1, stdout="")

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    run.run_module("fanout")
    (env,) = started
    assert not [name for name in env if name.startswith("AWS_")]
    assert env["PATH"] == os.environ["PATH"]


@pytest.mark.parametrize(("met", "status"), [(True, 0), (None, 0), (False, 1)])
def test_the_run_fails_only_when_a_goal_is_missed_and_writes_the_figures_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, met: bool | None, status: int
) -> None:
    measured: list[str] = []

    def fake_run_module(name: str) -> Measured:
        measured.append(name)
        return Measured([figure(name, met)], "now")

    monkeypatch.setattr(run, "run_module", fake_run_module)
    out = tmp_path / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n" + HAND_WRITTEN)
    assert run.main(["--only", "fanout,ack", "--out", str(out)]) == status
    assert measured == ["ack", "fanout"]
    written = out.read_text()
    assert "ack figure" in written and "fanout figure" in written
    assert written.endswith(HAND_WRITTEN)


def test_an_unknown_module_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        run.main(["--only", "ack,typo", "--out", str(tmp_path / "BENCHMARKS.md")])
    assert refused.value.code == 2
    assert not (tmp_path / "BENCHMARKS.md").exists()
