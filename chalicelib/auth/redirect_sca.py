"""Waiting for a consent the customer approved at the bank without an authorization code.

Berlin Group's redirect SCA approach (NextGenPSD2 XS2A Framework 1.3.x, "SCA Approach:
Redirect"; psd2-api 1.3.11 `getConsentStatus`): the ASPSP sends the browser back to
`TPP-Redirect-URI` with no code. Whether the customer approved is learnt only from the
consent, `GET /v1/consents/{consentId}/status`: `valid` once SCA succeeded, `received`
or `partiallyAuthorised` while the ASPSP is still finishing it, and `rejected`,
`revokedByPsu`, `expired` or `terminatedByTpp` when it will never be usable. Reads then
carry only `Consent-ID`: the grant is the consent, with no token to refresh.

The status is polled a few times, backing off, for at most `MAX_WAIT_SECONDS` and never
past the invocation's deadline: the browser is waiting on this callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.auth.token_endpoint import TokenSet
from chalicelib.bank_data import ConsentStatus
from chalicelib.connectors.base import Connector
from chalicelib.connectors.exceptions import BankProtocolError
from chalicelib.deadline import MIN_CALL_SECONDS, seconds_left

MAX_WAIT_SECONDS = 8.0
"""Long enough for an ASPSP to settle a consent it just authorised; short for a browser."""
FIRST_PAUSE_SECONDS = 0.25
MAX_PAUSE_SECONDS = 2.0


def await_consent(
    connector: Connector,
    consent_id: str,
    *,
    max_wait: float = MAX_WAIT_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ConsentStatus:
    """The consent's status once it is settled, or `AWAITING` when the wait ran out.

    Settled means authorised, or an end it will not come back from (rejected, revoked,
    expired). The bank's errors (`BankError`) reach the caller, as does a
    `BankProtocolError` from a standard without a consent status.
    """
    left = seconds_left()
    budget = max_wait if left is None else min(max_wait, left - MIN_CALL_SECONDS)
    until = clock() + budget
    pause = FIRST_PAUSE_SECONDS
    while True:
        status = connector.consent_status(consent_id)
        if status is None:
            raise BankProtocolError(
                "the standard has no consent status to learn a redirect's outcome from",
                institution_id=connector.config.institution_id,
            )
        if status is not ConsentStatus.AWAITING:
            return status
        if clock() + pause > until:
            return ConsentStatus.AWAITING
        sleep(pause)
        pause = min(pause * 2, MAX_PAUSE_SECONDS)


def consent_only_grant(expires_at: int | None, now: float, *, consent_days: int) -> TokenSet:
    """The grant of a consent authorised without a code: no token, reads by `Consent-ID`.

    Its lifetime is the consent's (`expires_at`, else the `consent_days` asked for), so it
    is never "refreshed" (there is nothing to refresh with): when it ends, the link asks
    the customer to link again.
    """
    end = expires_at if expires_at is not None else int(now) + consent_days * 86_400
    return TokenSet(access_token="", expires_in=max(end - int(now), 1))
