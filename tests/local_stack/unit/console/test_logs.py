"""Log pane input: parsing the components' lines, redaction, tailing files, per-message traces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from infra.local.console.log_reader import LogEntry, LogTail, SecretScrubber, parse_line
from infra.local.console.sessions import SentRecord
from infra.local.console.traces import build_traces, describe_send
from infra.local.console.webhook_sender import PostResult

SCRUB = SecretScrubber(["dev-app-secret", "dev-page-token", "dev-admin-token"])


def _json_line(**fields: object) -> str:
    return json.dumps(fields)


def test_json_line_keeps_fields_and_redacts_sensitive_ones() -> None:
    line = _json_line(
        level="INFO",
        logger="chalicelib.connectors.http",
        message="bank call",
        correlation_id="m_abc",
        method="GET",
        path="/fdx/v6/accounts",
        status=200,
        latency_ms=3.2,
        interaction_id="f50923b5",
        authorization="Bearer eyJhbGciOi.secret.jwt",
        balance="1234.56",
        text="what is my balance",
    )
    entry = parse_line(line, "pump", 7, SCRUB)
    assert entry is not None
    assert (entry.seq, entry.component, entry.level, entry.message) == (
        7,
        "pump",
        "INFO",
        "bank call",
    )
    assert entry.correlation_id == "m_abc"
    assert entry.fields["method"] == "GET" and entry.fields["status"] == 200
    assert entry.fields["interaction_id"] == "f50923b5"
    for key in ("authorization", "balance", "text"):
        assert entry.fields[key] == "[REDACTED]"
    assert "eyJhbGciOi" not in entry.model_dump_json()


def test_secrets_are_scrubbed_wherever_they_appear() -> None:
    line = _json_line(
        message="signing with dev-app-secret failed; url=/x?access_token=abc123&appsecret_proof=ff",
        detail={"nested": ["token is dev-page-token"]},
        correlation_id="m_1",
    )
    entry = parse_line(line, "api", 1, SCRUB)
    assert entry is not None
    dumped = entry.model_dump_json()
    for leaked in ("dev-app-secret", "dev-page-token", "abc123", "appsecret_proof=ff"):
        assert leaked not in dumped
    plain = parse_line("Authorization: Bearer dev-admin-token sent", "bank", 2, SCRUB)
    assert plain is not None and "dev-admin-token" not in plain.message


def test_long_ids_in_correlation_ids_are_kept_but_account_numbers_masked() -> None:
    line = _json_line(message="card 4111111111111111 used", correlation_id="m_12345678901234")
    entry = parse_line(line, "pump", 1, SCRUB)
    assert entry is not None
    assert entry.correlation_id == "m_12345678901234"
    assert "4111111111111111" not in entry.message and "1111" in entry.message


def test_access_log_lines_give_method_path_and_status_without_query() -> None:
    line = (
        '127.0.0.1 - - [24/Nov/2026 00:41:51] "\x1b[33mPOST /sandbox/events?code=s3cr3t '
        'HTTP/1.1\x1b[0m" 404 -'
    )
    entry = parse_line(line, "bank", 3, SCRUB)
    assert entry is not None
    assert entry.fields == {"method": "POST", "path": "/sandbox/events", "status": 404}
    assert "\x1b" not in entry.message and "s3cr3t" not in entry.message
    graph = parse_line(
        '2026-11-24 00:41:48,279 INFO werkzeug 127.0.0.1 - - [..] "POST /v25.0/me/messages" 200',
        "graph",
        4,
        SCRUB,
    )
    assert graph is not None and graph.fields["path"] == "/v25.0/me/messages"
    assert parse_line("   ", "api", 5, SCRUB) is None


def test_tail_reads_only_new_complete_lines_and_survives_truncation(tmp_path: Path) -> None:
    api = tmp_path / "api.log"
    api.write_text(_json_line(message="one", correlation_id="m_a") + "\n" + '{"message": "tw')
    tail = LogTail(tmp_path, SCRUB)
    assert [entry.message for entry in tail.entries()] == ["one"]
    with api.open("a") as handle:
        handle.write('o", "correlation_id": "m_b"}\n')
    newer = tail.entries(after=1)
    assert [(entry.seq, entry.message) for entry in newer] == [(2, "two")]
    api.write_text(_json_line(message="after restart") + "\n")
    assert [entry.message for entry in tail.entries(after=2)] == ["after restart"]
    assert [entry.message for entry in tail.correlated({"m_b"})] == ["two"]


def test_tail_leaves_out_aws_access_lines_and_library_chatter(tmp_path: Path) -> None:
    (tmp_path / "moto.log").write_text('127.0.0.1 - - [x] "POST / HTTP/1.1" 200 -\n')
    (tmp_path / "pump.log").write_text(
        _json_line(logger="botocore.credentials", message="Found credentials")
        + "\n"
        + _json_line(logger="chalicelib.conversation.worker", message="Replied")
        + "\n"
    )
    assert [entry.message for entry in LogTail(tmp_path, SCRUB).entries()] == ["Replied"]


def _record(mid: str | None, posted_at_ms: int, label: str = "text message") -> SentRecord:
    result = PostResult(
        mid=mid, status=200, latency_ms=12.5, answer="EVENT_RECEIVED", posted_at_ms=posted_at_ms
    )
    return SentRecord(psid="111", kind="text", label=label, bubble="hi", result=result)


def _reply(at_ms: int, body: dict) -> dict:
    received = datetime.fromtimestamp(at_ms / 1000, UTC).isoformat()
    return {"recipient": {"id": "111"}, **body, "received_at": received}


def _entry(seq: int, correlation_id: str, **fields: object) -> LogEntry:
    message = str(fields.pop("message", "bank call"))
    return LogEntry(
        seq=seq,
        component="pump",
        read_at_ms=0,
        level="INFO",
        logger="chalicelib",
        message=message,
        correlation_id=correlation_id,
        fields=fields,
    )


def test_traces_follow_each_message_through_queue_bank_and_send_api() -> None:
    sent = [_record("m_1", 1_000_000), _record("m_2", 2_000_000, "quick reply BALANCE")]
    logs = [
        _entry(1, "m_2", method="GET", path="/fdx/v6/accounts", status=200, latency_ms=3.2,
               interaction_id="iid-1"),
        _entry(2, "m_2", message="Replied", kind="quick_reply", requests=2),
        _entry(3, "m_other", method="GET", path="/elsewhere", status=500),
    ]  # fmt: skip
    replies = [
        _reply(1_000_500, {"messaging_type": "RESPONSE", "message": {"text": "welcome"}}),
        _reply(2_000_100, {"sender_action": "typing_on"}),
        _reply(2_000_900, {"messaging_type": "RESPONSE", "message": {"text": "£12.00"}}),
    ]
    first, second = build_traces(sent, logs, replies)

    assert [step.kind for step in first.steps] == ["webhook", "send"]
    assert first.steps[0].status == 200 and first.steps[0].latency_ms == 12.5
    assert [step.kind for step in second.steps] == [
        "webhook",
        "queue",
        "bank",
        "log",
        "send",
        "send",
    ]
    bank = second.steps[2]
    assert (bank.summary, bank.status, bank.latency_ms, bank.interaction_id) == (
        "GET /fdx/v6/accounts", 200, 3.2, "iid-1",
    )  # fmt: skip
    assert second.steps[4].summary == "sender_action typing_on"
    assert "/elsewhere" not in second.model_dump_json()
    assert "£12.00" not in second.model_dump_json()  # the log pane names shapes, not text


def test_send_descriptions_name_the_shape_only() -> None:
    template = {
        "messaging_type": "RESPONSE",
        "message": {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "button", "text": "secret words", "buttons": [{}]},
            },
            "quick_replies": [{}, {}],
        },
    }
    assert describe_send(template) == "RESPONSE: button template (1 buttons) + 2 quick replies"
    generic = {"message": {"attachment": {"type": "template", "payload": {
        "template_type": "generic", "elements": [{}, {}, {}]}}}}  # fmt: skip
    assert describe_send(generic) == "message: generic template (3 cards)"
