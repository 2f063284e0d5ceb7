"""BankBridge's Chalice app: routes and event handlers only, each a thin adapter.

Everything else lives in `chalicelib/`. Importing this module creates no AWS
client and imports neither boto3 nor requests, which keeps cold starts short;
those load on first use inside a handler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from chalice import Chalice, Rate, Response
from chalice.app import CloudWatchEvent, Request, SQSEvent

from chalicelib.admin.api import admin_blueprint
from chalicelib.auth.exceptions import LinkingError
from chalicelib.channels.exceptions import RedirectRefused
from chalicelib.http_errors import http_problem
from chalicelib.observability import configure_logging, failures_logged
from chalicelib.stage import resource_names, stage_from_environment

if TYPE_CHECKING:
    from chalicelib.auth.linking import LinkOutcome

# BankBridge uses no pydantic plugins; unless told so, pydantic looks for them on the first model
# a container builds by reading every installed distribution's entry points (~25 ms in a venv).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
configure_logging()
# No default: an unset or malformed BANKBRIDGE_STAGE stops the import with a message naming it.
_STAGE = stage_from_environment()
# Chalice's own stdout handler would write tracebacks unredacted; its logger (`bankbridge`)
# propagates to the redacting root handler instead.
app = Chalice(app_name="bankbridge", configure_logs=False)
app.register_blueprint(admin_blueprint(_STAGE))

# Chalice reads queue names when it packages the app, from the stage's environment.
_NAMES = resource_names(_STAGE)
INBOUND_QUEUE = os.environ.get("BANKBRIDGE_INBOUND_QUEUE_NAME", _NAMES["inbound_queue_name"])
EVENTS_QUEUE = os.environ.get("BANKBRIDGE_EVENTS_QUEUE_NAME", _NAMES["events_queue_name"])


def _current_request() -> Request:
    """The request being routed: Chalice sets it before calling a route (it is typed optional)."""
    request = app.current_request
    if request is None:
        raise RuntimeError("a route ran outside a request")
    return request


def _raw_body(request: Request) -> bytes:
    """The body as sent: Chalice always decodes it to bytes, though it annotates `str | bytes`."""
    return cast(bytes, request.raw_body or b"")


def _text(status: int, body: str) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "text/plain"})


def _subscription(channel: str) -> Response:
    """A platform's webhook handshake: its challenge for the right verify token, else 403."""
    from chalicelib.channels.webhooks import verify_subscription

    answer = verify_subscription(channel, _current_request().query_params)
    return _text(answer.status, answer.body)


def _webhook(channel: str) -> Response:
    """Verify, validate and queue a delivery (the worker de-duplicates); ack in < 5 s."""
    from chalicelib.channels.webhooks import receive

    request = _current_request()
    answer = receive(channel, _raw_body(request), request.headers, request.context)
    return _text(answer.status, answer.body)


@app.route("/webhooks/messenger", methods=["GET"])
def messenger_subscription() -> Response:
    """Meta's subscription handshake for Messenger."""
    return _subscription("messenger")


@app.route(
    "/webhooks/messenger",
    methods=["POST"],
    content_types=["application/json", "text/plain"],
)
def messenger_webhook() -> Response:
    """A Messenger delivery."""
    return _webhook("messenger")


@app.route("/webhooks/whatsapp", methods=["GET"])
def whatsapp_subscription() -> Response:
    """Meta's subscription handshake for WhatsApp (404 while the stage has WhatsApp off)."""
    return _subscription("whatsapp")


@app.route("/webhooks/whatsapp", methods=["POST"], content_types=["application/json"])
def whatsapp_webhook() -> Response:
    """A WhatsApp Cloud API delivery (404 while the stage has WhatsApp off)."""
    return _webhook("whatsapp")


@app.route("/webhooks/instagram", methods=["GET"])
def instagram_subscription() -> Response:
    """Meta's subscription handshake for Instagram (404 while the stage has Instagram off)."""
    return _subscription("instagram")


@app.route("/webhooks/instagram", methods=["POST"], content_types=["application/json"])
def instagram_webhook() -> Response:
    """An Instagram Messaging delivery (404 while the stage has Instagram off)."""
    return _webhook("instagram")


def _html(status: int, body: str) -> Response:
    from chalicelib.auth.pages import SECURITY_HEADERS

    return Response(body=body, status_code=status, headers=dict(SECURITY_HEADERS))


def _redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    """A 302 with the linking pages' headers (no Referer: the URLs carry tokens and codes)."""
    from chalicelib.auth.pages import REDIRECT_HEADERS

    return Response(
        body="",
        status_code=302,
        headers={**REDIRECT_HEADERS, **(headers or {}), "Location": location},
    )


