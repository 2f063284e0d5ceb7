"""Run a worker function's invocations locally the way Lambda runs them.

Lambda gives each invocation a context whose `get_remaining_time_in_millis()`
counts down from the function's configured timeout, and stops an invocation that
overruns it: the execution environment is torn down (the next invocation starts
cold) and, for an SQS event source, the whole batch stays on the queue. A crash
of the runtime process is a failed invocation too.

`ContainerRuntime` does the same with one long-lived child process per
"execution environment", started with the `spawn` method (never forked from the
threaded pump), fed invocations over a pipe, and killed (SIGKILL) when an
invocation outlives its deadline. `InProcessRuntime` calls the handler in a
thread of the calling process: fast, for tests that pass plain callables; it
reports an overrun as a timeout but cannot stop the abandoned thread.

The timeout, reserved concurrency and memory size come from `.chalice/config.json`
through Chalice's own lookup (`WorkerFunction.from_chalice_config`), so the local
stack enforces what `chalice deploy` would configure.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import json
import logging
import multiprocessing
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from chalicelib.observability import configure_logging
from chalicelib.redaction import redact_text

logger = logging.getLogger(__name__)

SqsHandler = Callable[[dict[str, Any], Any], Any]

ROOT = Path(__file__).resolve().parents[2]
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
DEFAULT_TIMEOUT_SECONDS = 60  # Chalice's default `lambda_timeout`
DEFAULT_MEMORY_MB = 128  # Chalice's default `lambda_memory_size`
INIT_TIMEOUT_SECONDS = 30.0
"""Lambda allows 10 s of init; importing the app on a busy laptop can take longer."""
RESULT_GRACE_SECONDS = 0.1
"""Time for a response returned just before the deadline to cross the pipe."""


class Outcome(enum.Enum):
    """How an invocation ended, as the event source mapping sees it."""

    RETURNED = "returned"
    RAISED = "raised"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"


@dataclass(frozen=True)
class InvocationResult:
    """The outcome, the handler's response (when it returned) and the request id."""

    outcome: Outcome
    request_id: str
    response: Any = None


@dataclass(frozen=True)
class WorkerFunction:
    """A queue worker as Lambda runs it.

    `handler` is a `module:attribute` reference (required to run it in a child
    process) or a callable (in-process only). `name` is the Chalice function name.
    """

    name: str
    handler: str | SqsHandler
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    reserved_concurrency: int | None = None
    memory_mb: int = DEFAULT_MEMORY_MB

    @classmethod
    def from_chalice_config(
        cls, reference: str, stage: str, config_path: Path = CHALICE_CONFIG
    ) -> WorkerFunction:
        """The function `reference` names (`app:handle_inbound_events`), configured for `stage`."""
        from chalice.config import Config

        name = reference.rpartition(":")[2].rpartition(".")[2]
        config = Config(
            chalice_stage=stage,
            config_from_disk=json.loads(config_path.read_text()),
            default_params={},
        ).scope(stage, name)
        return cls(
            name=name,
            handler=reference,
            timeout_seconds=config.lambda_timeout or DEFAULT_TIMEOUT_SECONDS,
            reserved_concurrency=config.reserved_concurrency,
            memory_mb=config.lambda_memory_size or DEFAULT_MEMORY_MB,
        )


class LocalLambdaContext:
    """The attributes of the Python runtime's `LambdaContext` that handlers read.

    `deadline` is on the monotonic clock, which every process of the machine
    shares, so a context built by the pump counts down correctly in a container.
    """

    def __init__(
        self, function_name: str, invoked_function_arn: str, memory_mb: int, deadline: float
    ) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = str(memory_mb)  # the Python runtime reports a string
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_handler(reference: str) -> SqsHandler:
    """Import `module:attr` (attr may be dotted) and return the callable it names."""
    module_name, separator, attribute_path = reference.partition(":")
    if not separator or not module_name or not attribute_path:
        raise ValueError(f"handler reference {reference!r} must look like module:attribute")
    target: Any = importlib.import_module(module_name)
    for attribute in attribute_path.split("."):
        target = getattr(target, attribute)
    if not callable(target):
        raise ValueError(f"{reference!r} is not callable")
    return target


