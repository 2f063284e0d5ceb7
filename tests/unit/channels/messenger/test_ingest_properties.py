"""Property tests of the two public ingest paths: no input yields anything but a typed refusal.

The Messenger webhook runs end to end (`receive`: signature, bounded JSON, envelope,
per-event validation, `inbox.accept`, `queues.enqueue`) against a fake SQS client that
refuses what SQS refuses and reads every body back as the worker would. The bank-event
parsers (FDX JSON, UK SET claims) get arbitrary documents. Example counts are modest
so the file runs in a few seconds.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import envelope
from chalicelib.bank_data import BankEvent
from chalicelib.channels.messages import InboundEvent
from chalicelib.channels.meta.signature import SIGNATURE_HEADER, sign
from chalicelib.channels.webhooks import receive
from chalicelib.events import ingest as events_ingest
from chalicelib.events import signing
from chalicelib.events.exceptions import EventRejected
from chalicelib.events.payloads import QueuedBankEvent
from chalicelib.store import connectors  # modules imported under a patch would keep the fake
from tests.factories import PAGE_ID
from tests.unit.events.intake_readers import from_fdx, from_uk_claims

SECRET = "property-app-secret"
receive_webhook = partial(receive, "messenger")
NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
_SQS_REFUSES = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class FakeSqs:
    """Accepts a batch the way SQS does: UTF-8 bodies of allowed characters, 256 KiB at most."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        return {"QueueUrl": f"https://sqs.local/{QueueName}"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        assert len(Entries) <= 10
        assert sum(len(e["MessageBody"].encode()) for e in Entries) <= 256 * 1024
        for entry in Entries:
            assert _SQS_REFUSES.search(entry["MessageBody"]) is None
            self.bodies.append(entry["MessageBody"])
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


@pytest.fixture
def sqs(local_dev_stage: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSqs]:
    from chalicelib import aws, queues
    from chalicelib.channels.meta import webhook as meta_webhook

    fake = FakeSqs()
    monkeypatch.setattr(aws, "client", lambda service_name: fake)
    monkeypatch.setattr(meta_webhook, "get_secret", lambda name: SECRET)
    queues.queue_url.cache_clear()
    yield fake
    queues.queue_url.cache_clear()


# --- strategies -------------------------------------------------------------------------------

