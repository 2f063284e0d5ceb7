"""The local stack's supervisor restarts a dead component (bounded) or stops the stack loudly."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from infra.local.supervisor import ComponentFailed, GroupProcess, RestartPolicy, Supervisor


@dataclass
class FakeProcess:
    argv: list[str]
    code: int | None = None
    signals: list[str] = field(default_factory=list)

    def exit_code(self) -> int | None:
        return self.code

    def terminate(self) -> None:
        self.signals.append("TERM")
        self.code = -15

    def kill(self) -> None:
        self.signals.append("KILL")
        self.code = -9

    def wait(self, timeout: float) -> bool:
        return self.code is not None


@dataclass
class FakeWorld:
    """Launches fake processes and keeps a clock the test moves."""

    now: float = 0.0
    launched: list[FakeProcess] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)

    def launch(self, argv: list[str], env: dict[str, str], log: IO[bytes]) -> FakeProcess:
        process = FakeProcess(argv)
        self.launched.append(process)
        return process

    def supervisor(self, tmp_path: Path, policy: RestartPolicy) -> Supervisor:
        return Supervisor(
            log_dir=tmp_path,
            launch=self.launch,
            policy=policy,
            clock=lambda: self.now,
            announce=self.announced.append,
            sleep=lambda seconds: None,
        )


def test_a_dead_component_is_restarted_with_a_line_naming_it(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy(max_restarts=3, window_seconds=60))
    recovered: list[str] = []
    supervisor.start("api", ["api"], {}, ready=lambda: True)
    supervisor.start("moto", ["moto"], {}, after_restart=lambda: recovered.append("moto"))
    api, moto = world.launched

    supervisor.supervise()
    assert len(world.launched) == 2  # nothing died, nothing restarted

    moto.code = -9
    supervisor.supervise()
    assert [process.argv for process in world.launched] == [["api"], ["moto"], ["moto"]]
    assert supervisor.components["moto"].process is world.launched[2]
    assert recovered == ["moto"]  # its state is rebuilt after it is back
    assert "moto exited with code -9; restarting it" in world.announced[0]
    assert api.signals == []


def test_a_component_that_keeps_dying_stops_the_stack_naming_it(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy(max_restarts=2, window_seconds=60))
    supervisor.start("pump", ["pump"], {})
    for _ in range(2):
        world.launched[-1].code = 1
        world.now += 10
        supervisor.supervise()
    world.launched[-1].code = 1
    world.now += 10

    with pytest.raises(ComponentFailed, match=r"pump exited with code 1 .* 2 times within 60 s"):
        supervisor.supervise()
    assert len(world.launched) == 3


def test_restarts_older_than_the_window_do_not_count(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy(max_restarts=1, window_seconds=60))
    supervisor.start("bank", ["bank"], {})
    world.launched[-1].code = 1
    supervisor.supervise()
    world.now += 61
    world.launched[-1].code = 1
    supervisor.supervise()  # the first restart has aged out of the window
    assert len(world.launched) == 3


def test_a_restarted_component_that_never_gets_ready_stops_the_stack(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy())

    def never_ready() -> bool:
        world.now += 1
        return False

    supervisor.start("graph", ["graph"], {}, ready=never_ready)
    world.launched[-1].code = 1
    with pytest.raises(ComponentFailed, match="graph did not become ready within 60 s"):
        supervisor.supervise()


def test_while_starting_a_death_is_reported_not_retried(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy())
    supervisor.start("console", ["console"], {})
    world.launched[-1].code = 2
    with pytest.raises(ComponentFailed, match="console exited with code 2"):
        supervisor.wait_until(lambda: False, "console")
    assert len(world.launched) == 1


def test_recycle_restarts_on_purpose_and_stop_ends_everything(tmp_path: Path) -> None:
    world = FakeWorld()
    supervisor = world.supervisor(tmp_path, RestartPolicy(max_restarts=0))
    supervisor.start("api", ["api"], {})
    supervisor.start("pump", ["pump"], {})
    supervisor.recycle("api")
    first_api, pump, second_api = world.launched
    assert first_api.signals == ["TERM"]
    assert not supervisor.components["api"].restarts  # not counted against the limit

    supervisor.stop()
    assert pump.signals == ["TERM"]
    assert second_api.signals == ["TERM"]


def test_a_real_process_killed_outside_the_stack_is_started_again(tmp_path: Path) -> None:
    announced: list[str] = []
    supervisor = Supervisor(log_dir=tmp_path, announce=announced.append)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    supervisor.start("pump", sleeper, dict(os.environ))
    try:
        first = supervisor.components["pump"].process
        assert isinstance(first, GroupProcess)
        first.kill()
        assert first.wait(5)
        supervisor.supervise()
        second = supervisor.components["pump"].process
        assert second is not first
        assert second is not None and second.exit_code() is None
        assert announced[0].startswith("pump exited with code -9; restarting it")
    finally:
        supervisor.stop()
    assert second.exit_code() is not None