@app.route("/link/start", methods=["GET"])
def link_start() -> Response:
    """Take the chat's one-time link token and send the browser to the bank's consent page."""
    return _start_linking(person_document=None)


@app.route("/link/start", methods=["POST"], content_types=["application/x-www-form-urlencoded"])
def link_start_with_document() -> Response:
    """The same, with the person's document the bank's consent needs (Brazil's CPF)."""
    from urllib.parse import parse_qs

    form = parse_qs(_raw_body(_current_request()).decode("utf-8", "replace"))
    return _start_linking(person_document=(form.get("document") or [""])[0][:64])


def _start_linking(*, person_document: str | None) -> Response:
    from chalicelib.auth import linking, pages
    from chalicelib.auth.exceptions import PersonDocumentNeeded
    from chalicelib.connectors.base import Customer
    from chalicelib.conversation.bank_connectors import load_connector

    request = _current_request()
    query: Mapping[str, str] = request.query_params or {}
    # FAPI banks want the customer's address on consent calls (Berlin Group requires it).
    source_ip = (request.context.get("identity") or {}).get("sourceIp") or "127.0.0.1"
    customer = Customer(ip_address=source_ip, user_agent=request.headers.get("user-agent"))
    try:
        platform = linking.platform_login(query)
        base_url = linking.public_base_url_of_request(request.context, request.headers)
        started = linking.start(
            query.get("token"),
            load_connector,
            customer,
            linking.callback_url(base_url),
            browser_cookie=request.headers.get("cookie"),
            platform=platform,
            person_document=person_document,
        )
    except PersonDocumentNeeded as needed:
        body = pages.document_page(needed.bank_name, needed.kind, retry=needed.retry)
        return Response(body=body, status_code=200, headers=dict(pages.FORM_HEADERS))
    except (RedirectRefused, LinkingError) as error:
        problem = http_problem(error)
        return _html(problem.status, pages.page("This link can't be used", problem.message))
    return _redirect(started.location, {"Set-Cookie": started.set_cookie})


