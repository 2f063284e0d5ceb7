"""What each WhatsApp Cloud API error means for us: retry, window closed, unreachable or permanent.

One table keyed by the error `code`, from Meta's "WhatsApp error codes" page
(https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes,
updated 2026-06-18), which asks integrators to match on `code` (and
`error_data.details`), never on the wording. The kinds are every Meta platform's
(`chalicelib.channels.meta.graph_errors`): the platforms share the Graph API and
the sender treats a kind the same way on each. Codes 200-299 (API permission)
are permanent; a code not in the table is transient when Meta answered HTTP 5xx
or 429 and permanent otherwise (`kind_by_status`).

The same codes arrive asynchronously in a `failed` status webhook (`webhook.py`),
for a message the API had accepted.
"""

from __future__ import annotations

from chalicelib.channels.meta.graph_errors import GraphErrorKind, GraphErrorRule, kind_by_status

T = GraphErrorKind.TRANSIENT
W = GraphErrorKind.WINDOW_CLOSED
U = GraphErrorKind.RECIPIENT_UNREACHABLE
P = GraphErrorKind.PERMANENT

API_PERMISSION_CODES = range(200, 300)

WHATSAPP_ERRORS: dict[int, GraphErrorRule] = {
    # Authorization: our token or app is wrong; an operator must act.
    0: GraphErrorRule(P, "AuthException: unable to authenticate the app user"),
    3: GraphErrorRule(P, "API method: capability or permissions issue"),
    10: GraphErrorRule(P, "permission denied (not granted or removed)"),
    190: GraphErrorRule(P, "access token has expired"),
    # Throttling: back off and try again.
    4: GraphErrorRule(T, "API too many calls (app rate limit)"),
    80007: GraphErrorRule(T, "rate limit issues (WhatsApp Business Account)"),
    130429: GraphErrorRule(T, "rate limit hit: Cloud API message throughput reached"),
    131056: GraphErrorRule(T, "pair rate limit hit: too many messages to this person for now"),
    131048: GraphErrorRule(P, "spam rate limit hit: quality rating restricts this number"),
    # Integrity.
    368: GraphErrorRule(P, "temporarily blocked for policy violations"),
    130497: GraphErrorRule(U, "business account restricted from messaging users in this country"),
    131031: GraphErrorRule(P, "business account has been locked"),
    # Temporary failures on Meta's side.
    1: GraphErrorRule(T, "API unknown: invalid request or possible server error"),
    2: GraphErrorRule(T, "API service: temporary downtime or overload"),
    131000: GraphErrorRule(T, "something went wrong (unknown error); retry"),
    131016: GraphErrorRule(T, "service unavailable"),
    131057: GraphErrorRule(T, "business account is in maintenance mode"),
    133004: GraphErrorRule(T, "server temporarily unavailable"),
    # The 24-hour customer service window.
    131047: GraphErrorRule(W, "re-engagement message: more than 24 hours since the person wrote"),
    # This person cannot be messaged now.
    130472: GraphErrorRule(U, "the person's number is part of an experiment"),
    131021: GraphErrorRule(U, "recipient cannot be the sender"),
    131026: GraphErrorRule(U, "message undeliverable (not on WhatsApp, old app, terms)"),
    131049: GraphErrorRule(U, "Meta chose not to deliver (ecosystem limits)"),
    131050: GraphErrorRule(U, "the person stopped marketing messages"),
    # Our request, our templates or our configuration.
    33: GraphErrorRule(P, "parameter value is not valid (business number deleted)"),
    100: GraphErrorRule(P, "invalid parameter"),
    131005: GraphErrorRule(P, "access denied"),
    131008: GraphErrorRule(P, "required parameter is missing"),
    131009: GraphErrorRule(P, "parameter value is not valid"),
    131037: GraphErrorRule(P, "business number needs display name approval"),
    131042: GraphErrorRule(P, "business eligibility payment issue"),
    131045: GraphErrorRule(P, "incorrect certificate (number not registered)"),
    131051: GraphErrorRule(P, "unsupported message type"),
    131053: GraphErrorRule(P, "media upload error"),
    132000: GraphErrorRule(P, "template parameter count mismatch"),
    132001: GraphErrorRule(P, "template does not exist in this language or is not approved"),
    132005: GraphErrorRule(P, "template hydrated text too long"),
    132007: GraphErrorRule(P, "template format character policy violated"),
    132012: GraphErrorRule(P, "template parameter format mismatch"),
    132015: GraphErrorRule(P, "template is paused (low quality)"),
    132016: GraphErrorRule(P, "template is disabled"),
    133010: GraphErrorRule(P, "business phone number not registered"),
    135000: GraphErrorRule(P, "generic user error"),
}
"""Meta's WhatsApp codes and how a send that got one is handled."""


def classify(code: int | None, http_status: int) -> GraphErrorKind:
    """The handling of a Cloud API error answer (HTTP `http_status`, error `code`)."""
    if code is not None:
        rule = WHATSAPP_ERRORS.get(code)
        if rule is not None:
            return rule.kind
        if code in API_PERMISSION_CODES:
            return GraphErrorKind.PERMANENT
    return kind_by_status(http_status)


def closes_window(code: int) -> bool:
    """Whether error `code` says the customer service window had closed (131047), in a send's
    answer or a `failed` status: only the approved template can reach the person now."""
    rule = WHATSAPP_ERRORS.get(code)
    return rule is not None and rule.kind is GraphErrorKind.WINDOW_CLOSED
