"""BankBridge's errors: one root, one base per package family, one table of HTTP answers."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import chalicelib
from chalicelib.auth.exceptions import AuthError, IdTokenRejected, LinkingError
from chalicelib.bounded_json import JsonRejected
from chalicelib.channels.exceptions import (
    ChannelError,
    RedirectRefused,
    SendRefused,
    WebhookRejected,
)
from chalicelib.connectors.exceptions import (
    BankError,
    BankUnavailable,
    ConnectorNotAvailable,
    DestinationRefused,
)
from chalicelib.conversation.exceptions import BankRetryLater, ConversationError, InboxUnavailable
from chalicelib.deadline import DeadlineReached
from chalicelib.errors import BankBridgeError
from chalicelib.events.exceptions import EventError, EventRejected, SignatureInvalid
from chalicelib.http_errors import LINK_CHANGED, RETRY_LATER, HttpProblem, http_problem
from chalicelib.queues import MessageNotQueueable
from chalicelib.settings import SettingsError
from chalicelib.stage import StageError
from chalicelib.store.exceptions import (
    ConnectorAlreadyExists,
    ConnectorConfigTooLarge,
    StoreError,
)

PACKAGE_ROOT = Path(chalicelib.__file__).parent


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined at module level anywhere in chalicelib, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(chalicelib.__path__, f"{chalicelib.__name__}."):
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_class_in_chalicelib_derives_from_bankbridge_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 40, "the scan found too few classes to be reading chalicelib"
    outside = sorted(name for name, cls in classes.items() if not issubclass(cls, BankBridgeError))
    assert outside == []


@pytest.mark.parametrize(
    ("family_base", "members"),
    [
        (AuthError, (IdTokenRejected, LinkingError)),
        (ChannelError, (WebhookRejected, RedirectRefused, SendRefused)),
        (BankError, (BankUnavailable, ConnectorNotAvailable, DestinationRefused)),
        (ConversationError, (BankRetryLater, InboxUnavailable)),
        (EventError, (EventRejected, SignatureInvalid)),
        (StoreError, (ConnectorAlreadyExists, ConnectorConfigTooLarge)),
    ],
)
def test_each_package_family_has_one_base_under_the_root(
    family_base: type[BankBridgeError], members: tuple[type[BankBridgeError], ...]
) -> None:
    assert family_base.__bases__ == (BankBridgeError,)
    assert all(issubclass(member, family_base) for member in members)


def test_errors_that_callers_catch_as_builtins_still_are_those_builtins() -> None:
    assert issubclass(JsonRejected, ValueError)  # connectors/http.py catches ValueError
    assert issubclass(MessageNotQueueable, ValueError)
    assert issubclass(SettingsError, RuntimeError)
    assert issubclass(StageError, RuntimeError)


def test_every_exceptions_module_is_a_leaf_that_imports_only_the_root() -> None:
    """So `http_errors`, and any layer, may import a family's errors without an import circle."""
    modules = sorted(PACKAGE_ROOT.glob("*/exceptions.py"))
    assert len(modules) == 6
    for path in modules:
        imported = {
            node.module
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chalicelib")
        }
        assert imported == {"chalicelib.errors"}, path


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            WebhookRejected(413, "Request body too large"),
            HttpProblem(413, "Request body too large"),
        ),
        (EventRejected(401, "bad signature"), HttpProblem(401, "bad signature")),
        (LinkingError("Please link again."), HttpProblem(400, "Please link again.")),
        (LinkingError("Try later.", status=503), HttpProblem(503, "Try later.")),
        (RedirectRefused("forged"), HttpProblem(400, LINK_CHANGED)),
        (InboxUnavailable("queue down"), HttpProblem(503, RETRY_LATER)),
        (JsonRejected("nested too deeply"), HttpProblem(400, "nested too deeply")),
        (
            ConnectorAlreadyExists("acme"),
            HttpProblem(409, "connector acme already exists; use PUT to replace"),
        ),
        (
            ConnectorConfigTooLarge(400_001, 350_000),
            HttpProblem(
                413,
                "the config is too large to store (400001 bytes; the limit is 350000 bytes)",
            ),
        ),
        (
            ConnectorConfigTooLarge(None, 350_000),
            HttpProblem(
                413, "the config is too large to store (too large; the limit is 350000 bytes)"
            ),
        ),
        (
            ConnectorNotAvailable("no connector for iso20022"),
            HttpProblem(422, "no connector for iso20022"),
        ),
    ],
)
def test_http_problem_gives_each_family_its_status_and_safe_message(
    error: BankBridgeError, expected: HttpProblem
) -> None:
    assert http_problem(error) == expected


def test_an_error_no_route_answers_for_has_no_http_answer() -> None:
    with pytest.raises(TypeError, match="DeadlineReached has no HTTP answer"):
        http_problem(DeadlineReached())
