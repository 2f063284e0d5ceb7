"""The permission table agrees with the code, and the check notices when it does not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from infra.aws import permissions
from infra.aws.permissions import (
    CHALICE_DIR,
    NEEDS,
    NOT_GRANTED,
    Need,
    ScanError,
    check,
    derive_needs,
    envelope,
    policy_document,
    queue,
    secret,
    stale_policy_files,
)


@pytest.fixture(scope="module")
def derived() -> dict[str, frozenset[tuple[str, str]]]:
    return derive_needs()


def test_the_table_grants_exactly_what_the_code_calls(derived) -> None:
    assert check(derived=derived) == []


def test_a_grant_the_code_needs_but_the_table_lacks_is_reported(derived) -> None:
    table = dict(NEEDS)
    table["api_handler"] = tuple(
        need for need in NEEDS["api_handler"] if need.atom != ("sqs:SendMessage", queue("events"))
    )

    assert check(table, derived) == [
        "api_handler: the code needs sqs:SendMessage on queue:events, but NEEDS does not grant it"
    ]


def test_a_grant_the_code_never_uses_is_reported(derived) -> None:
    table = dict(NEEDS)
    table["handle_bank_events"] = (
        *NEEDS["handle_bank_events"],
        Need(action="dynamodb:BatchWriteItem", resource="table", reason="store/links.py"),
    )

    assert check(table, derived) == [
        "handle_bank_events: NEEDS grants dynamodb:BatchWriteItem on table, "
        "but the code never needs it"
    ]


def test_a_grant_without_a_reason_naming_the_code_is_reported(derived) -> None:
    table = dict(NEEDS)
    unexplained = Need(action="dynamodb:GetItem", resource="table", reason="because")
    table["daily_consent_check"] = tuple(
        unexplained if need.atom == unexplained.atom else need
        for need in NEEDS["daily_consent_check"]
    )

    assert check(table, derived) == [
        "daily_consent_check: dynamodb:GetItem on table needs a reason naming the code using it"
    ]


def test_a_waiver_the_scan_no_longer_needs_is_reported(derived) -> None:
    stale = Need(action="kms:Decrypt", resource=envelope("oauth-state"), reason="auth/linking.py")

    waived = (*NOT_GRANTED["handle_bank_events"], stale)
    problems = check(NEEDS, derived, {**NOT_GRANTED, "handle_bank_events": waived})

    assert problems == [
        "handle_bank_events: NOT_GRANTED lists kms:Decrypt on envelope:oauth-state, "
        "which the scan no longer finds"
    ]


def test_a_function_without_an_entry_in_the_table_is_reported(derived) -> None:
    problems = check(NEEDS, {**derived, "nightly": frozenset()})

    assert problems == ["nightly: app.py defines this function, but NEEDS has no entry"]


def test_a_policy_file_edited_by_hand_or_left_over_is_reported(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(permissions, "CHALICE_DIR", tmp_path)
    (tmp_path / "config.json").write_text((CHALICE_DIR / "config.json").read_text())
    assert permissions.write_policy_files()
    edited = tmp_path / "policy-prod-handle_bank_events.json"
    document = json.loads(edited.read_text())
    document["Statement"].append(
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}
    )
    edited.write_text(json.dumps(document))
    (tmp_path / "policy-prod.json").write_text("{}")

    assert stale_policy_files() == [
        "policy-prod-handle_bank_events.json is stale",
        "policy-prod.json is not generated from NEEDS",
    ]


def test_workers_get_only_the_envelope_purposes_they_open() -> None:
    purposes = {
        function: {need.resource for need in needs if need.action == "kms:Decrypt"}
        for function, needs in NEEDS.items()
    }

    # Fan-out opens a fraud event's sealed details and the WhatsApp number to alert, and seals
    # the template an alert or reminder WhatsApp may refuse late; never a customer's token.
    address, sent = envelope("whatsapp-address"), envelope("sent-message")
    assert {envelope("bank-event-details"), address, sent} <= purposes["handle_bank_events"]
    assert envelope("oauth-tokens") not in purposes["handle_bank_events"]
    assert {envelope("client-token"), address, sent} <= purposes["daily_consent_check"]
    assert sent in purposes["handle_inbound_events"]  # opens it when the refusal comes
    assert sent not in purposes["api_handler"] | purposes["pending_link_sweep"]
    assert address not in purposes["pending_link_sweep"]  # it never messages anyone
    assert envelope("oauth-state") in purposes["api_handler"]
    assert envelope("bank-event-details") in purposes["api_handler"]  # seals before queueing


def test_only_the_webhook_reads_the_verify_tokens() -> None:
    readers = {
        (function, need.resource)
        for function, needs in NEEDS.items()
        for need in needs
        if need.action == "secretsmanager:GetSecretValue" and "verify-token" in need.resource
    }

    assert readers == {
        ("api_handler", secret("messenger/verify-token")),
        ("api_handler", secret("whatsapp/verify-token")),
        ("api_handler", secret("instagram/verify-token")),
    }


def test_only_the_inbound_worker_changes_message_visibility(derived) -> None:
    changers = {
        function
        for function, atoms in derived.items()
        if ("sqs:ChangeMessageVisibility", queue("inbound")) in atoms
    }

    assert changers == {"handle_inbound_events"}


def test_the_admin_token_is_granted_in_dev_only() -> None:
    def secrets(stage: str) -> list[str]:
        document = policy_document("api_handler", stage)
        return next(s for s in document["Statement"] if s["Sid"] == "Secrets")["Resource"]

    admin = "arn:aws:secretsmanager:*:*:secret:bankbridge/{}/admin-token-??????"
    assert admin.format("dev") in secrets("dev")
    assert admin.format("prod") not in secrets("prod")


def _project(tmp_path: Path, module_source: str) -> Path:
    """A minimal app whose only handler imports `chalicelib.thing`."""
    (tmp_path / "chalicelib").mkdir()
    (tmp_path / "chalicelib" / "__init__.py").write_text("")
    (tmp_path / "chalicelib" / "thing.py").write_text(textwrap.dedent(module_source))
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            from chalice import Chalice, Rate

            app = Chalice(app_name="bankbridge")


            @app.schedule(Rate(1, unit=Rate.DAYS))
            def nightly(event):
                from chalicelib.thing import run

                run()
            """
        )
    )
    return tmp_path


