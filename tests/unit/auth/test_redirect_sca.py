"""Berlin Group redirect SCA: the bank sends the browser back without a code, and the
consent's status (`GET /v1/consents/{consentId}/status`, psd2-api 1.3.11
`getConsentStatus`) says whether linking worked. Through the real linking code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.auth import linking
from chalicelib.auth.exceptions import LinkingError
from chalicelib.auth.redirect_sca import await_consent, consent_only_grant
from chalicelib.auth.tokens import open_tokens
from chalicelib.bank_data import Account, Consent, ConsentStatus
from chalicelib.channels.messages import ChannelUser
from chalicelib.connectors.base import Customer
from chalicelib.connectors.exceptions import BankProtocolError, BankUnavailable
from chalicelib.deadline import deadline_in
from tests.fakes.aws import FakeAws
from tests.fakes.banks import FakeBank, FakeBanks
from tests.fakes.store import (
    FakeLinkRepository,
    FakePendingLinkRepository,
    FakeSingleUseSecretRepository,
)

USER = ChannelUser(channel="messenger", user_id="psid-sca")
CALLBACK = "https://bankbridge.example/oauth/callback"
SCA_PAGE = "https://bank.example/xs2a-sca/consent-1"
VALID_UNTIL = datetime.now(UTC) + timedelta(days=90)


class RedirectScaBank(FakeBank):
    """A Berlin Group ASPSP offering redirect SCA, whose consent status follows a script."""

    def __init__(self, *statuses: ConsentStatus | Exception) -> None:
        super().__init__(
            accounts=[Account(institution_id="acme-bank", account_id="acc-1", currency="EUR")],
            consent=Consent(
                institution_id="acme-bank",
                consent_id="consent-1",
                expires_at=VALID_UNTIL,
                authorization_url=SCA_PAGE,
            ),
        )
        self.statuses = list(statuses)
        self.status_reads = 0

    def consent_status(self, consent_id: str) -> ConsentStatus:
        assert consent_id == "consent-1"
        self.status_reads += 1
        answer = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


class Browser:
    """Starts linking `bank` for USER (as a vouched person, so a valid consent links at
    once) and comes back to the callback the way the bank's SCA page sends it."""

    def __init__(self, bank: FakeBank) -> None:
        self.bank = bank
        self.links = FakeLinkRepository()
        self.stores = linking.LinkingStores(
            link_tokens=FakeSingleUseSecretRepository(),
            states=FakeSingleUseSecretRepository(),
            pending_links=FakePendingLinkRepository(),
        )

    def start(self) -> tuple[str, str]:
        url = linking.issue_link_url(
            USER, "acme-bank", "https://bankbridge.example", stores=self.stores
        )
        started = linking.start(
            parse_qs(urlsplit(url).query)["token"][0],
            FakeBanks(self.bank),
            Customer(ip_address="203.0.113.9"),
            CALLBACK,
            browser_cookie=None,
            platform=_Vouching(),
            stores=self.stores,
        )
        assert started.location == SCA_PAGE  # the bank's own SCA page, not OAuth's authorize
        return self.bank.calls.consents_created[0].state, started.set_cookie.split(";", 1)[0]

    def come_back(self, state: str, cookie: str, **extra: str) -> linking.LinkOutcome:
        return linking.complete(
            {"state": state, **extra},  # no code, no iss: redirect SCA is no OAuth response
            FakeBanks(self.bank),
            self.links,
            CALLBACK,
            browser_cookie=cookie,
            stores=self.stores,
        )


class _Vouching:
    channel = "messenger"
    return_to = None

    def vouched_user(self) -> ChannelUser:
        return USER


@pytest.fixture
def aws_ready(aws: FakeAws) -> FakeAws:
    """Sealing keys in memory (the link's end is filed on the in-memory links)."""
    return aws


