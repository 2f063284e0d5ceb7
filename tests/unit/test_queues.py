"""`enqueue` against an in-memory SQS: checked before sending, packed within SQS's limits."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pydantic import BaseModel

from chalicelib import queues
from chalicelib.observability import correlated, correlation_id
from chalicelib.queues import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    SQS_BATCH_LIMIT,
    EnqueueFailed,
    MessageNotQueueable,
    enqueue,
)


class Note(BaseModel):
    text: str


class FakeSqs:
    """Records `SendMessageBatch` calls; fails the calls or entries it is told to."""

    def __init__(self, *, failing_calls: tuple[int, ...] = (), refused: str | None = None) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.correlation_ids: set[str | None] = set()
        self._failing_calls = failing_calls
        self._refused = refused
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        with self._lock:
            self.calls.append(Entries)
            self.correlation_ids.add(correlation_id.get())
            number = len(self.calls)
        if number in self._failing_calls:
            raise ConnectionError("SQS unreachable")
        failed = [
            {"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"}
            for entry in Entries
            if self._refused is not None and self._refused in entry["MessageBody"]
        ]
        return {"Successful": [], "Failed": failed}

    def bodies(self) -> list[str]:
        return [entry["MessageBody"] for call in self.calls for entry in call]


def _install(monkeypatch: pytest.MonkeyPatch, fake: FakeSqs) -> FakeSqs:
    monkeypatch.setattr(queues.aws, "client", lambda service: fake)
    monkeypatch.setattr(queues, "queue_url", lambda name: f"https://sqs.test/{name}")
    return fake


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    return _install(monkeypatch, FakeSqs())


def _notes(count: int, size: int = 10) -> list[tuple[str, BaseModel]]:
    return [(f"id-{i}", Note(text=f"{i:06d}" + "x" * size)) for i in range(count)]


def test_every_message_is_sent_once_ten_to_a_call(sqs: FakeSqs) -> None:
    messages = _notes(1000)
    enqueue("inbound", messages)
    assert sorted(sqs.bodies()) == sorted(model.model_dump_json() for _, model in messages)
    assert len(sqs.calls) == 100
    assert all(len(call) <= SQS_BATCH_LIMIT for call in sqs.calls)


def test_the_sending_threads_log_under_the_caller_s_correlation_id(sqs: FakeSqs) -> None:
    with correlated("delivery-1"):
        enqueue("inbound", _notes(50))
    assert sqs.correlation_ids == {"delivery-1"}


def test_large_messages_are_packed_within_the_per_call_byte_limit(sqs: FakeSqs) -> None:
    enqueue("inbound", _notes(40, size=100 * 1024))
    assert len(sqs.bodies()) == 40
    for call in sqs.calls:
        assert sum(len(entry["MessageBody"].encode()) for entry in call) <= MAX_BATCH_BYTES
    assert len(sqs.calls) == 20  # two ~100 KiB messages fit a call, three do not


def test_a_failed_call_names_its_messages_and_the_other_calls_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _install(monkeypatch, FakeSqs(failing_calls=(1,)))
    with pytest.raises(EnqueueFailed) as failure:
        enqueue("inbound", _notes(30))
    assert len(failure.value.failed_ids) == 10
    assert len(fake.calls) == 3


def test_a_refused_entry_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    _install(monkeypatch, FakeSqs(refused="000017"))
    with pytest.raises(EnqueueFailed) as failure:
        enqueue("inbound", _notes(30))
    assert failure.value.failed_ids == ["id-17"]


def test_an_unknown_queue_fails_every_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise RuntimeError("no such queue")

    monkeypatch.setattr(queues.aws, "client", lambda service: FakeSqs())
    monkeypatch.setattr(queues, "queue_url", missing)
    with pytest.raises(EnqueueFailed) as failure:
        enqueue("inbound", _notes(3))
    assert failure.value.failed_ids == ["id-0", "id-1", "id-2"]


@pytest.mark.parametrize(
    ("text", "too_large"),
    [
        ("x" * MAX_MESSAGE_BYTES, True),
        ("é" * (MAX_MESSAGE_BYTES // 2), True),  # the limit is in UTF-8 bytes, not characters
        ("lone \udc00 surrogate", False),
        ("noncharacter \uffff", False),
    ],
    ids=["ascii-too-large", "utf8-too-large", "surrogate", "noncharacter"],
)
def test_a_message_sqs_would_always_refuse_stops_the_call_before_anything_is_sent(
    sqs: FakeSqs, text: str, too_large: bool
) -> None:
    messages = [*_notes(15), ("bad", Note(text=text))]
    with pytest.raises(MessageNotQueueable) as refusal:
        enqueue("inbound", messages)
    assert (refusal.value.message_id, refusal.value.too_large) == ("bad", too_large)
    assert sqs.calls == []


def test_the_refused_characters_are_exactly_those_sqs_does_not_accept() -> None:
    """SQS accepts #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF."""
    every_character = "".join(map(chr, range(0x110000)))
    refused = {match.start() for match in queues._NOT_ALLOWED_BY_SQS.finditer(every_character)}
    accepted = {0x9, 0xA, 0xD, *range(0x20, 0xD800), *range(0xE000, 0xFFFE)}
    assert refused == set(range(0x10000)) - accepted


def test_nothing_to_send_makes_no_call(sqs: FakeSqs) -> None:
    enqueue("inbound", [])
    assert sqs.calls == []
