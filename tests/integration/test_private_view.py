"""Private view in-process: the worker and the fan-out over the Graph stand-in (which records
every Send API body), `/private/{token}` through Chalice's test client, the table in moto,
the real sandbox bank.

What is proven: in private mode no amount, merchant or digits beyond the last four reach
the Send API; the page opens once, only before it expires, only in the browser that linked
or one confirmed with a code typed in chat, with the headers a page of figures needs.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.auth import browser_binding
from chalicelib.bank_data import BankEvent, BankEventType
from chalicelib.channels.messages import ChannelUser
from chalicelib.events import fanout
from chalicelib.events.queued import for_queue
from chalicelib.settings import get_settings
from chalicelib.store.account_reference import hashed_account_reference
from chalicelib.store.chat_profiles import (
    PRIVACY_HOLD_SECONDS,
    PROFILE_TTL_SECONDS,
    ChatProfileRepository,
)
from chalicelib.store.chat_users import ChatUserRepository
from chalicelib.store.links import Link, LinkRepository
from chalicelib.store.private_views import PrivateViewRepository
from chalicelib.store.single_use import digest
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import sandbox_configs
from tests.factories import quick_reply_event, text_event
from tests.integration.conftest import register_connector, run_inbound_worker, sent_to

PUBLIC = "http://127.0.0.1:8999"
MONEY = re.compile(r"\d[\d,]*\.\d{2}")
LONG_DIGITS = re.compile(r"\d{5,}")


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buttons point at a fixed public URL (set before the app reads its settings)."""
    monkeypatch.setenv("BANKBRIDGE_PUBLIC_BASE_URL", PUBLIC)


@pytest.fixture
def client(sandbox_app: Client, sandbox: Any) -> Client:
    """The app with the sandbox bank's connectors registered."""
    for raw in sandbox_configs(sandbox.url):
        register_connector(raw)
    return sandbox_app


def _text(item: dict[str, Any]) -> str:
    message = item["message"]
    return message.get("text") or message["attachment"]["payload"]["text"]


def _button_path(item: dict[str, Any]) -> str:
    url = item["message"]["attachment"]["payload"]["buttons"][0]["url"]
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _link(client: Client, graph: RunningStandin, psid: str) -> str:
    """Link the sandbox's FDX bank as alice and type the code; return the browser's cookie."""
    run_inbound_worker(client, quick_reply_event(psid, "Sandbox", "LINK:sandbox-fdx"))
    start = client.http.get(_button_path(sent_to(graph, psid)[-1]))
    cookie = start.headers["Set-Cookie"].split(";", 1)[0]
    bank = requests.Session()
    consent = bank.get(start.headers["Location"], timeout=5)
    txn = consent.text.split('name="txn" value="')[1].split('"', maxsplit=1)[0]
    accounts = [part.split('"')[0] for part in consent.text.split('name="account" value="')[1:]]
    answer = bank.post(
        f"{consent.url.split('/authorize')[0]}/authorize/decision",
        data=[("txn", txn), ("customer", "alice"), *[("account", a) for a in accounts],
              ("decision", "approve")],
        allow_redirects=False,
        timeout=5,
    )  # fmt: skip
    callback = urlsplit(answer.headers["Location"])
    page = client.http.get(
        f"{callback.path}?{urlencode(dict(parse_qsl(callback.query)))}",
        headers={"Cookie": cookie},
    )
    kept = page.headers["Set-Cookie"]
    assert kept.split(";", 1)[0] == cookie and "Max-Age=31536000" in kept and "HttpOnly" in kept
    code = re.search(rb"id='link-code'[^>]*>(\d{3} \d{3})<", page.body)
    assert code is not None, page.body
    run_inbound_worker(client, text_event(psid, code.group(1).decode()))
    assert "is linked" in _text(sent_to(graph, psid)[-1])
    return cookie


def _ask(client: Client, graph: RunningStandin, psid: str, text: str) -> dict[str, Any]:
    run_inbound_worker(client, text_event(psid, text))
    return sent_to(graph, psid)[-1]


