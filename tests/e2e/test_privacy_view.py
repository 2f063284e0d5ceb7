"""Private view end to end over Messenger: figures never reach the Send API, the page shows them.

Local stack: the real sandbox bank (FDX face), the Graph stand-in (every Send API body the
bot sent), the API serving `/private/{token}` and the workers on the moto-backed table.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local.sandbox_connectors import SANDBOX_CLIENT_SECRET, sandbox_configs
from tests.e2e.chat import (
    approve_in_browser,
    button_url,
    link_code_on,
    new_psid,
    quick_replies,
    replies,
    say,
    tap,
    text_of,
)
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e

MONEY = re.compile(r"\d[\d,]*\.\d{2}")
LONG_DIGITS = re.compile(r"\d{5,}")
MERCHANT = "PRIVATE TEST MERCHANT"
PRIVATE_BANK = "e2e-discreet-bank"


def _link_in(stack: LocalStack, psid: str, browser: requests.Session) -> None:
    """Link the sandbox's FDX bank in `browser`, then type the page's code in the chat."""
    page = approve_in_browser(stack, psid, session=browser)
    assert page.status_code == 200, page.text
    say(stack, psid, link_code_on(page.text))
    eventually(lambda: any(" is linked" in text_of(r) for r in replies(stack, psid)), "the link")


def _visible(value: Any) -> list[str]:
    """Every string a message shows or links to: payloads (opaque references we wrote) left
    out, and a private page's random token replaced."""
    if isinstance(value, dict):
        return [s for key, item in value.items() if key != "payload" for s in _visible(item)]
    if isinstance(value, list):
        return [s for item in value for s in _visible(item)]
    return [re.sub(r"/private/[\w-]+", "/private/TOKEN", value)] if isinstance(value, str) else []


def _view_code_on(page: str) -> str:
    match = re.search(r"id='view-code'[^>]*>(\d{3} \d{3})<", page)
    assert match is not None, page[:500]
    return match.group(1)


def test_in_private_mode_the_chat_gets_no_figure_and_the_linking_browser_sees_them_once(
    local_stack: LocalStack,
) -> None:
    psid = new_psid()
    browser = requests.Session()
    _link_in(local_stack, psid, browser)
    in_chat = text_of(say(local_stack, psid, "balance")[-1])
    figures = MONEY.findall(in_chat)
    assert figures, in_chat  # the baseline: in_chat shows amounts

    turned_on = say(local_stack, psid, "privacy mode on")[-1]
    assert "Privacy mode is on" in text_of(turned_on)
    private_from = len(replies(local_stack, psid))
    balance = say(local_stack, psid, "balance")[-1]
    assert text_of(balance).startswith("Your balance is ready")
    say(local_stack, psid, "transactions")
    fired = requests.post(
        f"{local_stack.urls['bank']}/sandbox/events",
        json={"type": "fraud", "customer": "alice", "amount": "777.31", "merchant": MERCHANT},
        timeout=15,
    )
    assert fired.status_code == 200, fired.text
    alert = eventually(
        lambda: next(
            (r for r in replies(local_stack, psid) if "recent card payment" in text_of(r)), None
        ),
        "the private fraud alert",
    )
    assert text_of(alert) == "Please check a recent card payment. Was this you?"
    assert set(quick_replies(alert)) == {"Yes, it was me", "No, it wasn't"}

    for sent in replies(local_stack, psid)[private_from:]:
        shown = " | ".join(_visible(sent["message"]))
        assert not MONEY.search(shown), shown
        assert not LONG_DIGITS.search(shown), shown
        assert MERCHANT not in shown and "777" not in shown
        assert not any(figure in shown for figure in figures)

    page = browser.get(button_url(balance), timeout=15)
    assert page.status_code == 200, page.text
    assert all(figure in page.text for figure in figures)
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page.headers["X-Robots-Tag"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert browser.get(button_url(balance), timeout=15).status_code == 410

    details = browser.get(button_url(alert), timeout=15)
    assert details.status_code == 200 and MERCHANT in details.text and "777.31" in details.text
    answered = tap(local_stack, psid, "No, it wasn't", quick_replies(alert)["No, it wasn't"])[-1]
    assert "Thanks" in text_of(answered)


def test_a_browser_that_did_not_link_must_be_confirmed_in_chat_and_a_second_one_is_refused(
    local_stack: LocalStack,
) -> None:
    psid = new_psid()
    _link_in(local_stack, psid, requests.Session())
    say(local_stack, psid, "privacy mode on")
    url = button_url(say(local_stack, psid, "balance")[-1])

    reader = requests.Session()  # someone reading the transcript, or the person's other phone
    asked = reader.get(url, timeout=15)
    assert asked.status_code == 200
    assert "id='view-code'" in asked.text and not MONEY.search(asked.text)
    assert requests.get(url, timeout=15).status_code == 403  # a third browser: refused
    assert reader.get(url, timeout=15).status_code == 200  # still no figures before the code

    confirmed = say(local_stack, psid, _view_code_on(reader.get(url, timeout=15).text))[-1]
    assert "browser is confirmed" in text_of(confirmed)
    shown = reader.get(url, timeout=15)
    assert shown.status_code == 200 and MONEY.search(shown.text), shown.text
    assert reader.get(url, timeout=15).status_code == 410


def test_a_bank_that_keeps_figures_private_cannot_be_overruled_by_privacy_mode_off(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    secret_name = f"bankbridge/dev/banks/{PRIVATE_BANK}/client-secret"
    local_stack.boto3_client("secretsmanager").create_secret(
        Name=secret_name, SecretString=SANDBOX_CLIENT_SECRET
    )
    config = {
        **sandbox_configs(local_stack.urls["bank"])[0],
        "institution_id": PRIVATE_BANK,
        "display_name": "Discreet Bank",
        "client_secret_ref": secret_name,
        "disclosure": "private",
    }
    config.pop("event_signing", None)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    registered = subprocess.run(
        [str(Path(sys.executable).parent / "bankbridge"), "--api-url", local_stack.urls["api"],
         "--admin-token", "dev-admin-token", "connectors", "register", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    psid = new_psid()

    def link_url() -> str | None:  # each worker caches the connector listing for 2 s here
        time.sleep(0.5)
        reply = tap(local_stack, psid, "Discreet Bank", f"LINK:{PRIVATE_BANK}")[-1]
        return button_url(reply) if "attachment" in reply["message"] else None

    url = eventually(link_url, f"a link button for {PRIVATE_BANK}")
    page = approve_in_browser(local_stack, psid, institution=PRIVATE_BANK, url=url)
    assert page.status_code == 200, page.text
    say(local_stack, psid, link_code_on(page.text))
    eventually(lambda: any(" is linked" in text_of(r) for r in replies(local_stack, psid)), "link")

    off = text_of(say(local_stack, psid, "privacy mode off")[-1])
    assert "Discreet Bank keeps figures out of chats" in off
    balance = text_of(say(local_stack, psid, "balance")[-1])
    assert balance.startswith("Your balance is ready") and not MONEY.search(balance)
