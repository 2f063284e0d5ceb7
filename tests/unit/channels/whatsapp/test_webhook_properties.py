"""Property tests: no WhatsApp delivery, however odd, yields anything but events or a 400/404.

Arbitrary values stand in for every level of Meta's shape (entry, change, value,
message, status); whatever is read must be a queueable event that names neither
the number nor the message id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.channels.exceptions import WebhookRejected
from chalicelib.channels.whatsapp.identity import Pseudonyms
from chalicelib.channels.whatsapp.webhook import parse_payload, read_delivery
from tests.unit.channels.whatsapp.payloads import (
    NUMBER,
    WAMID,
    button_reply,
    text_message,
    value,
    webhook,
)

PSEUDONYMS = Pseudonyms(b"p" * 32)
NOW = datetime(2025, 6, 9, tzinfo=UTC)

_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["\udc00", "\uffff", "text", "interactive", "button", "failed", NUMBER])
)
_json = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _mutations(document: dict[str, Any], replacement: Any, where: int) -> dict[str, Any]:
    """`document` with one level of Meta's shape replaced by `replacement`."""
    change = document["entry"][0]["changes"][0]
    message = change["value"]["messages"][0]
    targets = [
        lambda: document["entry"].__setitem__(0, replacement),
        lambda: document["entry"][0].__setitem__("changes", replacement),
        lambda: change.__setitem__("value", replacement),
        lambda: change["value"].__setitem__("messages", replacement),
        lambda: change["value"]["messages"].append(replacement),
        lambda: message.__setitem__("interactive", replacement),
        lambda: message.__setitem__("timestamp", replacement),
        lambda: message.__setitem__("from", replacement),
        lambda: change["value"].__setitem__("statuses", [replacement]),
    ]
    targets[where % len(targets)]()
    return document


@settings(max_examples=300, deadline=None)
@given(replacement=_json, where=st.integers(min_value=0, max_value=8))
def test_any_odd_part_is_skipped_or_refused_never_raised(replacement: Any, where: int) -> None:
    document = _mutations(
        webhook(value(text_message(), button_reply(wamid="wamid.2"))), replacement, where
    )
    try:
        delivery = read_delivery(parse_payload(document), PSEUDONYMS, now=NOW)
    except WebhookRejected as rejected:
        assert rejected.status in (400, 404)
        return
    for event in delivery.events:
        queued = event.model_dump_json()
        queued.encode()  # no lone surrogate survives
        assert NUMBER not in queued and WAMID not in queued


@settings(max_examples=200, deadline=None)
@given(document=_json)
def test_any_document_is_an_envelope_or_a_typed_refusal(document: Any) -> None:
    try:
        payload = parse_payload(document)
    except WebhookRejected as rejected:
        assert rejected.status in (400, 404)
        return
    read_delivery(payload, PSEUDONYMS, now=NOW)