class Runtime(Protocol):
    """One execution environment: runs one invocation at a time."""

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        """Run the handler on `event` under the function's timeout."""
        ...

    def close(self) -> None:
        """Release the environment (kill its process, if it has one)."""
        ...


class ContextFactory:
    """Builds each invocation's context when it starts (after any cold start)."""

    def __init__(self, function: WorkerFunction, function_name: str, function_arn: str) -> None:
        self._function = function
        self._function_name = function_name
        self._function_arn = function_arn

    @property
    def timeout_seconds(self) -> float:
        """The function's configured timeout."""
        return self._function.timeout_seconds

    def __call__(self) -> LocalLambdaContext:
        deadline = time.monotonic() + self._function.timeout_seconds
        return LocalLambdaContext(
            self._function_name, self._function_arn, self._function.memory_mb, deadline
        )


class InProcessRuntime:
    """Calls the handler in a thread of this process; an overrun is reported, not stopped."""

    def __init__(self, handler: SqsHandler, new_context: ContextFactory) -> None:
        self._handler = handler
        self._new_context = new_context

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        """Run the handler; a result after the deadline counts as a timeout."""
        context = self._new_context()
        ended: list[InvocationResult] = []
        # When it ended, not when `join` noticed: on a loaded machine the waiting thread can
        # wake late and find a handler that finished after its deadline.
        ended_at: list[float] = []

        def run() -> None:
            try:
                response = self._handler(event, context)
            except Exception:
                ended_at.append(time.monotonic())
                logger.exception(
                    "local lambda: handler raised: request_id=%s", context.aws_request_id
                )
                ended.append(InvocationResult(Outcome.RAISED, context.aws_request_id))
            else:
                ended_at.append(time.monotonic())
                ended.append(InvocationResult(Outcome.RETURNED, context.aws_request_id, response))

        thread = threading.Thread(
            target=run, name=f"invocation-{context.aws_request_id}", daemon=True
        )
        thread.start()
        thread.join(max(0.0, context.deadline - time.monotonic()) + RESULT_GRACE_SECONDS)
        overran = not ended_at or ended_at[0] > context.deadline + RESULT_GRACE_SECONDS
        if thread.is_alive() or not ended or overran:
            logger.warning(
                "local lambda: invocation timed out (in-process: the thread cannot be stopped): "
                "request_id=%s",
                context.aws_request_id,
            )
            return InvocationResult(Outcome.TIMED_OUT, context.aws_request_id)
        return ended[0]

    def close(self) -> None:
        """Nothing to release: the handler lives in this process."""


class ContainerInitError(RuntimeError):
    """A container could not import its handler (or took too long to)."""


