"""The console in a real browser (Debian's Chromium, headless) against the running stack.

Chromium comes from the system (`make browser`), never from Playwright's download:
without /usr/bin/chromium these tests skip, except under CI=true, where they fail.
Each test saves a screenshot to `test-artifacts/` (gitignored).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.chat import close_whatsapp_window
from tests.e2e.conftest import LocalStack, eventually

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
REPLY_TIMEOUT_MS = 20_000
DEV_SECRETS = ("dev-app-secret", "dev-page-token", "dev-admin-token", "dev-verify-token")


def _require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found: run `make browser` (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing: pip install -e '.[dev]'"
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module; Playwright drives the system binary."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def console(browser: Any, local_stack: LocalStack, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page on the console, screenshotted into test-artifacts/ when the test ends."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(local_stack.urls["console"])
    page.wait_for_selector("body[data-ready=true]")
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def _expect() -> Any:
    from playwright.sync_api import expect

    expect.set_options(timeout=REPLY_TIMEOUT_MS)
    return expect


def _add_user(page: Any, name: str, channel: str = "messenger") -> Any:
    """Add a person on `channel` through the page; return their conversation region."""
    page.get_by_label("New user's name").fill(name)
    page.get_by_test_id("new-user-channel").select_option(channel)
    page.get_by_role("button", name="Add user").click()
    thread = page.get_by_role("region", name=name, exact=True)
    _expect()(thread).to_be_visible()
    _expect()(thread).to_have_attribute("data-channel", channel)
    return thread


def _psid(thread: Any) -> str:
    return str(thread.get_attribute("data-psid"))


def _say(thread: Any, name: str, text: str) -> None:
    box = thread.get_by_label(f"Message from {name}")
    box.fill(text)
    box.press("Enter")


def _sent_texts(stack: LocalStack, psid: str) -> list[str]:
    """What the bot really sent this person, per the Graph stand-in."""
    sent = requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": psid}, timeout=5
    ).json()
    texts = []
    for body in sent:
        message = body.get("message", {})
        if "text" in message:
            texts.append(message["text"])
        elif "attachment" in message:
            texts.append(message["attachment"]["payload"].get("text", ""))
    return texts


def _name() -> str:
    return f"Tester {uuid.uuid4().hex[:6]}"


def _say_hi_and_see_the_welcome(stack: LocalStack, thread: Any, name: str) -> Any:
    """Say hi; the thread shows what the bot really sent and its four chips (returned)."""
    expect = _expect()
    _say(thread, name, "hi")
    expect(thread.get_by_test_id("user-message")).to_have_text([re.compile("hi$")])
    welcome = eventually(lambda: _sent_texts(stack, _psid(thread)), "the welcome")
    expect(thread.get_by_test_id("bot-text")).to_have_text(welcome)
    chips = thread.get_by_role("group", name=f"Quick replies for {name}").get_by_role("button")
    expect(chips).to_have_text(["Balance", "Transactions", "Link a bank", "Help"])
    return chips


def test_hi_shows_welcome_and_chips_then_a_tapped_chip_is_answered(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    _say_hi_and_see_the_welcome(local_stack, thread, name)

    thread.get_by_role("button", name="Balance").click()
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Balance")
    expect(thread.get_by_test_id("bot-text")).to_have_count(2)
    answer = _sent_texts(local_stack, _psid(thread))[-1]
    expect(thread.get_by_test_id("bot-text").last).to_have_text(answer)
    expect(thread.get_by_role("button", name="Balance")).to_have_count(0)  # chips went away
    expect(thread.get_by_label(f"Message from {name}")).to_be_focused()


def test_keyboard_only_enter_sends_and_tab_reaches_the_chips(console: Any) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    box = thread.get_by_label(f"Message from {name}")
    expect(box).to_be_focused()  # a new conversation takes the focus
    console.keyboard.type("hello")
    console.keyboard.press("Enter")
    expect(thread.get_by_role("button", name="Help")).to_be_visible()
    box.focus()
    console.keyboard.press("Shift+Tab")  # the chips sit just before the composer
    expect(thread.get_by_role("button", name="Help")).to_be_focused()
    console.keyboard.press("Enter")
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Help")
    expect(thread.get_by_test_id("bot-text")).to_have_count(2)


def test_two_users_are_independent(console: Any, local_stack: LocalStack) -> None:
    expect = _expect()
    first_name, second_name = _name(), _name()
    first = _add_user(console, first_name)
    second = _add_user(console, second_name)
    assert _psid(first) != _psid(second)

    _say(first, first_name, "hi")
    expect(first.get_by_test_id("bot-text")).to_have_count(1)
    expect(second.get_by_test_id("bot-message")).to_have_count(0)
    expect(second.get_by_test_id("user-message")).to_have_count(0)

    _say(second, second_name, "what can you do?")
    expect(second.get_by_test_id("bot-text")).to_have_count(1)
    expect(first.get_by_test_id("bot-text")).to_have_count(1)
    assert len(_sent_texts(local_stack, _psid(first))) == 1
    assert len(_sent_texts(local_stack, _psid(second))) == 1

    second.get_by_role("button", name=f"Remove {second_name}").click()
    expect(console.get_by_role("region", name=second_name, exact=True)).to_have_count(0)
    expect(first.get_by_test_id("bot-text")).to_have_count(1)


def test_one_reply_stream_serves_every_thread_however_many_are_added(
    console: Any, local_stack: LocalStack
) -> None:
    # Chromium keeps six connections per host: the page must not open a request per
    # thread, nor reopen its stream when people come and go. Adding, typing and removing
    # in quick succession also catches focus moved after an `await` (text typed meanwhile
    # landed in another box: the "added user never shows its thread" flake).
    opened: list[str] = []
    console.on("request", lambda sent: opened.append(sent.url) if "/replies" in sent.url else None)
    expect = _expect()
    names = [_name() for _ in range(6)]
    threads = [_add_user(console, name) for name in names]
    for thread, name in zip(threads, names, strict=True):
        _say(thread, name, "hi")
    for thread in threads:
        expect(thread.get_by_test_id("bot-text")).to_have_count(1)
    threads[0].get_by_role("button", name=f"Remove {names[0]}").click()
    _say(threads[-1], names[-1], "help")
    expect(threads[-1].get_by_test_id("bot-text")).to_have_count(2)
    assert [url for url in opened if "/api/replies/stream" in url] == []
    assert len(opened) == len(threads)  # one restore per thread, nothing per message


def test_log_pane_traces_each_message_and_shows_no_secret(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    _say(thread, name, "hi")
    expect(thread.get_by_test_id("bot-text")).to_have_count(1)

    log = console.get_by_test_id("log-pane")
    expect(log.get_by_label("Messages of")).to_have_value(_psid(thread))
    trace = log.get_by_test_id("trace").last
    expect(trace).to_contain_text("text message")
    webhook = trace.get_by_test_id("step-webhook")
    expect(webhook).to_contain_text("POST /webhooks/messenger")
    expect(webhook).to_contain_text("200")
    expect(trace.get_by_test_id("step-queue")).to_have_count(1)
    expect(trace.get_by_test_id("step-send").first).to_contain_text("RESPONSE")

    log.get_by_label("All log lines").check()
    expect(log.get_by_test_id("raw-line").first).to_be_visible()
    html = console.content()
    for secret in DEV_SECRETS:
        assert secret not in html, f"{secret} leaked into the page"


def test_status_strip_shows_services_up_and_connectors(console: Any) -> None:
    expect = _expect()
    strip = console.get_by_test_id("status-strip")
    for key in ("aws", "api", "bank", "graph"):
        service = strip.get_by_test_id(f"service-{key}")
        expect(service).to_have_attribute("data-state", "up")
        expect(service).to_contain_text("up")
    connectors = strip.get_by_test_id("connectors")
    expect(connectors).to_have_attribute("data-state", re.compile("ok|unavailable|refused"))
    if connectors.get_attribute("data-state") == "ok":
        expect(connectors.locator(".connector").first).to_contain_text("check passed")


def test_bank_event_control_reports_the_banks_answer(console: Any) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    form = console.get_by_test_id("bank-event-form")
    form.get_by_label("Conversation").select_option(label=name)
    form.get_by_label("Event").select_option("fraud")
    form.get_by_role("button", name="Send bank event").click()
    result = console.get_by_test_id("bank-event-result")
    expect(result).to_have_text(re.compile(r"sandbox bank (accepted|does not offer|refused)"))
    trace = console.get_by_test_id("log-pane")
    trace.get_by_label("Messages of").select_option(_psid(thread))
    expect(trace.get_by_test_id("step-bank_event")).to_contain_text("POST /sandbox/events")


def test_link_a_sandbox_bank_through_the_consent_page_then_ask_the_balance(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    _say(thread, name, "link a bank")
    thread.get_by_test_id("quick-reply").filter(has_text="Sandbox Bank (FDX)").click()
    login = thread.locator("[data-testid=account-link-button], [data-testid=url-button]").last
    expect(login).to_be_visible()

    with console.context.expect_page() as opened:
        login.click()
    consent = opened.value
    consent.wait_for_load_state()
    consent.get_by_role("button", name="Approve").click()
    code = _code_shown(consent)
    consent.close()
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("type the 6-digit code")
    _say(thread, name, code)  # the person types the bank page's code, as in Messenger
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("is linked")
    _say(thread, name, "balance")
    balance = thread.get_by_test_id("bot-text").last
    expect(balance).to_contain_text("Sandbox Bank (FDX)")
    expect(balance).to_contain_text("••")
    assert balance.inner_text() == _sent_texts(local_stack, _psid(thread))[-1]


def _code_shown(consent: Any) -> str:
    """The one-time code on the bank's final page (`#link-code`, like "482 913")."""
    code = consent.locator("#link-code")
    _expect()(code).to_have_text(re.compile(r"^\d{3} \d{3}$"))
    return code.inner_text()


