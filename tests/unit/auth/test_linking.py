"""Linking's two web steps on in-memory fakes: the link token and the OAuth state are single
use, the code exchange proves PKCE S256, and a grant becomes a link only for the proven chat
person (otherwise it waits for the code typed in chat, see `test_confirmation`)."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.auth import confirmation, linking
from chalicelib.auth.exceptions import LinkingError
from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.bank_data import Account
from chalicelib.channels.exceptions import RedirectRefused
from chalicelib.channels.messages import ChannelUser
from chalicelib.channels.port import PlatformLogin
from chalicelib.connectors.base import Connector, Customer
from chalicelib.store.account_reference import hashed_account_reference
from tests.fakes.aws import FakeAws
from tests.fakes.banks import AUTH_BASE, FakeBank, FakeBanks
from tests.fakes.store import (
    FakeLinkRepository,
    FakePendingLinkRepository,
    FakeSingleUseSecretRepository,
)

USER = ChannelUser(channel="messenger", user_id="psid-1")
BASE_URL = "https://bankbridge.example"
CALLBACK = linking.callback_url(BASE_URL)
CUSTOMER = Customer(ip_address="203.0.113.9")


@dataclass
class TokenEndpoint:
    """The bank's token endpoint: records each code exchange and answers fresh tokens."""

    exchanges: list[tuple[str, str, str]] = field(default_factory=list)

    def __call__(
        self, connector: Connector, code: str, redirect_uri: str, verifier: str
    ) -> TokenSet:
        self.exchanges.append((code, redirect_uri, verifier))
        return TokenSet(access_token="access-new", refresh_token="refresh-new", expires_in=3600)


@dataclass
class Vouching:
    """A platform's login hop (`chalicelib.channels.port.PlatformLogin`), vouching for `user`."""

    user: ChannelUser
    return_to: str | None = None
    channel: str = "messenger"

    def vouched_user(self) -> ChannelUser | None:
        return self.user


@dataclass
class Flow:
    """One bank, the linking stores and the token endpoint, in memory."""

    bank: FakeBank = field(
        default_factory=lambda: FakeBank(
            accounts=[Account(institution_id="acme-bank", account_id="acc-1", currency="USD")]
        )
    )
    link_tokens: FakeSingleUseSecretRepository = field(
        default_factory=FakeSingleUseSecretRepository
    )
    states: FakeSingleUseSecretRepository = field(default_factory=FakeSingleUseSecretRepository)
    pending_links: FakePendingLinkRepository = field(default_factory=FakePendingLinkRepository)
    links: FakeLinkRepository = field(default_factory=FakeLinkRepository)
    token_endpoint: TokenEndpoint = field(default_factory=TokenEndpoint)

    @property
    def stores(self) -> linking.LinkingStores:
        return linking.LinkingStores(
            link_tokens=self.link_tokens, states=self.states, pending_links=self.pending_links
        )

    def link_token(self) -> str:
        url = linking.issue_link_url(USER, "acme-bank", BASE_URL, stores=self.stores)
        assert url.startswith(f"{BASE_URL}/link/start?")
        return parse_qs(urlsplit(url).query)["token"][0]

    def start(self, token: str, platform: PlatformLogin | None = None) -> linking.Started:
        return linking.start(
            token,
            FakeBanks(self.bank),
            CUSTOMER,
            CALLBACK,
            browser_cookie=None,
            platform=platform,
            stores=self.stores,
        )

    def complete(self, state: str, cookie: str | None) -> linking.LinkOutcome:
        return linking.complete(
            {"state": state, "code": "auth-code", "iss": AUTH_BASE},
            FakeBanks(self.bank),
            self.links,
            CALLBACK,
            browser_cookie=cookie,
            stores=self.stores,
            exchange=self.token_endpoint,
        )


@pytest.fixture
def flow(aws: FakeAws) -> Flow:
    return Flow()


def authorize_query(started: linking.Started) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(started.location).query).items()}


def cookie_of(started: linking.Started) -> str:
    return started.set_cookie.split(";", 1)[0]


def s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


def test_start_sends_the_browser_to_the_bank_with_a_pkce_s256_challenge_and_keeps_it_sealed(
    flow: Flow,
) -> None:
    started = flow.start(flow.link_token())

    query = authorize_query(started)
    assert started.location.startswith(f"{AUTH_BASE}/authorize?")
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == CALLBACK
    assert cookie_of(started).startswith("__Host-bb_link=")
    (stored,) = flow.states.items.values()
    flow.complete(query["state"], cookie_of(started))
    ((_, _, verifier),) = flow.token_endpoint.exchanges
    assert verifier not in str(stored.attributes)  # the state item holds it sealed only


def test_a_link_token_starts_linking_once(flow: Flow) -> None:
    token = flow.link_token()
    flow.start(token)
    with pytest.raises(LinkingError):
        flow.start(token)


