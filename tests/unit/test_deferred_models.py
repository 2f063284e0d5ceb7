"""Models whose validators are built on first use (`defer_build`) still build, and are deferred.

A deferred model's schema errors (a bad annotation, an unknown type) surface when
it is first used, which for an outbound message is in the worker, not at import.
Building each here keeps such a model from reaching a deployment; the import check
keeps the cold start's saving from being lost by a model built at import again.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from pydantic import BaseModel

import chalicelib
from tests.fresh_container import run_in_fresh_container


def _deferred_models() -> list[type[BaseModel]]:
    """Every model defined in `chalicelib` with `defer_build` set (each module imported)."""
    for module in pkgutil.walk_packages(chalicelib.__path__, "chalicelib."):
        importlib.import_module(module.name)
    found: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [BaseModel]
    while pending:
        for subclass in pending.pop().__subclasses__():
            pending.append(subclass)
            if subclass.__module__.startswith("chalicelib.") and subclass.model_config.get(
                "defer_build"
            ):
                found[f"{subclass.__module__}.{subclass.__qualname__}"] = subclass
    return [found[name] for name in sorted(found)]


DEFERRED = _deferred_models()


def test_the_outbound_and_webhook_models_are_among_the_deferred() -> None:
    names = {model.__qualname__ for model in DEFERRED}

    assert {"OutboundMessage", "TemplateMessage", "QuickReply", "_Messaging", "_Party"} <= names


@pytest.mark.parametrize("model", DEFERRED, ids=lambda model: model.__qualname__)
def test_a_deferred_model_builds(model: type[BaseModel]) -> None:
    model.model_rebuild(force=True, raise_errors=True)

    assert model.__pydantic_complete__
    assert model.model_json_schema()


DEFERRED_MODELS_BUILT = """
import json

import app  # the worker's init fails to read its settings here, logs it and goes on: no AWS call
from chalicelib.channels import messages
from chalicelib.channels import webhooks
from chalicelib.channels.messenger import adapter
from chalicelib.channels.meta import messaging_events as webhook

models = [messages.OutboundMessage, messages.TemplateMessage, messages.QuickReply,
          messages.Button, messages.Card, messages.AccountLinking, webhook._Messaging,
          webhook._Party, webhook.Envelope]
print(json.dumps({model.__qualname__: model.__pydantic_complete__ for model in models}))
"""
"""Import the app as a Lambda init does (as the worker when told), then the webhook route's
modules; which of the deferred models have a validator by then."""


def _built_after_init(handler: str) -> dict[str, bool]:
    built: dict[str, bool] = run_in_fresh_container(
        DEFERRED_MODELS_BUILT, {"BANKBRIDGE_STAGE": "prod", "_HANDLER": handler}
    )
    return built


def test_the_api_init_and_the_ack_paths_imports_build_no_deferred_model() -> None:
    built = _built_after_init("app.app")

    assert built and not any(built.values()), built


def test_the_inbound_workers_init_builds_the_reply_models_only() -> None:
    built = _built_after_init("app.handle_inbound_events")

    assert {name for name, complete in built.items() if complete} == {
        "OutboundMessage",
        "TemplateMessage",
        "QuickReply",
        "Button",
        "Card",
        "AccountLinking",
    }