def test_phone_width_fits_one_conversation_on_screen(console: Any) -> None:
    expect = _expect()
    console.set_viewport_size({"width": 390, "height": 844})
    name = _name()
    thread = _add_user(console, name)
    _say(thread, name, "hi")
    expect(thread.get_by_test_id("bot-text")).to_have_count(1)
    overflow = console.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
    box = thread.bounding_box()
    assert box is not None and box["width"] <= 390
    # How far down the thread sits depends on how many users and connectors the header
    # lists; what matters is that the composer can be scrolled to and fits the width.
    send = thread.get_by_role("button", name="Send")
    send.scroll_into_view_if_needed()
    expect(send).to_be_in_viewport()
    send_box = send.bounding_box()
    assert send_box is not None and send_box["x"] + send_box["width"] <= 390


def test_link_then_answer_a_fraud_alert_in_the_thread(console: Any) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name)
    _say(thread, name, "link a bank")
    thread.get_by_test_id("quick-reply").filter(has_text="Sandbox Bank (FDX)").click()
    login = thread.locator("[data-testid=account-link-button], [data-testid=url-button]").last
    with console.context.expect_page() as opened:
        login.click()
    consent = opened.value
    consent.wait_for_load_state()
    consent.get_by_role("button", name="Approve").click()
    code = _code_shown(consent)
    consent.close()
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("type the 6-digit code")
    _say(thread, name, code)  # the person types the bank page's code, as in Messenger
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("is linked")

    form = console.get_by_test_id("bank-event-form")
    form.get_by_label("Conversation").select_option(label=name)
    form.get_by_label("Bank customer").select_option("alice")
    form.get_by_label("Event").select_option("fraud")
    form.get_by_role("button", name="Send bank event").click()
    alert = thread.get_by_test_id("bot-text").filter(has_text="Was this you?").last
    expect(alert).to_be_visible(timeout=30_000)
    expect(alert).to_contain_text("••")
    thread.get_by_test_id("quick-reply").filter(has_text="No, it wasn't").click()
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("frozen", timeout=30_000)