@app.route("/oauth/callback", methods=["GET"])
def oauth_callback() -> Response:
    """The bank's redirect back: check the browser, then link, or show the code to type in chat."""
    from chalicelib.auth import linking, pages
    from chalicelib.conversation.bank_connectors import load_connector
    from chalicelib.conversation.link_notifications import notify_link_result
    from chalicelib.privacy import step_up
    from chalicelib.settings import get_settings
    from chalicelib.store.links import LinkRepository

    request = _current_request()
    query = dict(request.query_params or {})
    if step_up.owns_state(query.get("state")):  # a fresh sign-in to confirm "Yes, it was me"
        return _finish_step_up(request, query)
    settings = get_settings()
    try:
        base_url = linking.public_base_url_of_request(request.context, request.headers)
        outcome = linking.complete(
            query,
            load_connector,
            LinkRepository(settings.table_name),
            linking.callback_url(base_url),
            browser_cookie=request.headers.get("cookie"),
        )
    except LinkingError as error:
        problem = http_problem(error)
        return _html(problem.status, pages.page("This sign-in can't be used", problem.message))
    notify_link_result(outcome)
    response = _callback_response(outcome, settings.link_confirmation_ttl_seconds // 60)
    kept = linking.kept_browser_cookie(
        outcome, request.headers.get("cookie"), linking.callback_url(base_url)
    )
    if kept is not None:  # the browser that linked opens the person's private views
        response.headers["Set-Cookie"] = kept
    return response


def _callback_response(outcome: LinkOutcome, minutes: int) -> Response:
    from chalicelib.auth import linking, pages
    from chalicelib.auth.confirmation import display_code

    redirect = linking.platform_redirect_url(outcome)
    if redirect is not None:
        return _redirect(redirect)
    if outcome.awaiting_code and outcome.code is not None:
        code = display_code(outcome.code)
        return _html(200, pages.code_page(outcome.institution_name, code, minutes))
    if outcome.linked:
        return _html(200, pages.linked_page(outcome.institution_name))
    return _html(200, pages.not_linked_page(outcome.institution_name, outcome.reason))


@app.route("/step-up/start", methods=["GET"])
def step_up_start() -> Response:
    """Take the chat's step-up token and send the browser to the bank's fresh sign-in."""
    from chalicelib.auth import linking, pages
    from chalicelib.connectors.base import Customer
    from chalicelib.conversation.bank_connectors import load_connector
    from chalicelib.privacy import step_up

    request = _current_request()
    query: Mapping[str, str] = request.query_params or {}
    source_ip = (request.context.get("identity") or {}).get("sourceIp") or "127.0.0.1"
    customer = Customer(ip_address=source_ip, user_agent=request.headers.get("user-agent"))
    try:
        base_url = linking.public_base_url_of_request(request.context, request.headers)
        started = step_up.start(
            query.get("token"),
            load_connector,
            customer,
            linking.callback_url(base_url),
            browser_cookie=request.headers.get("cookie"),
        )
    except LinkingError as error:
        problem = http_problem(error)
        return _html(problem.status, pages.page("This button can't be used", problem.message))
    return _redirect(started.location, {"Set-Cookie": started.set_cookie})


def _finish_step_up(request: Request, query: dict[str, str]) -> Response:
    """The bank's redirect back from a step-up sign-in: confirm the held "Yes", or say why not."""
    from functools import partial

    from chalicelib.auth import linking, pages
    from chalicelib.conversation.bank_connectors import load_connector
    from chalicelib.events.answers import answer_fraud_question
    from chalicelib.privacy import step_up

    forward_yes = partial(answer_fraud_question, confirmed=True, final_attempt=True)
    try:
        base_url = linking.public_base_url_of_request(request.context, request.headers)
        result = step_up.complete(
            query,
            load_connector,
            linking.callback_url(base_url),
            lambda user, reference, event_id: forward_yes(user, reference, event_id=event_id),
            browser_cookie=request.headers.get("cookie"),
        )
    except LinkingError as error:
        problem = http_problem(error)
        return _html(problem.status, pages.page("This sign-in can't be used", problem.message))
    return _html(200, pages.page(result.title, result.message))


@app.route("/private/{token}", methods=["GET"])
def private_view(token: str) -> Response:
    """A one-time private page (figures kept out of the chat), in a browser proven the person's."""
    from chalicelib.auth import linking
    from chalicelib.privacy.private_page import open_view

    request = _current_request()
    try:
        base_url = linking.public_base_url_of_request(request.context, request.headers)
    except LinkingError as error:
        return _text(http_problem(error).status, "Private pages aren't available right now.")
    page = open_view(token, cookie_header=request.headers.get("cookie"), public_base_url=base_url)
    return Response(body=page.body, status_code=page.status, headers=dict(page.headers))


@app.on_sqs_message(queue=INBOUND_QUEUE, batch_size=10)
def handle_inbound_events(event: SQSEvent) -> dict[str, Any]:
    """Answer queued chat events, reporting failures per record."""
    from chalicelib.conversation.worker import WorkerServices, handle_batch
    from chalicelib.events.answers import answer_fraud_question

    services = WorkerServices.from_settings(answer_fraud=answer_fraud_question)
    return handle_batch(event.to_dict(), event.context, services)


if os.environ.get("_HANDLER") == "app.handle_inbound_events":
    # Lambda's init phase in the inbound worker's container: its clients, secrets, bank list and
    # reply models get ready here instead of in the first message (`_HANDLER` names the handler).
    from chalicelib.conversation.worker import (
        prepare_container,  # lazy: only the inbound worker's containers load it at init
    )

    prepare_container()


@app.route(
    "/banks/{institution_id}/events",
    methods=["POST"],
    content_types=["application/json", "application/jwt", "text/plain"],
)
def bank_events(institution_id: str) -> Response:
    """A bank's signed event (FDX notification, UK OB SET): verify, validate, queue, ack."""
    from chalicelib.events.ingest import receive

    request = _current_request()
    answer = receive(institution_id, _raw_body(request), request.headers)
    return Response(body=answer.body, status_code=answer.status, headers=dict(answer.headers))


@app.on_sqs_message(queue=EVENTS_QUEUE, batch_size=10)
def handle_bank_events(event: SQSEvent) -> dict[str, Any]:
    """Fan bank events out to the linked users' chats, reporting failures per record."""
    from chalicelib.events.fanout import handle_batch

    return handle_batch(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.DAYS))
def daily_consent_check(event: CloudWatchEvent) -> None:
    """Remind people whose bank consent ends within a week; remove links whose consent ended."""
    from chalicelib.events.consent_schedule import run_daily

    with failures_logged("daily_consent_check"):
        run_daily()


@app.schedule(Rate(5, unit=Rate.MINUTES))
def pending_link_sweep(event: CloudWatchEvent) -> None:
    """Revoke at the bank every consent whose linking code expired unconfirmed."""
    from chalicelib.auth.confirmation import sweep_expired
    from chalicelib.conversation.bank_connectors import load_connector

    with failures_logged("pending_link_sweep"):
        sweep_expired(load_connector)
