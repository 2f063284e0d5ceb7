"""`POST /banks/{id}/events` on in-memory fakes: only a correctly signed event reaches the
queue, minimised and sealed; a repeat is queued again under its own id (the events worker
drops it, see `test_fanout`), and nothing is ever stored here."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from chalicelib.connectors.fdx.events import NOTIFICATION_ACCEPTED as FDX_ACCEPTED
from chalicelib.events.ingest import receive
from chalicelib.events.payloads import QueuedBankEvent
from chalicelib.events.queued import alert_details
from chalicelib.events.signing import SIGNATURE_HEADER, sign
from tests.fakes.aws import FakeAws
from tests.fakes.banks import bank_config
from tests.fakes.store import FakeConnectorRepository

INSTITUTION = "acme-bank"
SECRET_NAME = f"bankbridge/dev/banks/{INSTITUTION}/events-secret"
SECRET = "acme-events-secret"
ACCOUNT_ID = "000123456789"
NOW = 1_800_000_000


class QueueRecorder:
    """A queue sender that keeps what it was given, by queue name."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, BaseModel]] = []

    def __call__(self, queue_name: str, messages: Sequence[tuple[str, BaseModel]]) -> None:
        self.sent.extend((queue_name, message_id, model) for message_id, model in messages)


@pytest.fixture
def aws(aws: FakeAws) -> FakeAws:
    """The in-memory AWS, holding the bank's webhook secret."""
    aws.secretsmanager.values[SECRET_NAME] = SECRET
    return aws


@pytest.fixture
def configs() -> FakeConnectorRepository:
    repository = FakeConnectorRepository()
    repository.put(
        bank_config(INSTITUTION, event_signing={"method": "hmac", "secret_refs": [SECRET_NAME]})
    )
    repository.put(bank_config("unsigned-bank"))
    return repository


def fraud_notification(event_id: str = "evt-1") -> bytes:
    document = {
        "notificationId": event_id,
        "type": "CUSTOM",
        "category": "FRAUD",
        "severity": "ALERT",
        "notificationPayload": {
            "id": ACCOUNT_ID,
            "idType": "ACCOUNT",
            "customFields": [
                {"name": "amount", "value": "84.20"},
                {"name": "currency", "value": "USD"},
                {"name": "merchant", "value": "EXAMPLE STORE"},
            ],
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()


def post(
    configs: FakeConnectorRepository,
    queue: QueueRecorder,
    body: bytes,
    *,
    secret: str = SECRET,
    institution_id: str = INSTITUTION,
    signed_at: int = NOW,
) -> int:
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign([secret], signed_at, body),
    }
    answer = receive(institution_id, body, headers, now=NOW, configs=configs, send=queue)
    return answer.status


def test_a_signed_event_is_queued_minimised_with_its_details_sealed(
    aws: FakeAws, configs: FakeConnectorRepository
) -> None:
    queue = QueueRecorder()
    assert post(configs, queue, fraud_notification()) == FDX_ACCEPTED

    ((queue_name, message_id, queued),) = queue.sent
    assert message_id == "evt-1" and queue_name.endswith("events")
    assert isinstance(queued, QueuedBankEvent)
    wire = queued.model_dump_json()
    assert ACCOUNT_ID not in wire and "EXAMPLE STORE" not in wire and "84.20" not in wire
    assert alert_details(queued).merchant_name == "EXAMPLE STORE"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"secret": "not-the-secret"}, 401),
        ({"signed_at": NOW - 3600}, 401),
        ({"institution_id": "unsigned-bank"}, 401),
        ({"institution_id": "no-such-bank"}, 404),
    ],
    ids=["wrong-secret", "stale", "bank-without-signing", "unknown-bank"],
)
def test_an_event_that_is_not_proven_is_refused_and_nothing_is_queued(
    aws: FakeAws, configs: FakeConnectorRepository, change: dict[str, object], expected: int
) -> None:
    queue = QueueRecorder()
    assert post(configs, queue, fraud_notification(), **change) == expected  # type: ignore[arg-type]
    assert queue.sent == []


def test_a_tampered_body_is_refused(aws: FakeAws, configs: FakeConnectorRepository) -> None:
    queue = QueueRecorder()
    body = fraud_notification()
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign([SECRET], NOW, body)}
    tampered = body.replace(b"84.20", b"8420.00")
    answer = receive(INSTITUTION, tampered, headers, now=NOW, configs=configs, send=queue)
    assert answer.status == 401
    assert queue.sent == []


def test_a_repeated_delivery_is_queued_again_under_the_same_id(
    aws: FakeAws, configs: FakeConnectorRepository
) -> None:
    queue = QueueRecorder()
    assert post(configs, queue, fraud_notification()) == FDX_ACCEPTED
    assert post(configs, queue, fraud_notification()) == FDX_ACCEPTED
    assert [message_id for _, message_id, _ in queue.sent] == ["evt-1", "evt-1"]
