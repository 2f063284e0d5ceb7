"""Drive the local stack like a Messenger user: signed webhooks in, Graph stand-in out."""

from __future__ import annotations

import re
import time
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import requests

from chalicelib.channels.meta.signature import sign
from chalicelib.store.keys import CHAT_PROFILE_SK, user_partition
from infra.local.console.pseudonyms import StackPseudonyms
from infra.local.stack import stage_environment
from tests.e2e.conftest import LocalStack, eventually
from tests.factories import delivery, encode, quick_reply_event, text_event

TABLE = "bankbridge-dev-table"


def new_psid() -> str:
    """A fresh simulated user."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


def post_events(stack: LocalStack, *events: dict[str, Any]) -> requests.Response:
    """POST a correctly signed delivery with `events`.

    Like Meta, a delivery whose connection is reset is sent again: `chalice local`
    listens with a small accept backlog, and a burst of simultaneous connections can
    overflow it. The webhook's de-duplication makes the repeat harmless.
    """
    body = encode(delivery(*events))
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(stack.app_secret, body),
    }
    for attempt in range(1, 4):
        try:
            return requests.post(
                f"{stack.urls['api']}/webhooks/messenger", data=body, headers=headers, timeout=10
            )
        except requests.ConnectionError:
            if attempt == 3:
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


def replies(stack: LocalStack, psid: str) -> list[dict[str, Any]]:
    """Every message request the bot sent to `psid` (sender actions excluded)."""
    sent = requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": psid}, timeout=5
    ).json()
    return [item for item in sent if "message" in item]


def say(
    stack: LocalStack, psid: str, text: str, expect: int = 1, timeout: float = 30
) -> list[dict]:
    """Send text and wait for `expect` new replies; return them."""
    before = len(replies(stack, psid))
    assert post_events(stack, text_event(psid, text)).status_code == 200
    return _await_new(stack, psid, before, expect, timeout)


def tap(stack: LocalStack, psid: str, title: str, payload: str, expect: int = 1) -> list[dict]:
    """Tap a quick reply and wait for `expect` new replies."""
    before = len(replies(stack, psid))
    assert post_events(stack, quick_reply_event(psid, title, payload)).status_code == 200
    return _await_new(stack, psid, before, expect, 30)


def _await_new(stack: LocalStack, psid: str, before: int, expect: int, timeout: float) -> list:
    def enough() -> list[dict] | None:
        found = replies(stack, psid)
        return found[before:] if len(found) >= before + expect else None

    return eventually(enough, f"{expect} repl(ies) to {psid}", timeout=timeout)


def text_of(reply: dict[str, Any]) -> str:
    """The visible text of a reply (plain text or a template's text)."""
    message = reply["message"]
    if "text" in message:
        return message["text"]
    return message["attachment"]["payload"].get("text", "")


def quick_replies(reply: dict[str, Any]) -> dict[str, str]:
    """title -> payload of a reply's quick replies."""
    return {q["title"]: q["payload"] for q in reply["message"].get("quick_replies", [])}


def button_url(reply: dict[str, Any]) -> str:
    """The URL of a template's first URL button."""
    buttons = reply["message"]["attachment"]["payload"]["buttons"]
    return next(b["url"] for b in buttons if "url" in b)


class _ConsentForm(HTMLParser):
    """Collect the sandbox consent form's action and fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("type") in ("hidden", "checkbox"):
            if values.get("type") == "hidden" or "checked" in values:
                self.fields.append((values["name"], values.get("value", "")))
        elif tag == "option" and "selected" in values:
            self.fields.append(("customer", values.get("value", "")))


def link_sandbox(
    stack: LocalStack,
    psid: str,
    *,
    institution: str = "sandbox-fdx",
    decision: str = "approve",
    customer: str | None = None,
) -> requests.Response:
    """Link a sandbox institution through the real consent page, then type the page's code.

    Returns the bank's final page. When the consent was approved, the code it
    shows (`id="link-code"`) is said in the chat, as a person would, and the
    chat's "is linked" awaited.
    """
    page = approve_in_browser(stack, psid, institution=institution, decision=decision,
                              customer=customer)  # fmt: skip
    if decision == "approve" and page.status_code == 200:
        say(stack, psid, link_code_on(page.text))
        eventually(
            lambda: any(" is linked" in text_of(r) for r in replies(stack, psid)),
            f"{psid}'s link confirmation",
        )
    return page


def approve_in_browser(
    stack: LocalStack,
    psid: str,
    *,
    institution: str = "sandbox-fdx",
    decision: str = "approve",
    customer: str | None = None,
    session: requests.Session | None = None,
    url: str | None = None,
) -> requests.Response:
    """Open a link button's URL in a browser `session` and decide at the bank as `customer`.

    `url` is a link URL already issued to `psid` (someone may have forwarded it);
    by default `psid` asks for a fresh one.
    """
    url = url or consent_page_url(stack, psid, institution)
    session = session or requests.Session()
    consent = session.get(url, timeout=10)
    assert consent.status_code == 200, consent.text
    if "name='document'" in consent.text:  # BankBridge asks for the CPF a Brazil consent names
        document = sandbox_cpf(stack, customer or "alice")
        consent = session.post(consent.url, data={"document": document}, timeout=10)
        assert consent.status_code == 200, consent.text
    if customer is not None:  # the page preselects the first customer; switch like a person
        form = _ConsentForm()
        form.feed(consent.text)
        fields = [*[f for f in form.fields if f[0] != "customer"], ("customer", customer),
                  ("decision", "switch")]  # fmt: skip
        consent = session.post(urljoin(consent.url, form.action), data=fields, timeout=10)
        assert consent.status_code == 200, consent.text
    form = _ConsentForm()
    form.feed(consent.text)
    fields = [*form.fields, ("decision", decision)]
    return session.post(urljoin(consent.url, form.action), data=fields, timeout=10)


def sandbox_cpf(stack: LocalStack, login_id: str) -> str:
    """The sandbox customer's CPF, which Brazil's consent must name (`/sandbox/customers`)."""
    customers = requests.get(f"{stack.urls['bank']}/sandbox/customers", timeout=10).json()
    return str(next(c["cpf"] for c in customers["customers"] if c["login_id"] == login_id))


def link_code_on(page: str) -> str:
    """The one-time code a callback page shows in `id="link-code"` (like "482 913")."""
    match = re.search(r"id=['\"]link-code['\"][^>]*>\s*(\d{3} \d{3})\s*<", page)
    assert match is not None, f"no linking code on the page: {page[:500]}"
    return match.group(1)


def consent_page_url(stack: LocalStack, psid: str, institution: str = "sandbox-fdx") -> str:
    """Get a fresh link button's URL without following it."""
    choice = say(stack, psid, "link")[-1]
    payload = next(p for p in quick_replies(choice).values() if p.endswith(f":{institution}"))
    return button_url(tap(stack, psid, "bank", payload)[-1])


def money_in(text: str) -> list[str]:
    """Every formatted amount in a reply."""
    return re.findall(r"-?\$[\d,]+\.\d\d", text)


def whatsapp_partition(stack: LocalStack, number: str) -> str:
    """A WhatsApp person's partition in the table: keyed by BankBridge's pseudonym of the number."""
    key_name = stage_environment()["BANKBRIDGE_ACCOUNT_REFERENCE_KEY_NAME"]
    pseudonyms = StackPseudonyms(stack.urls["aws"], key_name).get()
    assert pseudonyms is not None, "the stack's account-reference key cannot be read"
    return user_partition("whatsapp", pseudonyms.user_id(number))


def close_whatsapp_window(stack: LocalStack, number: str) -> None:
    """Make the person's last message 25 hours old, as if they had not written since: the
    window is what their chat profile says (`store.chat_profiles`)."""
    table = stack.boto3_client("dynamodb")
    key = {"pk": {"S": whatsapp_partition(stack, number)}, "sk": {"S": CHAT_PROFILE_SK}}
    assert "Item" in table.get_item(TableName=TABLE, Key=key)  # their messages were recorded
    table.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET last_inbound_at = :at",
        ExpressionAttributeValues={":at": {"N": str(int(time.time()) - 25 * 3600)}},
    )


def pause_for(seconds: float) -> None:
    """Let wall-clock time pass (token expiry), the one thing no event can signal."""
    time.sleep(seconds)
