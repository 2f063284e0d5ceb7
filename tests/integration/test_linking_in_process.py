"""Linking and banking replies in-process: Chalice test client, moto, the real sandbox bank."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib import aws
from chalicelib.auth import linking
from chalicelib.channels.messages import InboundEvent
from chalicelib.store.links import LinkStatus
from infra.local.graph_standin import RunningStandin
from infra.local.sandbox_connectors import SANDBOX_CLIENT_SECRET, sandbox_configs
from tests.factories import quick_reply_event, text_event
from tests.integration.conftest import register_connector, run_inbound_worker, sent_to

PUBLIC = "http://127.0.0.1:8999"


@pytest.fixture(autouse=True)
def public_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link buttons point at a fixed public URL (set before the app reads its settings)."""
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


def _link(client: Client, graph: RunningStandin, psid: str, customer: str = "alice") -> None:
    """Link the sandbox through its consent form, then type the page's code in the chat."""
    page = _approve(client, graph, psid, customer)
    assert page.status_code == 200, page.body
    run_inbound_worker(client, text_event(psid, _code_on(page.body)))
    assert "is linked" in _text(sent_to(graph, psid)[-1])


def _approve(
    client: Client,
    graph: RunningStandin,
    psid: str,
    customer: str = "alice",
    *,
    start_query: str = "",
    same_browser: bool = True,
    callback_extra: dict[str, str] | None = None,
) -> Any:
    """Ask for a link as `psid`, approve as `customer` at the sandbox; return the callback page.

    The callback runs in-process with the binding cookie `/link/start` set, unless
    `same_browser` is False (the bank's redirect lands in another browser).
    """
    run_inbound_worker(client, quick_reply_event(psid, "Sandbox", "LINK:sandbox-fdx"))
    button = sent_to(graph, psid)[-1]["message"]["attachment"]["payload"]["buttons"][0]
    start = client.http.get(_path_of(button["url"]) + start_query)
    assert start.status_code == 302, start.body
    cookie = start.headers["Set-Cookie"].split(";", 1)[0]
    session = requests.Session()
    consent = session.get(start.headers["Location"], timeout=5)
    decision_url = f"{consent.url.split('/authorize')[0]}/authorize/decision"
    if customer != "alice":  # the page preselects alice; switching re-renders for another
        consent = session.post(
            decision_url,
            data={"txn": _txn(consent.text), "customer": customer, "decision": "switch"},
            timeout=5,
        )
    accounts = [part.split('"')[0] for part in consent.text.split('name="account" value="')[1:]]
    answer = session.post(
        decision_url,
        data=[("txn", _txn(consent.text)), ("customer", customer),
              *[("account", a) for a in accounts], ("decision", "approve")],
        allow_redirects=False,
        timeout=5,
    )  # fmt: skip
    headers = {"Cookie": cookie} if same_browser else {}
    callback = urlsplit(answer.headers["Location"])
    query = urlencode({**dict(parse_qsl(callback.query)), **(callback_extra or {})})
    return client.http.get(f"{callback.path}?{query}", headers=headers)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _code_on(page: bytes) -> str:
    """The one-time code the callback page shows (`id="link-code"`, like "482 913")."""
    match = re.search(rb"id='link-code'[^>]*>(\d{3} \d{3})<", page)
    assert match is not None, page
    return match.group(1).decode()


def _txn(page: str) -> str:
    return page.split('name="txn" value="')[1].split('"', maxsplit=1)[0]


