"""Put canonical events on SQS, ten to a call (SQS's batch limit)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pydantic import BaseModel

from chalicelib import aws

SQS_BATCH_LIMIT = 10


class EnqueueFailed(Exception):
    """Some messages were not accepted by SQS; `failed_ids` names them."""

    def __init__(self, failed_ids: list[str]) -> None:
        super().__init__(f"{len(failed_ids)} message(s) not queued")
        self.failed_ids = failed_ids


@lru_cache(maxsize=8)
def queue_url(queue_name: str) -> str:
    """Resolve a queue's URL once per container."""
    return str(aws.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])


def enqueue(queue_name: str, messages: Sequence[tuple[str, BaseModel]]) -> None:
    """Send `(id, model)` pairs as JSON messages; raise `EnqueueFailed` naming any not sent.

    `id` must be unique within the call; it is only used to report failures.
    """
    sqs = aws.client("sqs")
    try:
        url = queue_url(queue_name)
    except Exception as error:
        raise EnqueueFailed([message_id for message_id, _ in messages]) from error
    failed: list[str] = []
    for start in range(0, len(messages), SQS_BATCH_LIMIT):
        chunk = messages[start : start + SQS_BATCH_LIMIT]
        entries = [
            {"Id": str(index), "MessageBody": model.model_dump_json()}
            for index, (_, model) in enumerate(chunk)
        ]
        try:
            answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except Exception:
            failed.extend(message_id for message_id, _ in chunk)
            continue
        failed.extend(chunk[int(item["Id"])][0] for item in answer.get("Failed", []))
    if failed:
        raise EnqueueFailed(failed)
