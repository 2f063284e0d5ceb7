"""BankBridge's Chalice app: routes and event handlers only, each a thin adapter.

Everything else lives in `chalicelib/`. Importing this module creates no AWS
client and imports neither boto3 nor requests, which keeps cold starts short;
those load on first use inside a handler.
"""

from __future__ import annotations

import os

from chalice import Chalice, Response

from chalicelib.observability import configure_logging

configure_logging()
app = Chalice(app_name="bankbridge")

# Chalice reads queue names when it packages the app, from the stage's environment.
_STAGE = os.environ.get("BANKBRIDGE_STAGE", "dev")
INBOUND_QUEUE = os.environ.get("BANKBRIDGE_INBOUND_QUEUE_NAME", f"bankbridge-{_STAGE}-inbound")


def _text(status: int, body: str) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "text/plain"})


@app.route("/webhooks/messenger", methods=["GET"])
def messenger_subscription() -> Response:
    """Meta's subscription handshake: echo `hub.challenge` for the right verify token."""
    from chalicelib.channels.messenger.ingest import verify_subscription

    answer = verify_subscription(app.current_request.query_params)
    return _text(answer.status, answer.body)


@app.route(
    "/webhooks/messenger",
    methods=["POST"],
    content_types=["application/json", "text/plain", "application/octet-stream"],
)
def messenger_webhook() -> Response:
    """Verify, parse, de-duplicate and queue a Messenger delivery; answer within Meta's 5 s."""
    from chalicelib.channels.messenger.ingest import receive

    request = app.current_request
    answer = receive(request.raw_body or b"", request.headers)
    return _text(answer.status, answer.body)


@app.on_sqs_message(queue=INBOUND_QUEUE, batch_size=10)
def handle_inbound_events(event):  # type: ignore[no-untyped-def]  # Chalice's SQSEvent
    """Answer queued chat events, reporting failures per record."""
    from chalicelib.conversation.worker import handle_batch

    return handle_batch(event.to_dict(), event.context)
