"""Private view without AWS: the disclosure rule (the stricter choice wins), "privacy mode
on/off" in chat, the chat code a new browser waits for, and the page's escaping and headers.

The whole flow (worker, fan-out, `/private/{token}` on the table, the sandbox bank) is in
tests/integration/test_private_view.py and tests/e2e/test_privacy_view.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.channels.instagram import rendering as instagram
from chalicelib.channels.messages import ChannelUser, InboundEvent, InboundKind
from chalicelib.channels.messenger import rendering as messenger
from chalicelib.channels.whatsapp import rendering as whatsapp
from chalicelib.connectors.config.context import TRUSTED_CONTEXT
from chalicelib.connectors.config.models import ConnectorConfig, Disclosure
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.conversation.dialogue import ActionKind, UserContext, respond
from chalicelib.conversation.intents import Intent, match_text
from chalicelib.privacy import disclosure, view_pages
from chalicelib.privacy.private_offers import private_fraud_alert
from chalicelib.privacy.private_view import MAX_CODE_ATTEMPTS, code_digest, confirm_view_code
from chalicelib.store.private_views import PrivateView, ViewCode
from tests.factories import acme_config
from tests.fakes.channels import MESSENGER_CAPABILITIES
from tests.fakes.store import FakeChatProfileRepository

USER = ChannelUser(channel="messenger", user_id="u1")
OTHER = ChannelUser(channel="messenger", user_id="u2")
IN_CHAT, PRIVATE = Disclosure.IN_CHAT, Disclosure.PRIVATE


class FakeViews:
    """`PrivateViewPort`'s code and browser half in memory (views are the table's business)."""

    def __init__(self) -> None:
        self.codes: dict[ChannelUser, ViewCode] = {}
        self.trusted: set[tuple[ChannelUser, str]] = set()

    def put_view(self, view_digest: str, view: PrivateView, ttl_seconds: int) -> None:
        raise NotImplementedError

    def peek_view(self, view_digest: str) -> PrivateView | None:
        raise NotImplementedError

    def bind_view(self, view_digest: str, browser: str) -> bool:
        raise NotImplementedError

    def take_view(self, view_digest: str, browser: str) -> PrivateView | None:
        raise NotImplementedError

    def hold_code(self, user: ChannelUser, code: ViewCode) -> None:
        self.codes[user] = code

    def reserve_code_attempt(
        self, user: ChannelUser, *, max_attempts: int, now: float
    ) -> ViewCode | None:
        code = self.codes.get(user)
        if code is None or code.attempts >= max_attempts or code.confirm_by <= now:
            return None
        code.attempts += 1
        return code.model_copy()

    def take_code(self, user: ChannelUser, code_id: str) -> bool:
        code = self.codes.get(user)
        if code is None or code.code_id != code_id:
            return False
        del self.codes[user]
        return True

    def trust_browser(self, user: ChannelUser, browser: str, ttl_seconds: int) -> None:
        self.trusted.add((user, browser))

    def browser_trusted(self, user: ChannelUser, browser: str) -> bool:
        return (user, browser) in self.trusted


def _waiting(views: FakeViews, code: str = "482913", *, confirm_by: int = 2_000_000_000) -> None:
    views.hold_code(
        USER,
        ViewCode(
            code_id="c1",
            view_digest="v",
            browser="browser-digest",
            code_digest=code_digest("c1", code),
            confirm_by=confirm_by,
        ),
    )


@pytest.mark.parametrize(
    ("policies", "privacy_mode", "private"),
    [
        ([IN_CHAT], False, False),
        ([IN_CHAT], True, True),  # the person may be stricter than the bank
        ([PRIVATE], False, True),  # a bank's `private` is not the person's to turn off
        ([IN_CHAT, PRIVATE], False, True),  # one private bank makes the whole reply private
        ([], True, True),
    ],
)
def test_the_stricter_choice_wins(
    policies: list[Disclosure], privacy_mode: bool, private: bool
) -> None:
    assert disclosure.is_private(policies, privacy_mode) is private


def _loader(configs: dict[str, ConnectorConfig]) -> Any:
    def load(institution_id: str) -> Any:
        if institution_id not in configs:
            raise ConnectorNotAvailable("gone", institution_id=institution_id)
        return SimpleNamespace(config=configs[institution_id])

    return load


def _config(institution_id: str, policy: Disclosure) -> ConnectorConfig:
    raw = acme_config(
        institution_id=institution_id,
        display_name=institution_id.title(),
        client_secret_ref=f"bankbridge/prod/banks/{institution_id}/client-secret",
        disclosure=policy.value,
    )
    return ConnectorConfig.model_validate(raw, context=TRUSTED_CONTEXT)


def test_a_bank_whose_policy_cannot_be_read_counts_as_private() -> None:
    load = _loader({"open": _config("open", IN_CHAT)})
    assert disclosure.private_reply(["open"], False, load) is False
    assert disclosure.private_reply(["open", "gone"], False, load) is True


def test_the_connector_config_defaults_to_in_chat_and_refuses_other_policies() -> None:
    config = ConnectorConfig.model_validate(acme_config(), context=TRUSTED_CONTEXT)
    assert config.disclosure is IN_CHAT
    with pytest.raises(ValueError, match="disclosure"):
        ConnectorConfig.model_validate(acme_config(disclosure="sometimes"), context=TRUSTED_CONTEXT)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Privacy mode on", Intent.PRIVACY_ON),
        ("privacy mode", Intent.PRIVACY_ON),
        ("Privacy mode off", Intent.PRIVACY_OFF),
        ("turn off privacy mode", Intent.PRIVACY_OFF),
        ("balance", Intent.BALANCE),
    ],
)
def test_privacy_mode_is_recognised_in_chat(text: str, intent: Intent) -> None:
    assert match_text(text) is intent


@pytest.mark.parametrize(
    ("text", "kind"),
    [("privacy mode on", ActionKind.PRIVACY_ON), ("privacy mode off", ActionKind.PRIVACY_OFF)],
)
def test_privacy_mode_is_an_action_kept_by_the_worker(text: str, kind: ActionKind) -> None:
    event = InboundEvent(
        event_id="m1", channel="messenger", user=USER, recipient_id="p",
        kind=InboundKind.TEXT, timestamp=datetime.now(UTC), text=text,
    )  # fmt: skip
    turn = respond(event, UserContext(capabilities=MESSENGER_CAPABILITIES))
    assert turn.action is not None and turn.action.kind is kind and not turn.messages


def test_privacy_mode_is_kept_and_turning_it_off_names_the_banks_that_stay_private() -> None:
    profiles = FakeChatProfileRepository()
    on = disclosure.set_privacy_mode(USER, True, profiles, private_banks=[])
    assert profiles.privacy_mode(USER) and "Privacy mode is on" in on.text
    load = _loader({"open": _config("open", IN_CHAT), "discreet": _config("discreet", PRIVATE)})
    banks = disclosure.private_banks(["open", "discreet", "gone"], load)
    off = disclosure.set_privacy_mode(USER, False, profiles, private_banks=banks)
    assert not profiles.privacy_mode(USER)
    assert "Discreet keeps figures out of chats" in off.text and "Open" not in off.text


def test_the_right_code_from_the_person_trusts_the_waiting_browser_once() -> None:
    views = FakeViews()
    _waiting(views)
    assert confirm_view_code(OTHER, "482913", views=views).reply is None  # another chat
    checked = confirm_view_code(USER, "482913", views=views)
    assert checked.matched and (USER, "browser-digest") in views.trusted
    assert confirm_view_code(USER, "482913", views=views) == confirm_view_code(
        USER, "000000", views=views
    )  # the code is gone: nothing waits any more


def test_wrong_codes_are_counted_and_the_last_one_ends_the_wait() -> None:
    views = FakeViews()
    _waiting(views)
    for left in range(MAX_CODE_ATTEMPTS - 1, 0, -1):
        wrong = confirm_view_code(USER, "111111", views=views)
        assert not wrong.matched and wrong.reply is not None
        assert f"{left} more tr" in wrong.reply.text
    locked = confirm_view_code(USER, "111111", views=views)
    assert locked.reply is not None and "too many times" in locked.reply.text
    assert not confirm_view_code(USER, "482913", views=views).matched
    assert not views.trusted


def test_an_expired_code_trusts_nothing() -> None:
    views = FakeViews()
    _waiting(views, confirm_by=1_000)
    assert confirm_view_code(USER, "482913", views=views, now=1_000).reply is None
    assert not views.trusted


def test_the_page_escapes_bank_text_and_carries_the_privacy_headers() -> None:
    html = view_pages.content_page("Your balances", [("<b>Bank</b>", ["<script>x</script>"])], None)
    assert "<script>x" not in html and "&lt;script&gt;" in html and "<b>Bank" not in html
    headers = view_pages.HEADERS
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Robots-Tag"].startswith("noindex")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


URL = "https://bankbridge.example/private/TOKEN"


@pytest.mark.parametrize("channel", ["messenger", "whatsapp", "instagram"])
def test_every_channel_renders_the_private_alert_with_its_link_and_both_answers(
    channel: str,
) -> None:
    alert = private_fraud_alert("ref1", URL)
    user = ChannelUser(channel=channel, user_id="u1")
    bodies = {
        "messenger": lambda: messenger.render(alert, user),
        "whatsapp": lambda: whatsapp.render(alert, "15550001111"),
        "instagram": lambda: instagram.render(alert, user),
    }[channel]()
    sent = json.dumps(bodies)
    assert URL in sent and "FRAUD:ref1:yes" in sent and "FRAUD:ref1:no" in sent
    assert "Please check a recent card payment" in sent
