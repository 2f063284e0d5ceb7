"""No log line, by any route, carries a token or more than the last four of an account identifier.

The routes are the ones a Lambda invocation has after `import app`: our modules'
loggers (message, arguments, `log_fields`, raw `extra`, exceptions with chained
tracebacks, stack info), Chalice's app logger (`bankbridge`), third-party
loggers (urllib3, botocore, requests), a library's own handler, a logger that
does not propagate, and `chalice local`'s access log.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.observability import (
    APP_LOGGER,
    JsonFormatter,
    RedactingHandler,
    RedactionFilter,
    configure_logging,
    log_fields,
)
from tests.conftest import ROOT
from tests.sensitive_values import Sensitive, json_text, leaks, sensitive_values

THIRD_PARTY_LOGGERS = ("urllib3.connectionpool", "botocore.endpoint", "requests")


@pytest.fixture(scope="module", autouse=True)
def lambda_logging() -> Iterator[None]:
    """Logging exactly as the Lambda runtime has it once `app.py` is imported."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BANKBRIDGE_STAGE", os.environ.get("BANKBRIDGE_STAGE", "dev"))
        import app  # noqa: F401 - configures logging at import, as in Lambda

    yield


@contextmanager
def captured_stdout_log() -> Iterator[io.StringIO]:
    """What the root's redacting handler (the only writer) would print to stdout."""
    writers = [h for h in logging.getLogger().handlers if isinstance(h, RedactingHandler)]
    assert len(writers) == 1, "app.py must leave exactly one redacting handler on the root"
    buffer = io.StringIO()
    previous = writers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        writers[0].setStream(previous)


def _fail_like_requests(value: str) -> None:
    """A chained failure whose messages hold the value, as requests' do with whole URLs."""
    try:
        raise ConnectionError(f"HTTPSConnectionPool(host='bank.example'): url: /x?{value}")
    except ConnectionError as cause:
        raise ValueError(f"400 Client Error for url: https://bank.example/token {value}") from cause


def log_through_every_route(value: str) -> int:
    """Log `value` every way a line can be written; return how many lines that should make."""
    ours = logging.getLogger("chalicelib.connectors.http")
    ours.warning("Bank said %s", value)
    ours.warning(f"Bank said {value}")
    ours.warning("Bank call", extra=log_fields(detail=value, nested={"items": [value, 1]}))
    ours.warning("Bank call", extra={"detail": value})
    ours.warning("Where %s", value, stack_info=True)
    try:
        _fail_like_requests(value)
    except ValueError:
        ours.exception("Bank call failed")
        # Chalice's own call when a view raises (chalice/app.py, RestAPIEventHandler).
        logging.getLogger(APP_LOGGER).error("Caught exception for path %s", "/x", exc_info=True)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).warning("Retrying %s", value)
    return 7 + len(THIRD_PARTY_LOGGERS)


@settings(max_examples=200, deadline=None)
@given(item=sensitive_values())
def test_no_log_line_carries_a_token_or_an_account_identifier(item: Sensitive) -> None:
    with captured_stdout_log() as out:
        expected_lines = log_through_every_route(item.text)
    written = out.getvalue()
    assert len(written.splitlines()) == expected_lines, "a route wrote nothing or wrote elsewhere"
    assert '"stack": "Stack (most recent call last)' in written
    # A stack holds source lines of pytest and hypothesis, never values: left out so that
    # a number in their code cannot pass for five digits of a generated identifier.
    text = json_text(written, without=frozenset({"stack"}))
    assert leaks(item, text) == []
    assert item.text not in written
    assert text.count(item.shown_as) >= expected_lines


@settings(max_examples=50, deadline=None)
@given(number=st.integers(10**7, 10**19 - 1))
def test_an_account_number_passed_as_a_number_is_masked_too(number: int) -> None:
    item = Sensitive("account_number", str(number), identifier=str(number))
    with captured_stdout_log() as out:
        logging.getLogger("chalicelib").warning("x", extra=log_fields(account=number))
    assert leaks(item, json_text(out.getvalue())) == []
    assert item.shown_as in json_text(out.getvalue())


def unsafe_routes() -> list[str]:
    """Each `logger -> handler` by which a record would be written unredacted, in this process."""
    found: list[str] = []
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        current: logging.Logger | None = logger
        while current is not None:
            found += [
                f"{logger.name} -> {handler!r}"
                for handler in current.handlers
                if not isinstance(handler, RedactingHandler | logging.NullHandler)
                and not any(isinstance(f, RedactionFilter) for f in handler.filters)
            ]
            current = current.parent if current.propagate else None
    if not isinstance(logging.lastResort, RedactingHandler):
        found.append(f"last resort -> {logging.lastResort!r}")
    return found


# What a Lambda container has imported once a handler has run: app.py first, then the
# handlers' lazy imports (boto3, requests, urllib3, the worker).
LAMBDA_CONTAINER = """
import json
import app
import boto3, requests
import chalicelib.batch, chalicelib.conversation.worker, chalicelib.events.ingest
import chalicelib.channels.webhooks, chalicelib.channels.messenger.send_api
from tests.unit.test_redaction_logging import unsafe_routes
assert "bankbridge" in __import__("logging").Logger.manager.loggerDict
print(json.dumps(unsafe_routes()))
"""