def test_the_code_exchange_proves_the_challenge_and_the_grant_waits_for_the_chat_code(
    flow: Flow,
) -> None:
    started = flow.start(flow.link_token())
    query = authorize_query(started)

    outcome = flow.complete(query["state"], cookie_of(started))

    ((code, redirect_uri, verifier),) = flow.token_endpoint.exchanges
    assert code == "auth-code" and redirect_uri == CALLBACK
    assert s256(verifier) == query["code_challenge"]
    assert outcome.awaiting_code and not outcome.linked
    assert outcome.code is not None and len(outcome.code) == 6 and outcome.code.isdigit()
    assert flow.links.links == {}
    assert flow.pending_links.get(USER.channel, USER.user_id, now=0) is not None


def test_the_oauth_state_is_single_use(flow: Flow) -> None:
    started = flow.start(flow.link_token())
    state, cookie = authorize_query(started)["state"], cookie_of(started)
    flow.complete(state, cookie)
    with pytest.raises(LinkingError):
        flow.complete(state, cookie)
    assert len(flow.token_endpoint.exchanges) == 1


def test_a_callback_in_another_browser_is_refused_before_any_code_exchange(flow: Flow) -> None:
    started = flow.start(flow.link_token())
    state = authorize_query(started)["state"]

    with pytest.raises(LinkingError) as refused:
        flow.complete(state, cookie=None)

    assert refused.value.status == 403
    assert flow.token_endpoint.exchanges == []
    with pytest.raises(LinkingError):  # the state was used up by the refused attempt
        flow.complete(state, cookie_of(started))


def test_a_person_the_platform_vouches_for_is_linked_at_once(flow: Flow) -> None:
    started = flow.start(flow.link_token(), platform=Vouching(USER))

    outcome = flow.complete(authorize_query(started)["state"], cookie_of(started))

    assert outcome.linked and not outcome.awaiting_code
    link = flow.links.get(USER.channel, USER.user_id, "acme-bank")
    assert link is not None
    assert flow.links.account_refs[(USER.channel, USER.user_id, "acme-bank")] == {
        hashed_account_reference("acme-bank", "acc-1")
    }
    assert flow.bank.calls.tokens_seen == ["access-new"]


def test_the_link_keeps_when_the_customer_signed_in_at_the_bank(flow: Flow) -> None:
    """Without an ID token `auth_time`, the code exchange is the sign-in time (CDR sends it as
    `x-fapi-auth-date`); the typed code that confirms the link minutes later does not move it."""
    started = flow.start(flow.link_token())
    before = int(time.time())
    outcome = flow.complete(authorize_query(started)["state"], cookie_of(started))
    after = int(time.time())
    pending = flow.pending_links.get(USER.channel, USER.user_id, now=0)
    assert pending is not None and pending.authenticated_at is not None
    assert before <= pending.authenticated_at <= after
    assert outcome.code is not None

    confirmed = confirmation.confirm(
        USER, outcome.code, flow.links, FakeBanks(flow.bank), pending_links=flow.pending_links
    )

    assert confirmed.result is confirmation.ConfirmationResult.LINKED
    link = flow.links.get(USER.channel, USER.user_id, "acme-bank")
    assert link is not None and link.authenticated_at == pending.authenticated_at


def test_the_link_names_its_channel_so_the_right_adapter_reads_the_login_hop(flow: Flow) -> None:
    url = linking.issue_link_url(USER, "acme-bank", BASE_URL, stores=flow.stores)
    assert parse_qs(urlsplit(url).query)["channel"] == ["messenger"]
    assert linking.platform_login({"token": "t"}) is None  # no channel: no hop is read
    with pytest.raises(RedirectRefused):
        linking.platform_login({"token": "t", "channel": "telex", "redirect_uri": "x"})


def test_a_login_hop_of_another_channel_than_the_links_starts_nothing(flow: Flow) -> None:
    with pytest.raises(RedirectRefused):
        flow.start(flow.link_token(), platform=Vouching(USER, channel="pager"))
    assert flow.states.items == {}


def test_after_linking_the_browser_goes_back_where_the_platform_asked(flow: Flow) -> None:
    back = "https://www.facebook.com/messenger_platform/account_linking/?account_linking_token=T"
    started = flow.start(flow.link_token(), platform=Vouching(USER, return_to=back))
    outcome = flow.complete(authorize_query(started)["state"], cookie_of(started))
    redirect = linking.platform_redirect_url(outcome)
    assert redirect is not None and redirect.startswith(f"{back}&authorization_code=")
    declined = outcome.model_copy(update={"linked": False})
    assert linking.platform_redirect_url(declined) == back  # no code: Messenger says "not linked"
    waiting = outcome.model_copy(update={"awaiting_code": True})
    assert linking.platform_redirect_url(waiting) is None  # the page must show the code


def test_a_link_opened_by_another_chat_user_starts_nothing(flow: Flow) -> None:
    stranger = ChannelUser(channel="messenger", user_id="psid-stranger")
    with pytest.raises(LinkingError) as refused:
        flow.start(flow.link_token(), platform=Vouching(stranger))
    assert refused.value.status == 403
    assert flow.states.items == {}
