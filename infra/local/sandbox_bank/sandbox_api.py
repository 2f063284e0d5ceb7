"""`/sandbox/*`: the test-facing control surface (not part of any banking standard)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from infra.local.sandbox_bank import brazil_render
from infra.local.sandbox_bank.clients import ClientRegistration
from infra.local.sandbox_bank.state import current_state

blueprint = Blueprint("sandbox", __name__, url_prefix="/sandbox")


@blueprint.get("/health")
def health() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/config")
def get_config() -> Response:
    return jsonify(current_state().controls.current.model_dump())


@blueprint.post("/config")
def update_config() -> tuple[Response, int]:
    changes = json_object()
    if isinstance(changes, tuple):
        return changes
    try:
        controls = current_state().controls.update(changes)
    except ValidationError as exc:
        return invalid(exc)
    return jsonify(controls.model_dump()), 200


@blueprint.get("/stats")
def stats() -> Response:
    return jsonify(current_state().stats.snapshot())


@blueprint.get("/issued-tokens")
def issued_tokens() -> Response:
    return jsonify({"tokens": current_state().grants.issued_tokens()})


@blueprint.post("/reset")
def reset() -> Response:
    current_state().reset()
    return jsonify({"status": "reset"})


@blueprint.post("/clients")
def register_client() -> tuple[Response, int]:
    body = json_object()
    if isinstance(body, tuple):
        return body
    try:
        client = ClientRegistration.model_validate(body)
    except ValidationError as exc:
        return invalid(exc)
    created = current_state().clients.register(client)
    return jsonify({"client_id": client.client_id}), 201 if created else 200


@blueprint.get("/customers")
def customers() -> Response:
    """Login ids and account ids, so tests can address accounts (e.g. in bank events)."""
    bank = current_state().bank
    return jsonify(
        {
            "customers": [
                {
                    "login_id": customer.login_id,
                    "name": customer.full_name,
                    "customer_id": customer.customer_id,
                    "cpf": brazil_render.cpf_of(customer),
                    "accounts": [
                        {
                            "account_id": a.account_id,
                            "kind": a.kind.value,
                            "masked_number": a.masked_number,
                        }
                        for a in bank.accounts_of(customer.customer_id)
                    ],
                }
                for customer in bank.customers
            ]
        }
    )


def json_object() -> dict[str, Any] | tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify({"error": "request body must be a JSON object"}), 400
    return body


def invalid(exc: ValidationError) -> tuple[Response, int]:
    errors = [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]
    return jsonify({"error": "validation failed", "details": errors}), 422