_awkward_text = st.text(
    st.characters(exclude_categories=())
    | st.sampled_from(["\udc00", "\ud800", "\uffff", "\ufffe", "\x00", "\u2028", "é", "😀"]),
    max_size=40,
)
_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**15, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _awkward_text
)
_json = st.recursive(
    _scalar,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_awkward_text, children, max_size=3)
    ),
    max_leaves=8,
)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid shape (nine times in ten), sometimes anything at all."""
    return st.integers(0, 9).flatmap(lambda n: valid if n < 9 else _json)


_psid = st.from_regex(r"[0-9]{1,17}", fullmatch=True)
_message = st.fixed_dictionaries(
    {},
    optional={
        "mid": _maybe(st.from_regex(r"m_[A-Za-z0-9_-]{1,60}", fullmatch=True))
        | st.just("m" * 3000),
        "text": _maybe(_awkward_text),
        "is_echo": _maybe(st.booleans()),
        "quick_reply": _maybe(st.fixed_dictionaries({"payload": _maybe(_awkward_text)})),
        "attachments": _maybe(st.lists(st.fixed_dictionaries({"type": st.just("image")}))),
    },
)
_postback = st.fixed_dictionaries(
    {},
    optional={
        "mid": _maybe(st.from_regex(r"m_[a-z0-9]{1,20}", fullmatch=True)),
        "title": _maybe(_awkward_text),
        "payload": _maybe(_awkward_text),
        "referral": _maybe(st.fixed_dictionaries({"ref": _maybe(_awkward_text)})),
    },
)
_timestamp = _maybe(
    st.integers(min_value=NOW_MS - 10**9, max_value=NOW_MS)
    | st.just(str(NOW_MS // 1000))
    | st.sampled_from([1e20, -1, 253_402_300_800_000, 0, True, 10**30, "soon"])
)
_linking = st.fixed_dictionaries(
    {"status": _maybe(st.sampled_from(["linked", "unlinked"]))},
    optional={"authorization_code": _maybe(_awkward_text)},
)
_messaging = st.one_of(
    *(
        st.fixed_dictionaries(
            {
                "sender": _maybe(st.fixed_dictionaries({"id": _maybe(_psid)})),
                "recipient": _maybe(st.just({"id": PAGE_ID})),
                kind: _maybe(shape),
            },
            optional={"timestamp": _timestamp},
        )
        for kind, shape in [
            ("message", _message),
            ("postback", _postback),
            ("account_linking", _linking),
        ]
    )
)
_entry = _maybe(
    st.fixed_dictionaries(
        {"messaging": _maybe(st.lists(_messaging, max_size=4))},
        optional={"id": _maybe(st.just(PAGE_ID)), "time": _timestamp},
    )
)
_delivery = (
    st.fixed_dictionaries(
        {"object": _maybe(st.just("page")), "entry": _maybe(st.lists(_entry, max_size=3))}
    )
    | _json
)


# --- the Messenger webhook -----------------------------------------------------------------------


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=_delivery)
def test_any_signed_delivery_is_queued_readably_or_refused_with_a_4xx(
    sqs: FakeSqs, document: Any
) -> None:
    sqs.bodies.clear()
    body = json.dumps(document).encode()  # ASCII: lone surrogates travel as \uXXXX escapes
    answer = receive_webhook(body, {SIGNATURE_HEADER: sign(SECRET, body)})
    assert answer.status in (200, 400, 404), answer
    answer.body.encode()  # the answer itself can always be sent
    if answer.status != 200:
        assert sqs.bodies == []
        return
    for queued in sqs.bodies:  # what the worker reads
        inbound = InboundEvent.model_validate_json(queued)
        assert len(queued.encode()) <= 256 * 1024
        assert inbound.model_dump_json() == queued


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    good=st.lists(_psid, min_size=1, max_size=3, unique=True),
    bad=st.sampled_from(
        [
            {"timestamp": 1e20},
            {"timestamp": 253_402_300_800_000},
            {"message": {"mid": "m" * 3000, "text": "hi"}},
            {"sender": {"id": "\udc00"}},
            {"message": {"mid": "m_x", "text": 7}},
        ]
    ),
)
def test_an_invalid_event_never_sinks_the_valid_ones_beside_it(
    sqs: FakeSqs, good: list[str], bad: dict[str, Any]
) -> None:
    sqs.bodies.clear()

    def item(psid: str, index: int) -> dict[str, Any]:
        return {
            "sender": {"id": psid},
            "recipient": {"id": PAGE_ID},
            "timestamp": NOW_MS,
            "message": {"mid": f"m_{index}", "text": "hi \udc00"},
        }

    broken = {**item("999", 99), **bad}
    messaging = [item(psid, n) for n, psid in enumerate(good)] + [broken]
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "messaging": messaging}]})
    answer = receive_webhook(body.encode(), {SIGNATURE_HEADER: sign(SECRET, body.encode())})
    assert answer.status == 200
    queued = [InboundEvent.model_validate_json(b) for b in sqs.bodies]
    assert sorted(e.user.user_id for e in queued) == sorted(good)
    assert {(e.intent, e.text) for e in queued} == {("HELP", None)}  # "hi", repaired, recognised


# --- bank events --------------------------------------------------------------------------------

RECEIVED = datetime.now(UTC)
_amount = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1E+30", "1E+100000", "9" * 28, "NaN", "84.20", "-0.01", "1e-30"]),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    _json,
)
_fdx = (
    st.fixed_dictionaries(
        {
            "notificationId": _maybe(st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True)),
            "type": _maybe(st.sampled_from(["CUSTOM", "CONSENT_REVOKED", "BALANCE"])),
        },
        optional={
            "category": _maybe(st.sampled_from(["FRAUD", "CONSENT", "NEW_DATA"])),
            "severity": _maybe(_awkward_text),
            "notificationPayload": _maybe(
                st.fixed_dictionaries(
                    {
                        "id": _maybe(st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)),
                        "idType": _maybe(st.sampled_from(["ACCOUNT", "CONSENT"])),
                        "customFields": _maybe(
                            st.lists(
                                st.fixed_dictionaries(
                                    {
                                        "name": st.sampled_from(
                                            [
                                                "amount",
                                                "currency",
                                                "merchant",
                                                "transactionTimestamp",
                                            ]
                                        ),
                                        "value": _maybe(_amount | _awkward_text),
                                    }
                                ),
                                max_size=4,
                            )
                        ),
                    }
                )
            ),
        },
    )
    | _json
)


def _assert_queueable(event: BankEvent) -> None:
    body = event.model_dump_json()
    assert _SQS_REFUSES.search(body) is None and len(body.encode()) <= 8 * 1024
    assert BankEvent.model_validate_json(body) == event


@settings(max_examples=100, deadline=None)
@given(document=_fdx)
def test_any_fdx_body_becomes_a_queueable_event_or_a_400(document: Any) -> None:
    body = json.dumps(document).encode()
    try:
        event = from_fdx(body, "bank", RECEIVED)
    except EventRejected as rejected:
        assert rejected.status == 400
        json.dumps({"error": rejected.reason})
        return
    _assert_queueable(event)


@settings(max_examples=100, deadline=None)
@given(
    claims=st.fixed_dictionaries(
        {
            "jti": _maybe(st.from_regex(r"[a-z0-9-]{1,36}", fullmatch=True)),
            "events": _maybe(
                st.dictionaries(
                    st.just("urn:uk:org:openbanking:events:resource-update") | _awkward_text,
                    _maybe(
                        st.fixed_dictionaries(
                            {
                                "subject": _maybe(
                                    st.fixed_dictionaries(
                                        {
                                            "http://openbanking.org.uk/rid": _maybe(_psid),
                                            "http://openbanking.org.uk/rty": _maybe(
                                                st.sampled_from(["accounts", "consents"])
                                            ),
                                        }
                                    )
                                )
                            }
                        )
                    ),
                    max_size=2,
                )
            ),
        },
        optional={"toe": _maybe(st.integers(min_value=1_100_000_000, max_value=1_800_000_000))},
    )
)
def test_any_uk_set_claims_become_a_queueable_event_or_a_400(claims: dict[str, Any]) -> None:
    try:
        events = from_uk_claims(claims, "uk-bank", RECEIVED)
    except EventRejected as rejected:
        assert rejected.status == 400
        return
    for event in events:
        _assert_queueable(event)


@pytest.fixture
def bank(sqs: FakeSqs, monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    """An FDX connector signing events with HMAC, read from a fake repository."""
    from chalicelib.connectors.config.context import validation_context
    from chalicelib.connectors.config.models import ConnectorConfig
    from infra.local.sandbox_connectors import sandbox_configs

    raw = {
        **sandbox_configs("http://127.0.0.1:9")[0],
        "institution_id": "bank",
        "client_secret_ref": "bankbridge/dev/banks/bank/client-secret",
        "event_signing": {"method": "hmac", "secret_refs": ["bankbridge/dev/banks/bank/events"]},
    }
    config = ConnectorConfig.model_validate(raw, context=validation_context(local=True))
    monkeypatch.setattr(connectors.ConnectorRepository, "get", lambda self, _id: config)
    monkeypatch.setattr(events_ingest, "get_bank_secret", lambda institution_id, name: SECRET)
    monkeypatch.setattr(envelope, "seal", lambda plaintext, **_: f"v1.{len(plaintext)}")
    return sqs


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=_fdx.map(lambda document: json.dumps(document).encode()) | st.binary(max_size=200))
@pytest.mark.usefixtures("account_reference_key")
def test_any_signed_fdx_delivery_is_queued_readably_or_refused_with_a_4xx(
    bank: FakeSqs, body: bytes
) -> None:
    bank.bodies.clear()
    header = signing.sign([SECRET], int(time.time()), body)
    answer = events_ingest.receive("bank", body, {signing.SIGNATURE_HEADER: header})
    assert answer.status in (204, 400), answer
    if answer.status == 400:
        assert bank.bodies == []
        json.loads(answer.body)
        return
    (queued,) = bank.bodies
    assert QueuedBankEvent.model_validate_json(queued).model_dump_json() == queued