def test_in_a_lambda_container_every_logger_reaches_only_redacting_handlers() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LAMBDA_CONTAINER],
        env={**os.environ, "BANKBRIDGE_STAGE": "dev"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_chalices_app_logger_writes_through_the_root() -> None:
    from app import app

    assert app.log is logging.getLogger(APP_LOGGER)
    assert app.log.handlers == []
    assert app.log.propagate


def test_a_view_that_raises_is_logged_by_chalice_with_its_traceback_redacted() -> None:
    from chalice import Chalice
    from chalice.test import Client

    # A second app object with the same name shares the `bankbridge` logger, as Chalice runs it.
    view_app = Chalice(app_name=APP_LOGGER, configure_logs=False)

    @view_app.route("/boom")
    def boom() -> dict[str, Any]:
        raise RuntimeError("refresh failed: refresh_token=rt-7Hq2LmZp9XkW and 4111 1111 1111 1111")

    with captured_stdout_log() as out, Client(view_app) as client:
        assert client.http.get("/boom").status_code == 500
    written = out.getvalue()
    assert "Caught exception for path /boom" in written and "Traceback" in written
    assert "rt-7Hq2LmZp9XkW" not in written and "4111 1111" not in written
    assert "refresh_token=[REDACTED]" in written


def test_a_handler_a_library_installed_before_set_up_is_filtered() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    vendor = logging.getLogger("vendor.sdk.with_handler")
    vendor.addHandler(handler)
    vendor.propagate = False
    try:
        configure_logging()  # as `import app` does after the library was imported
        try:
            raise OSError("GET https://bank.example/accounts?access_token=at-9xYz31Qw")
        except OSError:
            vendor.exception("account %s failed", "DE89370400440532013000")
    finally:
        vendor.removeHandler(handler)
    written = buffer.getvalue()
    assert "at-9xYz31Qw" not in written and "DE89370400440532013000" not in written
    assert "account ••3000 failed" in written and "access_token=[REDACTED]" in written


def test_a_logger_that_does_not_propagate_falls_back_to_a_redacting_last_resort() -> None:
    assert isinstance(logging.lastResort, RedactingHandler)
    buffer = io.StringIO()
    previous = logging.lastResort.setStream(buffer)
    isolated = logging.getLogger("vendor.isolated")
    isolated.propagate = False
    try:
        isolated.error("card 4111-1111-1111-1111 refused")
    finally:
        logging.lastResort.setStream(previous)
    assert "card ••1111 refused" in json_text(buffer.getvalue())
    assert "4111-1111" not in buffer.getvalue()


def test_a_failed_write_reports_the_error_without_the_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Broken(io.StringIO):
        def write(self, _text: str) -> int:
            raise OSError("disk full")

    handler = RedactingHandler(Broken())
    handler.handle(
        logging.LogRecord(
            "x", logging.ERROR, "f.py", 1, "iban %s", ("GB82WEST12345698765432",), None
        )
    )
    err = capsys.readouterr().err
    assert "Logging error in x: OSError" in err
    assert "GB82" not in err and "iban" not in err


def test_arguments_that_do_not_fit_the_message_never_raise_or_leak() -> None:
    record = logging.LogRecord(
        "chalicelib", logging.WARNING, "f.py", 1, "balance %d", ("4111111111111111",), None
    )
    written = JsonFormatter().format(record)
    assert "4111111111111111" not in written
    assert "balance %d (arguments that did not fit: ('••1111',))" in json_text(written)


def test_chalice_locals_access_log_goes_through_redaction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import chalice.local

    configure_logging()  # as `import app` does under `chalice local`
    request = object.__new__(chalice.local.ChaliceRequestHandler)
    request.requestline = "GET /oauth/callback?code=c-8Yt2vQm4&state=s-1Pz9xW3k HTTP/1.1"
    with captured_stdout_log() as out:
        request.log_request(302)
    assert capsys.readouterr().err == ""  # http.server would have written it to stderr
    written = out.getvalue()
    assert "/oauth/callback?code=[REDACTED]&state=[REDACTED]" in written
    assert "c-8Yt2vQm4" not in written and "s-1Pz9xW3k" not in written


def test_a_local_worker_container_logs_redacted_even_without_importing_app(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from infra.local.lambda_runtime import ContainerRuntime, ContextFactory, Outcome, WorkerFunction

    worker = WorkerFunction(name="leaky", handler="tests.unit.leaky_worker:log_and_raise")
    runtime = ContainerRuntime(
        str(worker.handler), ContextFactory(worker, worker.name, "arn:local"), "leaky"
    )
    try:
        result = runtime.invoke({"secret": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"})
    finally:
        runtime.close()
    assert result.outcome is Outcome.RAISED
    written = capfd.readouterr().out
    assert "Calling the bank for Bearer [REDACTED]" in written
    assert "handler raised" in written and "RuntimeError: request failed" in written
    assert "eyJzdWIiOiIxIn0" not in written


def test_a_scheduled_job_fails_without_handing_the_runtime_an_unredacted_message() -> None:
    """Lambda prints an escaping exception itself; only our redacted log line may carry it."""
    from chalicelib.observability import JobFailed, failures_logged

    secret_url = "https://bank.example/token?code=SplxlOBeZQQYbYS6WxSbIA&refresh_token=r-abc123"
    with (
        captured_stdout_log() as log,
        pytest.raises(JobFailed) as failure,
        failures_logged("pending_link_sweep"),
    ):
        _fail_like_requests(secret_url)
    assert "SplxlOBeZQQYbYS6WxSbIA" not in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    written = log.getvalue()
    assert "pending_link_sweep" in written and "ValueError" in written
    assert "SplxlOBeZQQYbYS6WxSbIA" not in written and "r-abc123" not in written
