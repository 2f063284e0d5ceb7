"""'Delete everything' on WhatsApp: the "done" reply still reaches the number, and then the
sealed number and every item under the person's pseudonym are gone."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib import aws
from chalicelib.channels.meta.signature import sign
from infra.local.graph_standin import RunningStandin
from tests.factories import sqs_event
from tests.integration.test_whatsapp_webhook_api import (
    APP_SECRET,
    _delivery,
    _post,
    _queued,
    _sent,
    client,
    graph,
    whatsapp_on,
)
from tests.unit.channels.whatsapp.payloads import NUMBER

__all__ = ["client", "graph", "whatsapp_on"]  # fixtures used by name


def _items(stack: Any) -> str:
    return json.dumps(aws.client("dynamodb").scan(TableName=stack.table_name)["Items"])


def test_the_done_reply_reaches_the_number_and_then_nothing_names_the_person(
    aws_stack: Any, whatsapp_on: None, client: Client, graph: RunningStandin
) -> None:
    body = _delivery("Yes, delete everything")
    assert _post(client, body, sign(APP_SECRET, body)).status_code == 200
    (queued,) = _queued(aws_stack)
    pseudonym = json.loads(queued)["user"]["user_id"]
    assert pseudonym in _items(aws_stack)  # the webhook kept the sealed number under it

    result = client.lambda_.invoke("handle_inbound_events", sqs_event([queued]))

    assert result.payload == {"batchItemFailures": []}
    [done] = [item for item in _sent(graph) if item.get("type") == "text"]
    assert done["to"] == NUMBER and done["text"]["body"].startswith("Done.")
    items = _items(aws_stack)
    assert pseudonym not in items
    assert '"whatsapp_address"' not in items