@pytest.mark.usefixtures("aws_ready")
def test_a_valid_consent_links_with_no_token_and_reads_go_by_consent_id() -> None:
    bank = RedirectScaBank(ConsentStatus.AWAITING, ConsentStatus.AUTHORISED)
    browser = Browser(bank)
    state, cookie = browser.start()

    outcome = browser.come_back(state, cookie)

    assert outcome.linked and bank.status_reads == 2  # polled until the bank said valid
    link = browser.links.get(USER.channel, USER.user_id, "acme-bank")
    assert link is not None and link.consent_id == "consent-1"
    assert open_tokens(link).access_token == ""  # reads carry Consent-ID alone
    assert link.consent_expires_at == int(VALID_UNTIL.timestamp())
    assert link.access_expires_at >= link.consent_expires_at - 1  # nothing to refresh before
    assert bank.calls.tokens_seen == [""]  # the account list read at link time


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ConsentStatus.REJECTED, "declined"),
        (ConsentStatus.REVOKED, "consent_ended"),
        (ConsentStatus.EXPIRED, "consent_ended"),
    ],
)
@pytest.mark.usefixtures("aws_ready")
def test_a_consent_that_ended_links_nothing(status: ConsentStatus, reason: str) -> None:
    browser = Browser(RedirectScaBank(status))
    state, cookie = browser.start()

    outcome = browser.come_back(state, cookie)

    assert not outcome.linked and outcome.reason == reason
    assert browser.links.links == {}


@pytest.mark.usefixtures("aws_ready")
def test_an_unreadable_status_links_nothing_and_ends_the_consent() -> None:
    bank = RedirectScaBank(BankUnavailable("bank unavailable (HTTP 503)", institution_id="x"))
    browser = Browser(bank)
    state, cookie = browser.start()

    outcome = browser.come_back(state, cookie)

    assert outcome.reason == "bank_error" and browser.links.links == {}
    assert bank.calls.ended_consents == ["consent-1"]


@pytest.mark.usefixtures("aws_ready")
def test_a_decline_comes_back_through_the_nok_redirect() -> None:
    bank = RedirectScaBank(ConsentStatus.REJECTED)
    browser = Browser(bank)
    state, cookie = browser.start()

    outcome = browser.come_back(state, cookie, error="access_denied")

    assert outcome.reason == "declined" and bank.status_reads == 0


@pytest.mark.usefixtures("aws_ready")
def test_without_redirect_sca_a_missing_code_is_still_an_error() -> None:
    bank = FakeBank()
    browser = Browser(bank)
    url = linking.issue_link_url(
        USER, "acme-bank", "https://bankbridge.example", stores=browser.stores
    )
    started = linking.start(
        parse_qs(urlsplit(url).query)["token"][0],
        FakeBanks(bank),
        Customer(ip_address="203.0.113.9"),
        CALLBACK,
        browser_cookie=None,
        stores=browser.stores,
    )
    state = parse_qs(urlsplit(started.location).query)["state"][0]

    with pytest.raises(LinkingError, match="did not send an authorization code"):
        browser.come_back(
            state, started.set_cookie.split(";", 1)[0], iss="https://auth.acme.example"
        )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_the_wait_is_bounded_and_backs_off() -> None:
    bank = RedirectScaBank(ConsentStatus.AWAITING)
    clock = Clock()

    status = await_consent(
        bank, "consent-1", max_wait=5.0, clock=lambda: clock.now, sleep=clock.sleep
    )

    assert status is ConsentStatus.AWAITING
    assert clock.now <= 5.0 and clock.pauses == sorted(clock.pauses)
    assert bank.status_reads == len(clock.pauses) + 1


def test_the_wait_never_outlasts_the_invocation_deadline() -> None:
    bank = RedirectScaBank(ConsentStatus.AWAITING)
    clock = Clock()

    with deadline_in(1.0):
        await_consent(bank, "consent-1", max_wait=30.0, clock=lambda: clock.now, sleep=clock.sleep)

    assert clock.now <= 1.0


def test_a_standard_without_a_consent_status_cannot_be_waited_for() -> None:
    with pytest.raises(BankProtocolError, match="no consent status"):
        await_consent(FakeBank(), "consent-1")


def test_a_consent_only_grant_lasts_as_long_as_the_consent() -> None:
    assert consent_only_grant(1_000_000 + 3600, 1_000_000.0, consent_days=90).expires_in == 3600
    assert consent_only_grant(None, 1_000_000.0, consent_days=2).expires_in == 2 * 86_400