def _whatsapp_sent(stack: LocalStack, number: str) -> list[dict[str, Any]]:
    """The messages the bot really sent this WhatsApp number, per the Graph stand-in."""
    sent = requests.get(
        f"{stack.urls['graph']}/__sent", params={"recipient": number}, timeout=5
    ).json()
    return [body for body in sent if body.get("type") in {"text", "interactive", "template"}]


def _open_list_and_choose(message: Any, row: str) -> None:
    """Tap a WhatsApp list's button, then one of the rows it opens."""
    rows = message.get_by_test_id("list-row")
    _expect()(rows.first).to_be_hidden()  # WhatsApp keeps the rows behind the button
    message.get_by_test_id("list-button").click()
    rows.filter(has_text=row).click()


def _link_on_whatsapp(console: Any, thread: Any, name: str, *, ask: bool = True) -> None:
    """Link the FDX bank from a WhatsApp thread: the list of banks (asked for unless `ask` is
    False: it is showing), the CTA, the bank's page, the code typed back."""
    expect = _expect()
    if ask:
        _say(thread, name, "link a bank")
    banks = thread.get_by_test_id("wa-list").last
    expect(banks).to_contain_text("Sandbox Bank (FDX)")
    _open_list_and_choose(banks, "Sandbox Bank (FDX)")
    login = thread.get_by_test_id("cta-url-button").last
    expect(login).to_be_visible()
    with console.context.expect_page() as opened:
        login.click()
    consent = opened.value
    consent.wait_for_load_state()
    consent.get_by_role("button", name="Approve").click()
    code = _code_shown(consent)
    consent.close()
    _say(thread, name, code)
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("is linked")


def _fire_fraud_for(console: Any, name: str) -> None:
    """The sandbox bank flags a charge on alice's card, from the page's bank-event form."""
    form = console.get_by_test_id("bank-event-form")
    form.get_by_label("Conversation").select_option(label=name)
    form.get_by_label("Bank customer").select_option("alice")
    form.get_by_label("Event").select_option("fraud")
    form.get_by_role("button", name="Send bank event").click()


