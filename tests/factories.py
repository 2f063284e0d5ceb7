"""Builders for Messenger webhook payloads shaped like Meta's reference samples."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

PAGE_ID = "1000000000000001"
_counter = itertools.count(1)


def _mid() -> str:
    return f"m_test{next(_counter):06d}{int(time.time() * 1000)}"


def text_event(psid: str, text: str, mid: str | None = None) -> dict[str, Any]:
    """A `messages` event carrying text."""
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "message": {"mid": mid or _mid(), "text": text},
    }


def quick_reply_event(psid: str, title: str, payload: str) -> dict[str, Any]:
    """A tapped quick reply: Meta sends the title as text and our payload."""
    event = text_event(psid, title)
    event["message"]["quick_reply"] = {"payload": payload}
    return event


def postback_event(psid: str, payload: str, *, with_mid: bool = True) -> dict[str, Any]:
    """A button or Get Started tap."""
    postback: dict[str, Any] = {"title": "Tap", "payload": payload}
    if with_mid:
        postback["mid"] = _mid()
    return {
        "sender": {"id": psid},
        "recipient": {"id": PAGE_ID},
        "timestamp": int(time.time() * 1000),
        "postback": postback,
    }


def delivery(*messaging: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """A webhook body: the events spread over `entries` entries, as Meta batches them."""
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(entries)]
    for index, item in enumerate(messaging):
        buckets[index % entries].append(item)
    return {
        "object": "page",
        "entry": [
            {"id": PAGE_ID, "time": int(time.time() * 1000), "messaging": bucket}
            for bucket in buckets
        ],
    }


def encode(document: dict[str, Any]) -> bytes:
    """Serialise like Meta: compact JSON with non-ASCII escaped as \\uXXXX."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode()


def sqs_event(
    bodies: list[str], *, receive_count: int = 1, queue: str = "bankbridge-dev-inbound"
) -> dict[str, Any]:
    """A Lambda SQS event with a unique messageId per record."""
    import uuid

    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"rh-{uuid.uuid4()}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }


def acme_config(**changes: Any) -> dict[str, Any]:
    """A valid FDX connector config for a fictional bank, as the admin API receives it."""
    return {
        "institution_id": "acme-bank",
        "display_name": "Acme Bank",
        "country": "US",
        "standard": "fdx",
        "standard_version": "6.0",
        "api_base_url": "https://api.acme.example/fdx/v6",
        "discovery_url": "https://auth.acme.example/.well-known/openid-configuration",
        "client_id": "bankbridge",
        "client_secret_ref": "bankbridge/prod/banks/acme-bank/client-secret",
        "scopes": ["openid"],
        **changes,
    }
