"""Linking an Open Finance Brasil bank in-process: BankBridge's page asks for the CPF the
consent's `loggedUser` must name, posts it back to `/link/start`, and keeps none of it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.settings import get_settings
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import register_signing_key, sandbox_configs
from tests.factories import quick_reply_event
from tests.integration.conftest import register_connector, run_inbound_worker, sent_to

PUBLIC = "http://127.0.0.1:8999"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BANKBRIDGE_PUBLIC_BASE_URL", PUBLIC)


@pytest.fixture
def client(sandbox_app: Client, sandbox: Any) -> Client:
    register_signing_key(sandbox.url)
    for raw in sandbox_configs(sandbox.url):
        register_connector(raw)
    return sandbox_app


def link_start_path(client: Client, graph: RunningStandin, psid: str) -> str:
    run_inbound_worker(client, quick_reply_event(psid, "Sandbox", "LINK:sandbox-brazil"))
    url = sent_to(graph, psid)[-1]["message"]["attachment"]["payload"]["buttons"][0]["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def alices_cpf(sandbox: Any) -> str:
    customers = requests.get(f"{sandbox.url}/sandbox/customers", timeout=5).json()["customers"]
    return str(next(c["cpf"] for c in customers if c["login_id"] == "alice"))


def test_the_cpf_is_asked_for_then_sent_to_the_bank_and_never_stored(
    client: Client, graph: RunningStandin, sandbox: Any
) -> None:
    path = link_start_path(client, graph, "u-brazil")

    asked = client.http.get(path)

    assert asked.status_code == 200
    assert b"name='document'" in asked.body and b"CPF" in asked.body
    assert "form-action 'self'" in asked.headers["Content-Security-Policy"]
    assert asked.headers["Cache-Control"] == "no-store"

    mistyped = client.http.post(path, body="document=123.456.789-00", headers=FORM)
    assert mistyped.status_code == 200
    assert b"valid CPF" in mistyped.body

    cpf = alices_cpf(sandbox)
    started = client.http.post(path, body=f"document={cpf[:3]}.{cpf[3:6]}.{cpf[6:9]}-{cpf[9:]}",
                               headers=FORM)  # fmt: skip
    assert started.status_code == 302, started.body
    location = urlsplit(started.headers["Location"])
    assert location.path == "/authorize"
    assert "request_uri" in parse_qs(location.query)  # pushed (PAR), as FAPI-BR wants
    items = aws.client("dynamodb").scan(TableName=get_settings().table_name)["Items"]
    assert items and cpf not in str(items)
    assert client.http.post(path, body=f"document={cpf}", headers=FORM).status_code == 400