def test_a_new_call_through_a_stored_client_is_derived(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """
        from chalicelib import aws, settings


        class Store:
            def __init__(self):
                self._db = aws.client("dynamodb")

            def drop(self):
                self._db.delete_item(TableName="t", Key={})


        def run():
            Store().drop()
            return settings.get_settings().messenger_page_token_name
        """,
    )

    assert derive_needs(root)["nightly"] == {("dynamodb:DeleteItem", "table")}


def test_a_client_method_that_is_not_an_operation_stops_the_scan(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """
        from chalicelib import aws


        def run():
            return aws.client("dynamodb").get_paginator("query")
        """,
    )

    with pytest.raises(ScanError, match="get_paginator"):
        derive_needs(root)


def test_a_client_passed_around_stops_the_scan(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """
        from chalicelib import aws


        def run():
            return helper(aws.client("sqs"))
        """,
    )

    with pytest.raises(ScanError, match="cannot follow"):
        derive_needs(root)


def test_a_client_created_only_to_warm_it_up_needs_no_permission(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """
        from chalicelib import aws


        def run():
            aws.client("kms")
            aws.client("dynamodb").delete_item(TableName="t", Key={})
        """,
    )

    assert derive_needs(root)["nightly"] == {("dynamodb:DeleteItem", "table")}


def test_an_envelope_purpose_held_in_a_name_stops_the_scan(tmp_path: Path) -> None:
    """A purpose the scan cannot read would get no KMS grant: sealing fails only in AWS."""
    root = _project(
        tmp_path,
        """
        PURPOSE = "bank-event-details"


        def context():
            return {"app": "bankbridge", "purpose": PURPOSE}
        """,
    )

    with pytest.raises(ScanError, match="not a literal"):
        derive_needs(root)


def test_the_cli_writes_nothing_when_the_table_is_out_of_step(monkeypatch, capsys) -> None:
    monkeypatch.setattr(permissions, "check", lambda: ["api_handler: something is missing"])
    monkeypatch.setattr(permissions, "write_policy_files", pytest.fail)

    assert permissions.main(["--write"]) == 1
    assert "something is missing" in capsys.readouterr().err


def test_a_handler_needs_what_the_app_helpers_it_calls_import(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """
        from chalicelib import aws


        def run():
            aws.client("dynamodb").delete_item(TableName="t", Key={})
        """,
    )
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            from chalice import Chalice, Rate

            app = Chalice(app_name="bankbridge")


            def _delegate():
                return _work()


            def _work():
                from chalicelib.thing import run

                run()


            @app.schedule(Rate(1, unit=Rate.DAYS))
            def nightly(event):
                _delegate()


            @app.schedule(Rate(1, unit=Rate.DAYS))
            def idle(event):
                return None
            """
        )
    )

    needs = derive_needs(root)

    assert needs["nightly"] == {("dynamodb:DeleteItem", "table")}
    assert needs["idle"] == frozenset()
