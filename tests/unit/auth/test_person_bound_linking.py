"""The pure pieces of person-bound linking: browser binding, exact Messenger redirects,
the typed code, the code page and its headers (issue 12)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape

import pytest

from chalicelib.auth import browser_binding, confirmation, pages
from chalicelib.channels.exceptions import RedirectRefused
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.channels.messenger.account_linking import (
    MessengerLogin,
    is_messenger_redirect,
)
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.intents import Intent, recognise_text
from chalicelib.store.single_use import digest
from tests.fakes.channels import MESSENGER_CAPABILITIES

CONSOLE = "http://127.0.0.1:8003/messenger_platform/account_linking/"


@pytest.fixture
def prod_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("BANKBRIDGE_STAGE", "prod")
    monkeypatch.setenv("BANKBRIDGE_LOCAL_ACCOUNT_LINKING_REDIRECT", CONSOLE)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def console_settings(local_dev_stage: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("BANKBRIDGE_LOCAL_ACCOUNT_LINKING_REDIRECT", CONSOLE)
    get_settings.cache_clear()
    yield


# --- browser binding --------------------------------------------------------------------------


def test_the_deployed_cookie_is_host_prefixed_secure_httponly_lax() -> None:
    header = browser_binding.set_cookie_header("v" * 43, local=False, max_age_seconds=600)
    name_value, *attributes = header.split("; ")
    assert name_value == "__Host-bb_link=" + "v" * 43
    assert set(attributes) == {"Path=/", "Max-Age=600", "HttpOnly", "SameSite=Lax", "Secure"}
    assert not any(a.startswith("Domain") for a in attributes)  # `__Host-` forbids it


def test_the_local_cookie_drops_the_prefix_and_secure_only() -> None:
    header = browser_binding.set_cookie_header("v" * 43, local=True, max_age_seconds=600)
    assert header.startswith("bb_link=")
    assert "Secure" not in header and "HttpOnly" in header and "SameSite=Lax" in header


def test_the_callback_needs_the_very_value_whose_digest_the_state_holds() -> None:
    value = browser_binding.new_value()
    expected = digest(value)
    cookie = f"other=1; __Host-bb_link={value}"
    presented = browser_binding.value_from(cookie, local=False)
    assert presented == value
    assert browser_binding.same_browser(presented, expected)
    assert not browser_binding.same_browser(browser_binding.new_value(), expected)
    assert not browser_binding.same_browser(None, expected)
    assert not browser_binding.same_browser(value, None)
    # The local name is not read in a deployed stage (and the other way round).
    assert browser_binding.value_from(f"bb_link={value}", local=False) is None
    assert browser_binding.value_from(f"__Host-bb_link={value}", local=True) is None


@pytest.mark.parametrize("cookie", ["__Host-bb_link=short", '__Host-bb_link="x;y"', "=;=", ""])
def test_malformed_cookies_bind_nothing(cookie: str) -> None:
    assert browser_binding.value_from(cookie, local=False) is None


def test_a_browser_keeps_its_binding_value_across_two_links() -> None:
    held = browser_binding.new_value()
    assert browser_binding.value_for(held) == held
    fresh = browser_binding.value_for(None)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", fresh) and fresh != held


# --- exact Messenger redirects ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com/messenger_platform/account_linking/",
        "https://www.facebook.com/messenger_platform/account_linking?account_linking_token=T",
        "https://www.facebook.com/messenger_platform/account_linking/?account_linking_token=T&x=1",
    ],
)
def test_metas_documented_endpoint_is_accepted(prod_settings: None, url: str) -> None:
    assert is_messenger_redirect(url)


@pytest.mark.parametrize(
    "url",
    [
        # the attack: a prefix match let this through to Facebook's link shim
        "https://www.facebook.com/messenger_platform/account_linkingEVIL/../../l.php?u=https://evil.example",
        "https://www.facebook.com/messenger_platform/account_linking/../../l.php?u=https://e.example",
        "https://www.facebook.com/messenger_platform/account_linking/./",
        "https://www.facebook.com/messenger_platform/account_linking/%2e%2e/l.php",
        "https://www.facebook.com/messenger_platform/account_linking%2F..%2Fl.php",
        "https://www.facebook.com/messenger_platform/account_linking/x",
        "https://www.facebook.com/Messenger_platform/account_linking",
        "https://www.facebook.com.evil.example/messenger_platform/account_linking",
        "https://evil.example@www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com@evil.example/messenger_platform/account_linking",
        "https://www.facebook.com:443/messenger_platform/account_linking",
        "https://WWW.FACEBOOK.COM/messenger_platform/account_linking",
        "https://facebook.com/messenger_platform/account_linking",
        "http://www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com/messenger_platform/account_linking#frag",
        "https://www.facebook.com\\@evil.example/messenger_platform/account_linking",
        " https://www.facebook.com/messenger_platform/account_linking",
        "//www.facebook.com/messenger_platform/account_linking",
        "https://www.facebook.com:bad/messenger_platform/account_linking",
        CONSOLE,  # the local console's stand-in: never outside local development
    ],
)
def test_anything_else_is_refused(prod_settings: None, url: str) -> None:
    assert not is_messenger_redirect(url)


def test_local_development_accepts_the_configured_console_exactly(console_settings: None) -> None:
    assert is_messenger_redirect(f"{CONSOLE}?account_linking_token=T")
    assert not is_messenger_redirect("http://127.0.0.1:8004/messenger_platform/account_linking/")
    assert not is_messenger_redirect(f"{CONSOLE}../l.php")
    assert not is_messenger_redirect("http://127.0.0.1:8003/elsewhere")


def test_a_forged_redirect_stops_the_start_and_absence_is_no_login(prod_settings: None) -> None:
    with pytest.raises(RedirectRefused):
        MessengerLogin.from_query({"token": "t", "redirect_uri": "https://evil.example/"})
    assert MessengerLogin.from_query({"token": "t"}) is None


def test_without_account_linking_turned_on_no_token_is_exchanged(prod_settings: None) -> None:
    login = MessengerLogin(account_linking_token="alt_x", return_to=None)
    assert login.vouched_user() is None  # the setting is off: the code path, no Graph call


# --- the typed code ---------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["482 913", "482-913", "482913", " 482913 ", "4 8 2 9 1 3"])
def test_six_digits_as_people_type_them_confirm_a_link(typed: str) -> None:
    assert recognise_text(typed).model_dump() == {
        "intent": Intent.CONFIRM_LINK,
        "argument": "482913",
    }


@pytest.mark.parametrize("typed", ["48291", "4829134", "482  913", "482 913 balance", "l82913"])
def test_other_text_is_not_a_code(typed: str) -> None:
    assert recognise_text(typed).intent is not Intent.CONFIRM_LINK


def test_the_dialogue_hands_the_code_to_the_worker_for_the_sender_only() -> None:
    event = InboundEvent(
        event_id="m1",
        channel="messenger",
        user=ChannelUser(channel="messenger", user_id="u1"),
        recipient_id="page",
        kind=InboundKind.TEXT,
        timestamp=datetime.now(UTC),
        text="482 913",
    )
    turn = respond(event, UserContext(capabilities=MESSENGER_CAPABILITIES))
    assert turn.action is not None
    assert turn.action.kind is ActionKind.CONFIRM_LINK and turn.action.code == "482913"
    assert "482913" not in repr(turn.action)  # never in a log line by accident


def test_codes_are_six_uniform_digits_shown_in_two_groups() -> None:
    codes = [confirmation.new_code() for _ in range(2000)]
    assert all(re.fullmatch(r"\d{6}", code) for code in codes)
    assert len(set(codes)) > 1990  # random, not a counter
    assert {code[0] for code in codes} == set("0123456789")  # leading zeros kept
    assert confirmation.display_code("048291") == "048 291"


# --- the page and its headers -----------------------------------------------------------------


def test_the_code_page_says_plainly_what_to_do_and_what_never_to_do() -> None:
    html = pages.code_page("Bank <b>", "482 913", 10)
    assert "<p id='link-code' class='code' aria-label='Your code'>482 913</p>" in html
    assert "Type this code in your chat with BankBridge within 10 minutes" in html
    assert "Never give this code to anyone" in html
    assert "If you did not ask to link" in html and "close this page" in html
    assert "<b>" not in html and escape("Bank <b>") in html


def test_pages_allow_only_their_own_stylesheet_and_no_referrer() -> None:
    html = pages.linked_page("Bank")
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    hashed = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    csp = pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert f"style-src 'sha256-{hashed}'" in csp
    assert "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    for headers in (pages.SECURITY_HEADERS, pages.REDIRECT_HEADERS):
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


# --- the Graph stand-in's account-linking lookup ----------------------------------------------


def test_the_graph_stand_in_names_the_person_of_a_linking_token_like_meta() -> None:
    from infra.local.graph_standin import appsecret_proof, create_app

    graph = create_app("page-token", "app-secret").test_client()
    token = graph.post("/__account_linking_tokens", json={"psid": "psid-1"}).get_json()[
        "account_linking_token"
    ]
    proof = appsecret_proof("page-token", "app-secret")
    query = {"fields": "recipient", "account_linking_token": token, "appsecret_proof": proof}
    headers = {"Authorization": "Bearer page-token"}
    assert graph.get("/v25.0/me", query_string=query, headers=headers).get_json()["recipient"] == (
        "psid-1"
    )
    unknown = graph.get(
        "/v25.0/me", query_string={**query, "account_linking_token": "alt_x"}, headers=headers
    )
    assert unknown.status_code == 400 and unknown.get_json()["error"]["code"] == 10301
    without_proof = {k: v for k, v in query.items() if k != "appsecret_proof"}
    assert graph.get("/v25.0/me", query_string=without_proof, headers=headers).status_code == 400
    assert graph.get("/v25.0/me", query_string=query).status_code == 400  # no page token
