"""Per-message traces for the log pane: webhook POST, queue hop, bank calls, Send API.

A trace starts with the console's own record of the webhook POST (status and
latency as measured here). The worker logs under the event's correlation id,
which for Messenger messages and postbacks is Meta's `mid` and for WhatsApp the
keyed pseudonym of the `wamid` (`pseudonyms.py`), so every log line with that id
belongs to the message: bank calls are the lines carrying method/path/status,
and any line from the queue pump proves the SQS hop. The Send API calls are the
bodies the Graph stand-in accepted for the person between this send and the
next one (the stand-in does not know correlation ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from infra.local.console.log_reader import LogEntry
from infra.local.console.sessions import SentRecord

StepKind = Literal["webhook", "bank_event", "queue", "bank", "send", "log"]
QUEUE_COMPONENTS = frozenset({"pump"})


class TraceStep(BaseModel):
    """One hop of a message through the stack."""

    kind: StepKind
    component: str
    summary: str
    status: int | None = None
    latency_ms: float | None = None
    interaction_id: str | None = None
    level: str | None = None


class MessageTrace(BaseModel):
    """Everything that happened because of one send."""

    mid: str | None
    label: str
    posted_at_ms: int
    steps: list[TraceStep]


def received_at_ms(reply: dict[str, Any]) -> int:
    """The Graph stand-in's `received_at` (ISO 8601) in epoch milliseconds; 0 if absent."""
    try:
        return int(datetime.fromisoformat(str(reply["received_at"])).timestamp() * 1000)
    except (KeyError, ValueError):
        return 0


def describe_send(body: dict[str, Any]) -> str:
    """A one-line summary of a Send API body that names its shape, never its text."""
    if "sender_action" in body:
        return f"sender_action {body['sender_action']}"
    if body.get("messaging_product") == "whatsapp":
        return _describe_whatsapp(body)
    message = body.get("message") or {}
    parts: list[str] = []
    if "text" in message:
        parts.append("text")
    attachment = message.get("attachment") or {}
    if attachment.get("type") == "template":
        payload = attachment.get("payload") or {}
        template = payload.get("template_type", "?")
        if template == "generic":
            parts.append(f"generic template ({len(payload.get('elements') or [])} cards)")
        else:
            parts.append(f"{template} template ({len(payload.get('buttons') or [])} buttons)")
    elif attachment:
        parts.append(f"{attachment.get('type', '?')} attachment")
    if message.get("quick_replies"):
        parts.append(f"{len(message['quick_replies'])} quick replies")
    kind = body.get("messaging_type", "message")
    return f"{kind}: " + (" + ".join(parts) or "empty message")


def _describe_whatsapp(body: dict[str, Any]) -> str:
    """A Cloud API /messages body by its type (interactive kind, template name), never its text."""
    if "to" not in body:
        typing = " + typing" if body.get("typing_indicator") else ""
        return f"whatsapp: {body.get('status', '?')}{typing}"
    kind = str(body.get("type", "text"))
    if kind == "interactive":
        kind = f"interactive {(body.get('interactive') or {}).get('type', '?')}"
    elif kind == "template":
        kind = f"template {(body.get('template') or {}).get('name', '?')}"
    return f"whatsapp: {kind}"


def _log_step(entry: LogEntry) -> TraceStep:
    fields = entry.fields
    if {"method", "path"} <= fields.keys():
        status = fields.get("status")
        return TraceStep(
            kind="bank",
            component=entry.component,
            summary=f"{fields['method']} {fields['path']}",
            status=status if isinstance(status, int) else None,
            latency_ms=fields.get("latency_ms"),
            interaction_id=fields.get("interaction_id"),
            level=entry.level,
        )
    details = " ".join(
        f"{key}={value}" for key, value in fields.items() if not isinstance(value, dict | list)
    )
    return TraceStep(
        kind="log",
        component=entry.component,
        summary=f"{entry.message} {details}".strip(),
        level=entry.level,
    )


def build_traces(
    sent: list[SentRecord],
    logs: list[LogEntry],
    replies: list[dict[str, Any]],
    logged_as: Mapping[str, str] | None = None,
) -> list[MessageTrace]:
    """One trace per sent record, oldest first; `logged_as` maps a sent id to the id the
    worker logs it under where the two differ (WhatsApp's)."""
    traces: list[MessageTrace] = []
    for index, record in enumerate(sent):
        result = record.result
        until = sent[index + 1].result.posted_at_ms if index + 1 < len(sent) else None
        steps = [
            TraceStep(
                kind="webhook" if record.target == "webhook" else "bank_event",
                component="console",
                summary=_post_summary(record),
                status=result.status,
                latency_ms=result.latency_ms,
            )
        ]
        logged = (logged_as or {}).get(result.mid, result.mid) if result.mid else None
        own = [entry for entry in logs if logged is not None and entry.correlation_id == logged]
        pump = next((entry for entry in own if entry.component in QUEUE_COMPONENTS), None)
        if pump is not None:
            steps.append(
                TraceStep(kind="queue", component="pump", summary="SQS → worker (inbound queue)")
            )
        steps.extend(_log_step(entry) for entry in own)
        steps.extend(
            TraceStep(kind="send", component="graph", summary=describe_send(reply), status=200)
            for reply in replies
            if received_at_ms(reply) >= result.posted_at_ms
            and (until is None or received_at_ms(reply) < until)
        )
        traces.append(
            MessageTrace(
                mid=result.mid, label=record.label, posted_at_ms=result.posted_at_ms, steps=steps
            )
        )
    return traces


def _post_summary(record: SentRecord) -> str:
    if record.target == "bank":
        return f"POST /sandbox/events: {record.result.answer}"
    if record.result.status is None:
        return record.result.answer
    return f"POST /webhooks/{record.channel} (signed)"