def test_whatsapp_thread_lists_choices_and_answers_a_fraud_alert_with_its_reply_button(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name, channel="whatsapp")
    number = _psid(thread)
    expect(thread.get_by_text(f"WhatsApp +{number}")).to_be_visible()

    _say(thread, name, "hi")
    welcome = thread.get_by_test_id("wa-list")
    expect(welcome).to_have_count(1)
    [sent] = eventually(lambda: _whatsapp_sent(local_stack, number), "the welcome list")
    expect(welcome.get_by_test_id("bot-text")).to_have_text(sent["interactive"]["body"]["text"])
    rows = [r["title"] for s in sent["interactive"]["action"]["sections"] for r in s["rows"]]
    expect(welcome.get_by_test_id("list-row")).to_have_text(rows)
    _open_list_and_choose(welcome, "Balance")
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Balance")
    offer = thread.get_by_test_id("wa-button").last  # no bank yet: two reply buttons
    expect(offer.get_by_test_id("reply-button")).to_have_text(["Link a bank", "Help"])
    offer.get_by_test_id("reply-button").filter(has_text="Link a bank").click()
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Link a bank")
    expect(thread.get_by_test_id("wa-list").last).to_contain_text("Sandbox Bank (FDX)")

    _link_on_whatsapp(console, thread, name, ask=False)
    _fire_fraud_for(console, name)
    alert = thread.get_by_test_id("wa-button").filter(has_text="Was this you?").last
    expect(alert).to_be_visible(timeout=30_000)
    expect(alert.get_by_test_id("reply-button")).to_have_text(["Yes, it was me", "No, it wasn't"])
    alert.get_by_test_id("reply-button").filter(has_text="No, it wasn't").click()
    expect(thread.get_by_test_id("user-message").last).to_contain_text("No, it wasn't")
    expect(thread.get_by_test_id("bot-text").last).to_contain_text("frozen", timeout=30_000)

    # The tap's trace shows the worker's side too (it logs a pseudonym of the wamid).
    log = console.get_by_test_id("log-pane")
    expect(log.get_by_label("Messages of")).to_have_value(number)
    trace = log.get_by_test_id("trace").last
    expect(trace).to_contain_text("WhatsApp button reply")
    expect(trace.get_by_test_id("step-webhook")).to_contain_text("POST /webhooks/whatsapp")
    expect(trace.get_by_test_id("step-queue")).to_have_count(1)
    expect(trace.get_by_test_id("step-log").filter(has_text="Replied")).to_have_count(1)
    expect(trace.get_by_test_id("step-send").last).to_contain_text("whatsapp: text")


def test_whatsapp_thread_shows_an_alert_outside_the_window_as_its_template_and_answers_it(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name, channel="whatsapp")
    _link_on_whatsapp(console, thread, name)
    close_whatsapp_window(local_stack, _psid(thread))
    _fire_fraud_for(console, name)

    template = thread.get_by_test_id("wa-template").last
    expect(template).to_be_visible(timeout=30_000)
    expect(template).to_have_attribute("data-template", "bankbridge_fraud_alert")
    expect(template.get_by_test_id("bot-text")).to_contain_text("Was this you?")  # approved text
    expect(template.get_by_test_id("bot-text")).to_contain_text("••")  # filled in
    buttons = template.get_by_test_id("template-button")
    expect(buttons).to_have_text(["Yes, it was me", "No, it wasn't"])
    buttons.filter(has_text="Yes, it was me").click()
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Yes, it was me")
    expect(thread.get_by_test_id("bot-text").last).to_contain_text(
        "I've told Sandbox Bank (FDX)", timeout=30_000
    )


def test_instagram_thread_says_hi_taps_a_chip_and_gets_the_linking_button(
    console: Any, local_stack: LocalStack
) -> None:
    expect = _expect()
    name = _name()
    thread = _add_user(console, name, channel="instagram")
    expect(thread.get_by_text(f"Instagram IGSID {_psid(thread)}")).to_be_visible()

    chips = _say_hi_and_see_the_welcome(local_stack, thread, name)
    chips.filter(has_text="Link a bank").click()
    expect(thread.get_by_test_id("user-message").last).to_contain_text("Link a bank")
    expect(thread.get_by_label(f"Message from {name}")).to_be_focused()
    bank = thread.get_by_test_id("quick-reply").filter(has_text="Sandbox Bank (FDX)")
    bank.click()
    # Instagram has no Log In button: the linking page opens from a web_url button.
    login = thread.get_by_test_id("url-button").last
    expect(login).to_have_attribute("href", re.compile(r"^http://127\.0\.0\.1:\d+/"))
    expect(thread.get_by_test_id("account-link-button")).to_have_count(0)

    log = console.get_by_test_id("log-pane")
    trace = log.get_by_test_id("trace").last
    expect(trace).to_contain_text("Instagram quick reply")
    expect(trace.get_by_test_id("step-webhook")).to_contain_text("POST /webhooks/instagram")
    expect(trace.get_by_test_id("step-queue")).to_have_count(1)