def test_authorize_redirect_uses_pkce_s256_and_stores_no_plaintext_verifier(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    run_inbound_worker(client, quick_reply_event("u-pkce", "Sandbox", "LINK:sandbox-fdx"))
    url = sent_to(graph, "u-pkce")[-1]["message"]["attachment"]["payload"]["buttons"][0]["url"]
    assert url.startswith(f"{PUBLIC}/link/start?token=")
    start = client.http.get(_path_of(url))
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    state = None
    if "request_uri" in query:  # PAR (RFC 9126): state and PKCE went to the bank directly
        assert set(query) == {"client_id", "request_uri"}
    else:
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{PUBLIC}/oauth/callback"]
        state = query["state"][0]
    items = aws.client("dynamodb").scan(TableName=aws_stack.table_name)["Items"]
    dump = json.dumps(items)
    assert state is None or state not in dump
    assert any(item["pk"]["S"].startswith("OAUTHSTATE#") for item in items)
    assert "sealed" in dump


def test_balance_after_linking_and_authorization_by_sender(
    client: Client, graph: RunningStandin
) -> None:
    _link(client, graph, "u-alice", "alice")
    _link(client, graph, "u-bob", "bob")
    assert "is linked" in _text(sent_to(graph, "u-alice")[-1])
    run_inbound_worker(client, text_event("u-alice", "transactions"))
    alice_reply = sent_to(graph, "u-alice")[-1]
    alice_refs = [
        q["payload"] for q in alice_reply["message"]["quick_replies"] if ":acct:" in q["payload"]
    ]
    assert alice_refs
    # Bob replays Alice's account reference: only Bob's own links are ever read.
    run_inbound_worker(client, quick_reply_event("u-bob", "Checking", alice_refs[0]))
    bob_reply = _text(sent_to(graph, "u-bob")[-1])
    assert "Alice" not in bob_reply
    assert "couldn't find any accounts" in bob_reply


def test_bank_outage_is_told_then_retried_then_given_up_plainly(
    client: Client, graph: RunningStandin, sandbox: Any
) -> None:
    from chalicelib.channels.messenger.webhook import parse_payload, to_events
    from tests.factories import delivery, sqs_event

    _link(client, graph, "u-out")
    requests.post(f"{sandbox.url}/sandbox/config", json={"error_rate": 1.0}, timeout=5)
    (queued,) = to_events(parse_payload(delivery(text_event("u-out", "balance"))))
    record = sqs_event([queued.model_dump_json()])  # one SQS message, delivered again below

    def attempt(receive_count: int) -> dict[str, Any]:
        record["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return client.lambda_.invoke("handle_inbound_events", record).payload

    assert len(attempt(1)["batchItemFailures"]) == 1
    assert _text(sent_to(graph, "u-out")[-1]) == (
        "Sandbox Bank (FDX) isn't answering right now; I'll try again."
    )
    count = len(sent_to(graph, "u-out"))
    assert len(attempt(2)["batchItemFailures"]) == 1
    assert len(sent_to(graph, "u-out")) == count  # told once, not on every retry
    assert attempt(5)["batchItemFailures"] == []
    assert "still isn't answering. Please try again later." in _text(sent_to(graph, "u-out")[-1])
    assert len(sent_to(graph, "u-out")) == count + 1


def test_bank_refusing_the_token_asks_to_link_again(
    client: Client, graph: RunningStandin, sandbox: Any, aws_stack: Any
) -> None:
    _link(client, graph, "u-revoked")
    for token in requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]:
        requests.post(
            f"{sandbox.url}/revoke",
            data={"token": token},
            auth=("bankbridge-local", SANDBOX_CLIENT_SECRET),
            timeout=5,
        )
    run_inbound_worker(client, text_event("u-revoked", "balance"))
    reply = sent_to(graph, "u-revoked")[-1]
    assert "needs you to link again" in _text(reply)
    assert reply["message"]["quick_replies"][0]["payload"] == "LINK:sandbox-fdx"
    from chalicelib.store.links import LinkRepository

    link = LinkRepository(aws_stack.table_name).get("messenger", "u-revoked", "sandbox-fdx")
    assert link is not None and link.status is LinkStatus.RELINK_REQUIRED


def test_issuer_mismatch_is_refused_and_nothing_is_linked(
    client: Client, graph: RunningStandin
) -> None:
    answer = _approve(client, graph, "u-mixup", callback_extra={"iss": "https://attacker.example"})
    assert answer.status_code == 400
    assert b"did not come from your bank" in answer.body
    run_inbound_worker(client, text_event("u-mixup", "balance"))
    assert "haven't linked a bank" in _text(sent_to(graph, "u-mixup")[-1])


def test_an_error_response_from_another_issuer_is_refused_too(
    client: Client, graph: RunningStandin
) -> None:
    """RFC 9207 section 2.4: `iss` is checked on error responses, not only on codes."""
    forged = {"iss": "https://attacker.example", "error": "access_denied"}
    answer = _approve(client, graph, "u-mixup-error", callback_extra=forged)
    assert answer.status_code == 400
    assert b"did not come from your bank" in answer.body


def test_unknown_link_token_gets_a_clear_page(client: Client) -> None:
    answer = client.http.get("/link/start?token=not-a-real-token")
    assert answer.status_code == 400
    assert b"expired or was already used" in answer.body
    assert client.http.get("/link/start").status_code == 400
    assert client.http.get("/oauth/callback").status_code == 400


def test_inbound_event_model_round_trips_through_the_queue() -> None:
    from chalicelib.channels.messenger.webhook import parse_payload, to_events
    from tests.factories import delivery

    event = to_events(parse_payload(delivery(text_event("u", "hi"))))[0]
    assert InboundEvent.model_validate_json(event.model_dump_json()) == event


def test_linking_the_same_bank_again_replaces_and_revokes_the_old_grant(
    client: Client, graph: RunningStandin, sandbox: Any, aws_stack: Any
) -> None:
    from chalicelib.auth.tokens import open_tokens
    from chalicelib.store.links import LinkRepository

    links = LinkRepository(aws_stack.table_name)
    _link(client, graph, "u-twice")
    first = links.get("messenger", "u-twice", "sandbox-fdx")
    assert first is not None
    old_refresh = open_tokens(first).refresh_token
    _link(client, graph, "u-twice")
    second = links.get("messenger", "u-twice", "sandbox-fdx")
    assert second is not None and open_tokens(second).refresh_token != old_refresh
    assert len(links.list_for_user("messenger", "u-twice")) == 1
    answer = requests.post(
        f"{sandbox.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=("bankbridge-local", SANDBOX_CLIENT_SECRET),
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


# Person-bound linking (issue 12): the consent becomes a link only for the chat that asked.


def _links_of(aws_stack: Any, psid: str) -> list[Any]:
    from chalicelib.store.links import LinkRepository

    return LinkRepository(aws_stack.table_name).list_for_user("messenger", psid)


def _pending_tokens(aws_stack: Any, psid: str) -> Any:
    """The tokens held pending for `psid` (decrypted here, as only the app could)."""
    from chalicelib.auth.tokens import open_sealed_tokens
    from chalicelib.store.pending_links import PendingLinkRepository

    pending = PendingLinkRepository(aws_stack.table_name).get("messenger", psid, time.time())
    assert pending is not None
    return open_sealed_tokens(pending.sealed_tokens, pending.key)


def _grant_is_live(sandbox: Any, access_token: str) -> bool:
    """Whether the bank still honours the grant (revoking its refresh token ends it all)."""
    answer = requests.get(
        f"{sandbox.url}/fdx/v6/accounts",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=5,
    )
    return answer.status_code == 200


def test_a_stranger_who_approves_links_nothing_to_the_chat_that_asked(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    page = _approve(client, graph, "u-attacker", customer="bob")
    assert page.status_code == 200
    text = page.body.decode()
    assert "Never give this code to anyone" in text
    assert "If you did not ask to link" in text and "close this page" in text
    assert "within 10 minutes" in text
    assert "Bob" not in text and "$" not in text  # the page shows a code, not bob's data
    told = _text(sent_to(graph, "u-attacker")[-1])
    assert told == (
        "Almost done: type the 6-digit code shown on the bank page to finish linking "
        "Sandbox Bank (FDX)."
    )
    run_inbound_worker(client, text_event("u-attacker", "balance"))
    assert "haven't linked a bank" in _text(sent_to(graph, "u-attacker")[-1])
    assert _links_of(aws_stack, "u-attacker") == []


def test_the_code_links_only_for_the_chat_that_asked(
    client: Client, graph: RunningStandin, aws_stack: Any
) -> None:
    page = _approve(client, graph, "u-asker")
    code = _code_on(page.body)
    run_inbound_worker(client, text_event("u-other", code))  # someone else's chat
    assert "no bank link waiting for a code" in _text(sent_to(graph, "u-other")[-1])
    assert _links_of(aws_stack, "u-other") == []
    run_inbound_worker(client, text_event("u-asker", code.replace(" ", "-")))
    assert _text(sent_to(graph, "u-asker")[-1]).startswith("Sandbox Bank (FDX) is linked")
    run_inbound_worker(client, text_event("u-asker", code))  # single use
    assert "no bank link waiting for a code" in _text(sent_to(graph, "u-asker")[-1])
    run_inbound_worker(client, text_event("u-asker", "balance"))
    assert "Alice" in _text(sent_to(graph, "u-asker")[-1]) or "Checking" in _text(
        sent_to(graph, "u-asker")[-1]
    )


def test_five_wrong_codes_cancel_the_consent_and_revoke_it_at_the_bank(
    client: Client, graph: RunningStandin, aws_stack: Any, sandbox: Any
) -> None:
    page = _approve(client, graph, "u-guesser", customer="bob")
    right = _code_on(page.body).replace(" ", "")
    access = _pending_tokens(aws_stack, "u-guesser").access_token
    assert _grant_is_live(sandbox, access)
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(1, 6)]
    for tries_left, guess in zip((4, 3, 2), wrong, strict=False):
        run_inbound_worker(client, text_event("u-guesser", guess))
        assert f"({tries_left} more tries)" in _text(sent_to(graph, "u-guesser")[-1])
    run_inbound_worker(client, text_event("u-guesser", wrong[3]))
    assert "(1 more try)" in _text(sent_to(graph, "u-guesser")[-1])
    run_inbound_worker(client, text_event("u-guesser", wrong[4]))
    assert "cancelled linking Sandbox Bank (FDX)" in _text(sent_to(graph, "u-guesser")[-1])
    run_inbound_worker(client, text_event("u-guesser", right))  # too late, even when right
    assert "no bank link waiting for a code" in _text(sent_to(graph, "u-guesser")[-1])
    assert _links_of(aws_stack, "u-guesser") == []
    assert not _grant_is_live(sandbox, access)


def test_an_expired_code_is_refused_and_the_sweep_revokes_the_grant(
    client: Client, graph: RunningStandin, aws_stack: Any, sandbox: Any
) -> None:
    from chalicelib.store.keys import pending_link_key

    page = _approve(client, graph, "u-late", customer="bob")
    access = _pending_tokens(aws_stack, "u-late").access_token
    key = pending_link_key("messenger", "u-late")
    aws.client("dynamodb").update_item(  # the ten minutes pass
        TableName=aws_stack.table_name,
        Key={name: {"S": value} for name, value in key.items()},
        UpdateExpression="SET confirm_by = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    run_inbound_worker(client, text_event("u-late", _code_on(page.body)))
    assert "no bank link waiting for a code" in _text(sent_to(graph, "u-late")[-1])
    assert _grant_is_live(sandbox, access)  # refused on read; the sweep ends it at the bank
    tick = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    operations: list[str] = []
    dynamodb = aws.client("dynamodb")
    dynamodb.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    client.lambda_.invoke("pending_link_sweep", tick)
    assert "Query" in operations and "Scan" not in operations  # due items come from gsi1
    assert not _grant_is_live(sandbox, access)
    assert _links_of(aws_stack, "u-late") == []
    item = aws.client("dynamodb").get_item(
        TableName=aws_stack.table_name, Key={n: {"S": v} for n, v in key.items()}
    )
    assert "Item" not in item


def test_a_callback_in_another_browser_is_refused_before_any_code_exchange(
    client: Client, graph: RunningStandin, aws_stack: Any, sandbox: Any
) -> None:
    issued = requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]
    page = _approve(client, graph, "u-forwarded", same_browser=False)
    assert page.status_code == 403
    assert b"same browser where it started" in page.body
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    after = requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]
    assert after == issued  # the code was never exchanged
    assert _links_of(aws_stack, "u-forwarded") == []


def test_link_start_sets_a_browser_binding_cookie_and_security_headers(
    client: Client, graph: RunningStandin
) -> None:
    run_inbound_worker(client, quick_reply_event("u-cookie", "Sandbox", "LINK:sandbox-fdx"))
    url = sent_to(graph, "u-cookie")[-1]["message"]["attachment"]["payload"]["buttons"][0]["url"]
    start = client.http.get(_path_of(url))
    cookie = start.headers["Set-Cookie"]
    name_value, *attributes = [part.strip() for part in cookie.split(";")]
    assert name_value.startswith("bb_link=")  # local http loopback; `__Host-bb_link` deployed
    assert {"HttpOnly", "SameSite=Lax", "Path=/"} <= set(attributes)
    for header, value in {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }.items():
        assert start.headers[header] == value
    assert "frame-ancestors 'none'" in start.headers["Content-Security-Policy"]


def _messenger_login(
    client: Client, graph: RunningStandin, monkeypatch: pytest.MonkeyPatch, psid: str, tapper: str
) -> str:
    """Turn Messenger account linking on and return the Log In hop's query for `tapper`."""
    from chalicelib.settings import get_settings

    monkeypatch.setenv("BANKBRIDGE_MESSENGER_ACCOUNT_LINKING", "true")
    get_settings.cache_clear()
    token = requests.post(
        f"{graph.url}/__account_linking_tokens", json={"psid": tapper}, timeout=5
    ).json()["account_linking_token"]
    redirect = f"{MESSENGER_REDIRECT}?{urlencode({'account_linking_token': token})}"
    return "&" + urlencode({"account_linking_token": token, "redirect_uri": redirect})


MESSENGER_REDIRECT = "https://www.facebook.com/messenger_platform/account_linking/"


def test_messenger_login_by_the_same_person_links_at_once(
    client: Client, graph: RunningStandin, aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hop = _messenger_login(client, graph, monkeypatch, "u-ml", tapper="u-ml")
    answer = _approve(client, graph, "u-ml", start_query=hop)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"https://{location.netloc}{location.path}" == MESSENGER_REDIRECT
    assert parse_qs(location.query)["authorization_code"]
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert [link.institution_id for link in _links_of(aws_stack, "u-ml")] == ["sandbox-fdx"]
    assert "is linked" in _text(sent_to(graph, "u-ml")[-1])


def test_messenger_login_by_another_person_is_refused(
    client: Client, graph: RunningStandin, aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hop = _messenger_login(client, graph, monkeypatch, "u-ml-a", tapper="u-ml-bob")
    run_inbound_worker(client, quick_reply_event("u-ml-a", "Sandbox", "LINK:sandbox-fdx"))
    button = sent_to(graph, "u-ml-a")[-1]["message"]["attachment"]["payload"]["buttons"][0]
    start = client.http.get(_path_of(button["url"]) + hop)
    assert start.status_code == 403
    assert b"belongs to someone else" in start.body
    assert "Set-Cookie" not in start.headers
    assert _links_of(aws_stack, "u-ml-a") == []


def test_messenger_login_without_a_usable_token_falls_back_to_the_code(
    client: Client, graph: RunningStandin, aws_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _messenger_login(client, graph, monkeypatch, "u-ml-x", tapper="u-ml-x")
    expired = "&" + urlencode(
        {"account_linking_token": "alt_unknown", "redirect_uri": MESSENGER_REDIRECT}
    )
    page = _approve(client, graph, "u-ml-x", start_query=expired)
    assert page.status_code == 200  # no redirect: the page must show the code
    assert _links_of(aws_stack, "u-ml-x") == []
    run_inbound_worker(client, text_event("u-ml-x", _code_on(page.body)))
    assert [link.institution_id for link in _links_of(aws_stack, "u-ml-x")] == ["sandbox-fdx"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://www.facebook.com/messenger_platform/account_linkingEVIL/../../l.php?u=https://evil.example",
        "https://www.facebook.com/messenger_platform/account_linking/../../l.php?u=https://evil.example",
        "https://www.facebook.com.evil.example/messenger_platform/account_linking",
        "https://evil.example@www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com:8443/messenger_platform/account_linking",
        "http://www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com/messenger_platform/account_linking/%2e%2e/l.php",
    ],
)
def test_a_forged_messenger_redirect_is_refused_and_the_link_token_survives(
    client: Client, graph: RunningStandin, redirect_uri: str
) -> None:
    run_inbound_worker(client, quick_reply_event("u-redirect", "Sandbox", "LINK:sandbox-fdx"))
    url = sent_to(graph, "u-redirect")[-1]["message"]["attachment"]["payload"]["buttons"][0]["url"]
    forged = client.http.get(_path_of(url) + "&" + urlencode({"redirect_uri": redirect_uri}))
    assert forged.status_code == 400
    assert "Location" not in forged.headers
    assert client.http.get(_path_of(url)).status_code == 302  # the person can still link


def test_an_id_token_that_fails_verification_links_nothing_and_is_revoked(
    client: Client,
    graph: RunningStandin,
    aws_stack: Any,
    sandbox: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.auth.exceptions import IdTokenRejected

    granted: list[str] = []

    def reject(connector: Any, id_token: str | None, *, nonce: str) -> dict[str, Any]:
        assert nonce  # the nonce sealed in this login's state
        granted.extend(_new_tokens(sandbox, before))
        raise IdTokenRejected("nonce mismatch")

    monkeypatch.setattr(linking, "verify_id_token", reject)
    before = requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]
    page = _approve(client, graph, "u-idtoken")
    assert page.status_code == 200
    assert b"could not be verified, so nothing was linked" in page.body
    assert _links_of(aws_stack, "u-idtoken") == []
    assert granted and not any(_grant_is_live(sandbox, token) for token in granted)


def _new_tokens(sandbox: Any, before: list[str]) -> list[str]:
    issued = requests.get(f"{sandbox.url}/sandbox/issued-tokens", timeout=5).json()["tokens"]
    return [token for token in issued if token not in before]
