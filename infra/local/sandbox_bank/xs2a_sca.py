"""Berlin Group's redirect SCA approach, for a TPP that never gets an authorization code.

With the `xs2a_sca_approach` control set to `redirect` (`POST /sandbox/config`), a consent
is answered with `_links.scaRedirect` (header `ASPSP-SCA-Approach: REDIRECT`) instead of
`scaOAuth`: the customer approves it on the usual consent page at `/xs2a-sca/<consentId>`
(served by `authorize`),
and the browser goes back to the consent's `TPP-Redirect-URI` exactly as given (no code,
no `iss`: this is not an OAuth response), or to `TPP-Nok-Redirect-URI` when they decline.
The TPP learns the outcome from `GET /v1/consents/{consentId}/status` (`valid`,
`rejected`) and reads with `Consent-ID` alone, as with an ASPSP that identifies the TPP by
its eIDAS certificate.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, redirect, render_template

from infra.local.sandbox_bank.consents import AccessConsent, AccountAccess, ConsentState
from infra.local.sandbox_bank.grants import Grant
from infra.local.sandbox_bank.models import Customer
from infra.local.sandbox_bank.standards import Standard
from infra.local.sandbox_bank.state import SandboxState

PREFIX = "/xs2a-sca"
REDIRECT_APPROACH = "REDIRECT"
SCA_APPROACH_PARAM = "sca_approach"
"""Marks a held consent-page transaction as redirect SCA (no OAuth request behind it)."""
OK_URI = "tppRedirectUri"
NOK_URI = "tppNokRedirectUri"


def sca_redirect_link(state: SandboxState, consent_id: str) -> str:
    """Where the consent answer's `_links.scaRedirect` sends the customer."""
    return state.endpoint_url(f"{PREFIX}/{consent_id}")


def is_redirect_consent(consent: AccessConsent) -> bool:
    """Approved through redirect SCA: reads come with `Consent-ID` alone."""
    return consent.details.get("scaApproach") == REDIRECT_APPROACH


def page_params(state: SandboxState, consent_id: str) -> dict[str, str] | None:
    """The consent page's transaction for a redirect-SCA consent; None unless it awaits."""
    consent = state.consents.get(consent_id, Standard.BERLIN_GROUP)
    if (
        consent is None
        or not is_redirect_consent(consent)
        or consent.status(state.clock()) is not ConsentState.AWAITING
    ):
        return None
    ok_uri = str(consent.details[OK_URI])
    return {
        "client_id": urlsplit(ok_uri).netloc,  # the TPP, as its redirect names it
        "standard": Standard.BERLIN_GROUP.value,
        "consent_id": consent_id,
        "scope": "",
        "redirect_uri": ok_uri,
        SCA_APPROACH_PARAM: REDIRECT_APPROACH,
    }


def approved(
    state: SandboxState, consent: AccessConsent, customer: Customer, access: AccountAccess
) -> Response | tuple[str, int]:
    """Authorise the consent (a grant without tokens) and send the browser back, no code."""
    now = state.clock()
    grant = Grant(
        client_id=urlsplit(str(consent.details[OK_URI])).netloc,
        customer_id=customer.customer_id,
        account_ids=access.all_account_ids,
        scopes=(),
        auth_time=int(now),
        standard=Standard.BERLIN_GROUP,
        consent_id=consent.consent_id,
        expires_at=consent.expires_at,
    )
    if not state.consents.authorise(consent, grant, access, now):
        return render_template(
            "error.html",
            error="invalid_request",
            description="this consent is no longer awaiting authorisation",
        ), 400
    state.grants.record(grant)
    return redirect(str(consent.details[OK_URI]), 303)


def declined(state: SandboxState, consent: AccessConsent) -> Response:
    """The customer said no: the consent is rejected, the browser goes to the NOK URI."""
    state.consents.reject(consent, state.clock())
    return redirect(str(consent.details.get(NOK_URI) or consent.details[OK_URI]), 303)
