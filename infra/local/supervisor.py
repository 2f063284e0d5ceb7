"""Keep the local stack's processes running: restart one that dies, or stop the stack loudly.

A component that exits while the stack is up is started again (after its
readiness check passes, its `after_restart` hook runs: moto's re-provisions the
AWS resources its in-memory state lost), with a log line naming it and its exit
code. Restarts are rate-limited per component (`RestartPolicy`): one that keeps
dying raises `ComponentFailed` naming it and its log, and the stack stops. So the
stack never silently runs on without one of its parts.

While the stack is still starting, a death is not retried (`check_alive`): that is
a configuration problem (a port in use, an import error) that a restart would hide.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

ROOT = Path(__file__).resolve().parents[2]
STOP_GRACE_SECONDS = 10.0


class ComponentFailed(RuntimeError):
    """A component died and may not (or could not) be restarted."""


class ComponentProcess(Protocol):
    """What the supervisor needs of a running component."""

    def exit_code(self) -> int | None:
        """The exit code, or None while it runs."""
        ...

    def terminate(self) -> None:
        """Ask it (and its children) to stop."""
        ...

    def kill(self) -> None:
        """Stop it (and its children) now."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for it to exit; True if it has."""
        ...


class GroupProcess:
    """A component in its own process group (session), so signals reach its children too."""

    def __init__(self, argv: list[str], env: dict[str, str], log: IO[bytes]) -> None:
        self._popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def exit_code(self) -> int | None:
        """The exit code, or None while it runs."""
        return self._popen.poll()

    def terminate(self) -> None:
        """SIGTERM the process group."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the process group."""
        self._signal(signal.SIGKILL)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True if it exited."""
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signum)


Launcher = Callable[[list[str], dict[str, str], IO[bytes]], ComponentProcess]


@dataclass(frozen=True)
class RestartPolicy:
    """At most `max_restarts` restarts of one component within `window_seconds`."""

    max_restarts: int = 3
    window_seconds: float = 60.0


@dataclass
class Component:
    """One process of the stack and how to bring it back."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready: Callable[[], bool] | None = None
    after_restart: Callable[[], None] | None = None
    process: ComponentProcess | None = None
    log: IO[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)


def _announce(message: str) -> None:
    print(f"[stack] {message}", file=sys.stderr, flush=True)


@dataclass
class Supervisor:
    """Starts components, restarts the ones that die (bounded), and stops them all."""

    log_dir: Path
    launch: Launcher = GroupProcess
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    announce: Callable[[str], None] = _announce
    sleep: Callable[[float], None] = time.sleep
    components: dict[str, Component] = field(default_factory=dict)

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        ready: Callable[[], bool] | None = None,
        after_restart: Callable[[], None] | None = None,
    ) -> None:
        """Start a component, logging to `<log dir>/<name>.log`."""
        component = Component(name, argv, env, ready=ready, after_restart=after_restart)
        self.components[name] = component
        self._launch(component)

    def log_path(self, name: str) -> Path:
        """Where a component's output goes."""
        return self.log_dir / f"{name}.log"

    def check_alive(self, only: Component | None = None) -> None:
        """Raise ComponentFailed if any component (or `only`) has exited; no restart."""
        for component in [only] if only else self.components.values():
            code = component.process.exit_code() if component.process else None
            if code is not None:
                raise ComponentFailed(
                    f"{component.name} exited with code {code}; see {self.log_path(component.name)}"
                )

    def wait_until(
        self,
        check: Callable[[], bool],
        what: str,
        timeout: float = 60,
        only: Component | None = None,
    ) -> None:
        """Poll `check` until true, failing fast if a component (or `only`) dies meanwhile."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            self.check_alive(only)
            if check():
                return
            self.sleep(0.1)
        raise ComponentFailed(f"{what} did not become ready within {timeout:.0f} s")

    def supervise(self) -> None:
        """Restart every component that has exited; raise ComponentFailed past the limit."""
        for component in self.components.values():
            code = component.process.exit_code() if component.process else None
            if code is not None:
                self._restart(component, code)

    def recycle(self, name: str) -> None:
        """Restart a component on purpose (not counted against its restart limit)."""
        component = self.components[name]
        if component.process is not None:
            self._end(component.process)
        self._launch(component)
        if component.ready is not None:
            self.wait_until(component.ready, name, only=component)

    def stop(self) -> None:
        """SIGTERM every component, then SIGKILL what is left after the grace period."""
        running = [c.process for c in self.components.values() if c.process is not None]
        for process in running:
            process.terminate()
        deadline = self.clock() + STOP_GRACE_SECONDS
        for process in running:
            if not process.wait(max(0.1, deadline - self.clock())):
                process.kill()
                process.wait(5)
        for component in self.components.values():
            if component.log is not None:
                component.log.close()

    def _restart(self, component: Component, code: int) -> None:
        now = self.clock()
        while component.restarts and now - component.restarts[0] > self.policy.window_seconds:
            component.restarts.popleft()
        if len(component.restarts) >= self.policy.max_restarts:
            raise ComponentFailed(
                f"{component.name} exited with code {code} and was already restarted "
                f"{len(component.restarts)} times within {self.policy.window_seconds:.0f} s; "
                f"stopping the stack; see {self.log_path(component.name)}"
            )
        component.restarts.append(now)
        self.announce(
            f"{component.name} exited with code {code}; restarting it (restart "
            f"{len(component.restarts)} of {self.policy.max_restarts} allowed within "
            f"{self.policy.window_seconds:.0f} s); see {self.log_path(component.name)}"
        )
        self._launch(component)
        if component.ready is not None:
            self.wait_until(component.ready, component.name, only=component)
        if component.after_restart is not None:
            component.after_restart()
        self.announce(f"{component.name} is running again")

    @staticmethod
    def _end(process: ComponentProcess) -> None:
        process.terminate()
        if not process.wait(STOP_GRACE_SECONDS):
            process.kill()
            process.wait(5)

    def _launch(self, component: Component) -> None:
        if component.log is not None:
            component.log.close()
        component.log = self.log_path(component.name).open("ab")
        component.process = self.launch(component.argv, component.env, component.log)