class ContainerRuntime:
    """One long-lived child process running invocations; killed and replaced on overrun."""

    def __init__(self, reference: str, new_context: ContextFactory, label: str) -> None:
        self._reference = reference
        self._new_context = new_context
        self._label = label
        self._lock = threading.Lock()
        self._closed = False
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def warm(self) -> None:
        """Start the container now (a cold start), raising ContainerInitError if it fails."""
        with self._lock:
            if self._closed:
                raise ContainerInitError(f"{self._label} is closed")
            if self._process is not None and not self._process.is_alive():
                # Killed or crashed while idle: Lambda would give the next invocation a
                # fresh environment, never hand the batch to a dead one.
                exit_code = self._discard(kill=False)
                logger.warning(
                    "local lambda: %s container died while idle (exit=%s); starting a new one",
                    self._label,
                    exit_code,
                )
            if self._process is None:
                self._start()
            if self._closed:  # close() ran while it was starting
                self._discard(kill=True)
                raise ContainerInitError(f"{self._label} is closed")

    def invoke(self, event: dict[str, Any]) -> InvocationResult:
        """Run one invocation; an overrun kills the container, a crash is a failure."""
        try:
            self.warm()
        except ContainerInitError as error:
            logger.error("local lambda: %s failed to start: %s", self._label, error)
            return InvocationResult(Outcome.CRASHED, "")
        context = self._new_context()
        connection = self._connection
        assert connection is not None  # warm() started it
        try:
            connection.send((event, context))
            answered = connection.poll(
                max(0.0, context.deadline - time.monotonic()) + RESULT_GRACE_SECONDS
            )
            if not answered:
                self._discard(kill=True)
                logger.warning(
                    "local lambda: %s timed out after %.1f s: request_id=%s; container killed, "
                    "the next invocation starts cold",
                    self._label,
                    self._new_context.timeout_seconds,
                    context.aws_request_id,
                )
                return InvocationResult(Outcome.TIMED_OUT, context.aws_request_id)
            outcome, response = connection.recv()
        except (EOFError, OSError):
            exit_code = self._discard(kill=True)
            logger.warning(
                "local lambda: %s container died during an invocation: request_id=%s exit=%s",
                self._label,
                context.aws_request_id,
                exit_code,
            )
            return InvocationResult(Outcome.CRASHED, context.aws_request_id)
        return InvocationResult(Outcome(outcome), context.aws_request_id, response)

    def close(self) -> None:
        """Kill the container, if one is running; no new one starts after this."""
        self._closed = True
        self._discard(kill=True)

    def _start(self) -> None:
        spawn = multiprocessing.get_context("spawn")
        parent_end, child_end = spawn.Pipe()
        process = spawn.Process(
            target=_container_main, args=(child_end, self._reference), name=self._label, daemon=True
        )
        process.start()
        child_end.close()
        try:
            ready = parent_end.poll(INIT_TIMEOUT_SECONDS) and parent_end.recv()
        except (EOFError, OSError):
            ready = ("init_error", f"exited with code {process.exitcode}")
        if not ready or ready[0] != "ready":
            process.kill()
            process.join(5)
            parent_end.close()
            reason = ready[1] if ready else f"no answer within {INIT_TIMEOUT_SECONDS:.0f} s"
            raise ContainerInitError(f"{self._reference}: {reason}")
        self._process, self._connection = process, parent_end

    def _discard(self, *, kill: bool) -> int | None:
        """Forget the current container (killing it first); return its exit code."""
        process, connection = self._process, self._connection
        self._process, self._connection = None, None
        if process is None:
            return None
        if kill:
            with contextlib.suppress(OSError):
                process.kill()
        process.join(5)
        if connection is not None:
            connection.close()
        return process.exitcode


def _container_main(connection: Connection, reference: str) -> None:
    """A container's life: import the handler once, then run invocations until the pipe closes.

    It ignores SIGINT and SIGTERM (sent to the whole process group on Ctrl-C or when
    the stack stops): the pump finishes or kills in-flight invocations itself.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Log like the Lambda runtime running app.py: redacted JSON, even when the import fails.
    configure_logging()
    try:
        handler = load_handler(reference)
    except Exception as error:
        # The pump logs this text: it must be as redacted as the container's own lines.
        connection.send(("init_error", redact_text(f"{type(error).__name__}: {error}")))
        return
    connection.send(("ready", None))
    while True:
        try:
            event, context = connection.recv()
        except (EOFError, OSError):
            return  # the pump has gone
        try:
            answer = (Outcome.RETURNED.value, handler(event, context))
        except Exception:
            logger.exception("local lambda: handler raised: request_id=%s", context.aws_request_id)
            answer = (Outcome.RAISED.value, None)
        try:
            connection.send(answer)
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # an unpicklable response: Lambda could not serialise it either
            logger.exception("local lambda: response not serialisable")
            connection.send((Outcome.RAISED.value, None))