def _visible(value: Any) -> list[str]:
    """Every string a message shows or links to: payloads (opaque references we wrote) left
    out, and a private page's random token replaced."""
    if isinstance(value, dict):
        return [s for key, item in value.items() if key != "payload" for s in _visible(item)]
    if isinstance(value, list):
        return [s for item in value for s in _visible(item)]
    return [re.sub(r"/private/[\w-]+", "/private/TOKEN", value)] if isinstance(value, str) else []


def _assert_no_figures(bodies: list[dict[str, Any]], figures: list[str]) -> None:
    """No amount, no run of 5+ digits (only a last four is allowed), no known figure."""
    for body in bodies:
        shown = " | ".join(_visible(body["message"]))
        assert not MONEY.search(shown), shown
        assert not LONG_DIGITS.search(shown), shown
        assert not any(figure in shown for figure in figures), shown


def _view_code(page: bytes) -> str:
    match = re.search(rb"id='view-code'[^>]*>(\d{3} \d{3})<", page)
    assert match is not None, page
    return match.group(1).decode()


def test_private_mode_sends_no_figures_and_the_linking_browser_opens_the_page_once(
    client: Client, graph: RunningStandin
) -> None:
    cookie = _link(client, graph, "u-private")
    figures = MONEY.findall(_text(_ask(client, graph, "u-private", "balance")))
    assert figures  # in_chat: the balance is in the chat
    assert "Privacy mode is on" in _text(_ask(client, graph, "u-private", "privacy mode on"))
    private_from = len(sent_to(graph, "u-private"))

    balance = _ask(client, graph, "u-private", "balance")
    transactions = _ask(client, graph, "u-private", "transactions")
    run_inbound_worker(client, quick_reply_event("u-private", "Last 30 days", "TRANSACTIONS:30d"))
    assert _text(balance).startswith("Your balance is ready")
    assert _text(transactions).startswith("Your transactions are ready")
    _assert_no_figures(sent_to(graph, "u-private")[private_from:], figures)

    page = client.http.get(_button_path(balance), headers={"Cookie": cookie})
    assert page.status_code == 200
    assert all(figure.encode() in page.body for figure in figures)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page.headers["X-Robots-Tag"]
    csp = page.headers["Content-Security-Policy"]
    assert (
        "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    )
    again = client.http.get(_button_path(balance), headers={"Cookie": cookie})
    assert again.status_code == 410 and not MONEY.search(again.body.decode())

    listed = client.http.get(_button_path(transactions), headers={"Cookie": cookie})
    assert listed.status_code == 200 and MONEY.search(listed.body.decode())


def test_an_expired_page_shows_nothing(client: Client, graph: RunningStandin) -> None:
    cookie = _link(client, graph, "u-late")
    _ask(client, graph, "u-late", "privacy mode on")
    path = _button_path(_ask(client, graph, "u-late", "balance"))
    token = path.rsplit("/", 1)[1]
    aws.client("dynamodb").update_item(
        TableName=get_settings().table_name,
        Key={"pk": {"S": f"PRIVATEVIEW#{digest(token)}"}, "sk": {"S": "VIEW"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    late = client.http.get(path, headers={"Cookie": cookie})
    assert late.status_code == 410 and not MONEY.search(late.body.decode())


def test_a_foreign_browser_sees_nothing_until_the_person_types_its_code_in_chat(
    client: Client, graph: RunningStandin
) -> None:
    _link(client, graph, "u-shared")
    _ask(client, graph, "u-shared", "privacy mode on")
    path = _button_path(_ask(client, graph, "u-shared", "balance"))

    asked = client.http.get(path)  # a transcript reader, or the person's other device
    assert asked.status_code == 200 and not MONEY.search(asked.body.decode())
    assert asked.headers["Cache-Control"] == "no-store"
    reader = asked.headers["Set-Cookie"].split(";", 1)[0]
    assert client.http.get(path).status_code == 403  # a second foreign browser: refused
    stranger = f"bb_link={browser_binding.new_value()}"
    assert client.http.get(path, headers={"Cookie": stranger}).status_code == 403

    _ask(client, graph, "u-other", "hi")
    wrong_chat = _ask(client, graph, "u-other", _view_code(asked.body))
    assert "browser is confirmed" not in _text(wrong_chat)
    still = client.http.get(path, headers={"Cookie": reader})
    assert still.status_code == 200 and not MONEY.search(still.body.decode())

    confirmed = _ask(client, graph, "u-shared", _view_code(still.body))
    assert "browser is confirmed" in _text(confirmed)
    shown = client.http.get(path, headers={"Cookie": reader})
    assert shown.status_code == 200 and MONEY.search(shown.body.decode())
    assert client.http.get(path, headers={"Cookie": reader}).status_code == 410


def test_a_private_bank_stays_private_when_the_person_turns_privacy_mode_off(
    client: Client, graph: RunningStandin, sandbox: Any
) -> None:
    register_connector({**sandbox_configs(sandbox.url)[0], "disclosure": "private"})
    _link(client, graph, "u-bank-private")
    off = _text(_ask(client, graph, "u-bank-private", "privacy mode off"))
    assert "keeps figures out of chats" in off
    balance = _ask(client, graph, "u-bank-private", "balance")
    assert _text(balance).startswith("Your balance is ready")
    _assert_no_figures([balance], [])


def test_a_private_fraud_alert_names_nothing_and_its_page_shows_the_details(
    client: Client, graph: RunningStandin
) -> None:
    user = ChannelUser(channel="messenger", user_id="u-alert")
    link = Link(
        channel="messenger",
        user_id="u-alert",
        institution_id="sandbox-fdx",
        sealed_tokens="unused",
        access_expires_at=int(time.time()) + 3600,
        access_lifetime=3600,
    )
    links = LinkRepository(get_settings().table_name)
    links.replace(link)
    links.replace_account_refs(link, [hashed_account_reference("sandbox-fdx", "acc-4242")])
    profiles = ChatProfileRepository(get_settings().table_name)
    profiles.record_inbound(user, datetime.now(UTC))  # inside the window: a free-form alert
    profiles.set_privacy_mode(user, True)
    event = BankEvent(
        event_id="evt-private-1",
        institution_id="sandbox-fdx",
        type=BankEventType.FRAUD_SUSPECTED,
        received_at=datetime.now(UTC),
        account_id="acc-4242",
        amount=Decimal("-987.65"),
        currency="USD",
        merchant_name="SECRET GADGETS LTD",
        masked_number="4111111111114242",
        occurred_at=datetime(2026, 12, 1, 14, 2, tzinfo=UTC),
    )
    fanout.dispatch(for_queue(event))

    alert = sent_to(graph, "u-alert")[-1]
    assert _text(alert) == "Please check a recent card payment. Was this you?"
    titles = {q["title"] for q in alert["message"]["quick_replies"]}
    assert titles == {"Yes, it was me", "No, it wasn't"}
    _assert_no_figures([alert], ["987", "SECRET GADGETS", "411111"])

    value = browser_binding.new_value()
    PrivateViewRepository(get_settings().table_name).trust_browser(user, digest(value), 600)
    page = client.http.get(_button_path(alert), headers={"Cookie": f"bb_link={value}"})
    assert page.status_code == 200
    assert b"987.65" in page.body and b"SECRET GADGETS LTD" in page.body
    assert b"4111111111114242" not in page.body and b"4242" in page.body


def test_privacy_mode_outlives_a_quiet_week_and_off_restores_the_profiles_week(
    aws_stack: Any,
) -> None:
    user = ChannelUser(channel="messenger", user_id="u-quiet")
    table = get_settings().table_name
    profiles = ChatProfileRepository(table)

    def expires_at() -> int:
        item = aws.client("dynamodb").get_item(
            TableName=table, Key={"pk": {"S": "USER#messenger#u-quiet"}, "sk": {"S": "PROFILE"}}
        )["Item"]
        return int(item["expires_at"]["N"])

    profiles.set_privacy_mode(user, True)
    at = datetime.now(UTC)
    profiles.record_inbound(user, at)
    kept = int(at.timestamp()) + PROFILE_TTL_SECONDS + PRIVACY_HOLD_SECONDS
    assert expires_at() == kept
    assert ChatUserRepository(table).read(user).privacy_mode
    profiles.set_privacy_mode(user, False)
    assert not ChatUserRepository(table).read(user).privacy_mode
    assert expires_at() <= time.time() + PROFILE_TTL_SECONDS
    profiles.record_inbound(user, datetime.fromtimestamp(at.timestamp() + 3600, UTC))
    assert expires_at() == int(at.timestamp()) + 3600 + PROFILE_TTL_SECONDS
