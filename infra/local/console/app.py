"""The console's Flask app: the page, its JSON API, and Messenger's account-linking hops.

People are on Messenger (`psid` a page-scoped id), Instagram (`psid` an Instagram-scoped
id) or WhatsApp (`psid` their WhatsApp id, a phone number); what they type or tap is
posted to that channel's webhook.

JSON API (all under /api; POST bodies must be `application/json`, which keeps
other local pages from posting here without a CORS preflight):
  GET    /api/users                            people with what they sent
  POST   /api/users {"name"?, "channel"?}      add a person (fresh PSID, IGSID or WhatsApp
      number; channel "messenger", the default, "instagram" or "whatsapp")        → 201
  DELETE /api/users/<psid>                     remove a person                    → 204
  POST   /api/users/<psid>/messages            type/tap (see `ChatAction`)       → 201 record
  GET    /api/users/<psid>/replies             the bot's Send API bodies to one person
  GET    /api/replies/stream[?after=SEQ]       everyone's, as Server-Sent Events (`reply`,
      id = seq; resumes after `Last-Event-ID`, else after `after`, default 0) → 503 when full
  GET    /api/users/<psid>/traces              per-message log traces
  POST   /api/users/<psid>/bank-events {"type", "customer"}  sandbox bank event → 201 record
  GET    /api/logs?after=SEQ                   redacted log lines of every component
  GET    /api/status                           services and connectors
  POST   /api/connectors/<id>/check            live connector check
  GET    /api/bank/customers                   sandbox customers to aim events at
  GET    /api/whatsapp/templates               the approved templates' body and button texts
      (a template send names only the template; WhatsApp shows the approved words)
Messenger hops (what Messenger does around a Log In button):
  GET /messenger/account-link?psid=P&url=U     → 302 to U + account_linking_token + redirect_uri
      (the token is issued by the Graph stand-in, which answers the app's PSID lookup for it)
  GET /messenger_platform/account_linking/?account_linking_token=T[&authorization_code=C]
      the redirect_uri: with a code, posts the `account_linking` webhook and says so.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, jsonify, redirect, request, send_from_directory
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from infra.local.console import payloads, whatsapp_payloads
from infra.local.console.bank_events import SandboxBank
from infra.local.console.config import ConsoleConfig
from infra.local.console.linking_tokens import LinkingTokensUnavailable, issue_from_graph
from infra.local.console.log_reader import LogTail, SecretScrubber
from infra.local.console.pseudonyms import StackPseudonyms
from infra.local.console.reply_feed import GraphUnavailable, ReplyFeed, ReplyStreams, TooManyStreams
from infra.local.console.requests_models import BankEventRequest, ChatAction, NewUser
from infra.local.console.sessions import ConsoleSessions, SentRecord, SimulatedUser
from infra.local.console.status import AdminClient, services
from infra.local.console.traces import build_traces
from infra.local.console.webhook_sender import WebhookSender

STATIC_DIR = Path(__file__).parent / "static"
LINKING_CALLBACK = "/messenger_platform/account_linking/"
CONSOLE_EXTENSION = "bankbridge_console"
ModelT = TypeVar("ModelT", bound=BaseModel)


class BadRequest(Exception):
    """Input the console cannot act on; answered as JSON with `status`."""

    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []


@dataclass
class Console:
    """The console's collaborators, shared by its routes."""

    config: ConsoleConfig
    sessions: ConsoleSessions
    sender: WebhookSender
    feed: ReplyFeed
    streams: ReplyStreams
    logs: LogTail
    admin: AdminClient
    bank: SandboxBank
    pseudonyms: StackPseudonyms

    @classmethod
    def for_config(cls, config: ConsoleConfig) -> Console:
        """Wire everything for one running stack, with the configured starting users."""
        sessions = ConsoleSessions()
        for name in config.initial_users:
            sessions.add_user(name)
        scrub = SecretScrubber([config.app_secret, config.admin_token, *config.extra_secrets])
        feed = ReplyFeed(config.graph_url, sessions.sender_of_message)
        sender = WebhookSender(
            config.api_url,
            config.app_secret,
            config.page_id,
            config.whatsapp_phone_number_id,
            config.instagram_account_id,
        )
        return cls(
            config=config,
            sessions=sessions,
            sender=sender,
            feed=feed,
            streams=ReplyStreams(feed, lambda: {user.psid for user in sessions.users()}),
            logs=LogTail(config.log_dir, scrub),
            admin=AdminClient(config.api_url, config.admin_token),
            bank=SandboxBank(config.bank_url),
            pseudonyms=StackPseudonyms(config.aws_url, config.reference_key_name),
        )

    def user_or_404(self, psid: str) -> SimulatedUser:
        """The simulated person, or a 404 for the browser."""
        user = self.sessions.get(psid)
        if user is None:
            raise BadRequest(404, f"no simulated user {psid}")
        return user


def create_app(config: ConsoleConfig) -> Flask:
    """Build the console for one running stack."""
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    console = Console.for_config(config)
    app.extensions[CONSOLE_EXTENSION] = console

    @app.errorhandler(BadRequest)
    def bad_request(error: BadRequest) -> tuple[Response, int]:
        return jsonify({"error": error.message, "details": error.details}), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify({"error": error.description or error.name}), error.code or 500

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC_DIR, "index.html")

    _register_chat_routes(app, console)
    _register_operations_routes(app, console)
    _register_linking_routes(app, console)
    return app


def stop_streams(app: Flask) -> None:
    """End the app's reply streams, so a stopping server never waits on an open page."""
    console: Console = app.extensions[CONSOLE_EXTENSION]
    console.streams.close()


def _register_chat_routes(app: Flask, console: Console) -> None:
    """People, what they send, and what the bot answers."""
    sessions = console.sessions

    @app.get("/api/users")
    def list_users() -> Response:
        return jsonify({"users": [_user_json(user, sessions) for user in sessions.users()]})

    @app.post("/api/users")
    def add_user() -> tuple[Response, int]:
        body = _body(NewUser)
        return jsonify(_user_json(sessions.add_user(body.name, body.channel), sessions)), 201

    @app.delete("/api/users/<psid>")
    def remove_user(psid: str) -> tuple[str, int]:
        if not sessions.remove_user(psid):
            raise BadRequest(404, f"no simulated user {psid}")
        return "", 204

    @app.post("/api/users/<psid>/messages")
    def send_message(psid: str) -> tuple[Response, int]:
        user = console.user_or_404(psid)
        action = _body(ChatAction)
        if user.channel == "whatsapp":
            record = _perform_on_whatsapp(action, user, console.sender)
        else:
            record = _perform(action, user, console.sender)
        sessions.record(record)
        return jsonify(_record_json(record)), 201

    @app.get("/api/users/<psid>/replies")
    def replies(psid: str) -> Response | tuple[Response, int]:
        console.user_or_404(psid)
        try:
            entries = console.feed.replies(psid)
        except GraphUnavailable as error:
            return jsonify({"error": str(error)}), 502
        return jsonify({"replies": entries})

    @app.get("/api/replies/stream")
    def reply_stream() -> Response:
        after = _resume_point()
        try:
            events = console.streams.open(after)
        except TooManyStreams as error:
            answer = jsonify({"error": str(error)})
            answer.status_code = 503
            answer.headers["Retry-After"] = "5"
            return answer
        return Response(events, mimetype="text/event-stream")

    @app.post("/api/users/<psid>/bank-events")
    def bank_event(psid: str) -> tuple[Response, int]:
        console.user_or_404(psid)
        body = _body(BankEventRequest)
        record = SentRecord(
            psid=psid,
            kind="bank_event",
            label=f"bank event {body.type} for {body.customer}",
            target="bank",
            result=console.bank.fire(body.type, body.customer),
        )
        sessions.record(record)
        return jsonify(_record_json(record)), 201

    @app.get("/api/bank/customers")
    def customers() -> Response:
        return jsonify({"customers": console.bank.customers()})

    @app.get("/api/whatsapp/templates")
    def whatsapp_templates() -> Response:
        return jsonify({"templates": whatsapp_payloads.approved_templates()})


def _register_operations_routes(app: Flask, console: Console) -> None:
    """Traces, raw log lines and the status strip."""

    @app.get("/api/users/<psid>/traces")
    def traces(psid: str) -> Response:
        console.user_or_404(psid)
        sent = console.sessions.sent_by(psid)
        logged_as = _worker_ids(sent, console.pseudonyms)
        try:
            replies_so_far = console.feed.replies(psid)
        except GraphUnavailable:
            replies_so_far = []
        logs = console.logs.correlated(set(logged_as.values()))
        built = build_traces(sent, logs, replies_so_far, logged_as)
        return jsonify({"traces": [trace.model_dump() for trace in built]})

    @app.get("/api/logs")
    def log_lines() -> Response:
        entries = console.logs.entries(after=_int_arg("after", 0))
        return jsonify({"entries": [entry.model_dump() for entry in entries]})

    @app.get("/api/status")
    def status() -> Response:
        found = services(console.config.service_urls())
        return jsonify(
            {
                "services": [item.model_dump() for item in found],
                "connectors": console.admin.connectors().model_dump(),
            }
        )

    @app.post("/api/connectors/<institution_id>/check")
    def check(institution_id: str) -> Response:
        return jsonify(console.admin.check(institution_id).model_dump())


def _worker_ids(sent: list[SentRecord], pseudonyms: StackPseudonyms) -> dict[str, str]:
    """The id the worker logs each sent message under, by the id the console sent: a
    Messenger `mid` as is, a WhatsApp `wamid` as its keyed pseudonym (when the key is known)."""
    keyed = pseudonyms.get() if any(r.channel == "whatsapp" for r in sent) else None
    ids: dict[str, str] = {}
    for record in sent:
        mid = record.result.mid
        if mid is None:
            continue
        if record.channel != "whatsapp":
            ids[mid] = mid
        elif keyed is not None:
            ids[mid] = keyed.event_id(mid)
    return ids


def _register_linking_routes(app: Flask, console: Console) -> None:
    """What Messenger does around a Log In button (research/messenger.md §3.1)."""
    sessions = console.sessions

    @app.get("/messenger/account-link")
    def open_account_link() -> Response:
        psid = request.args.get("psid", "")
        url = request.args.get("url", "")
        console.user_or_404(psid)
        if urlsplit(url).scheme not in ("http", "https"):
            raise BadRequest(400, "the Log In button's url must be http(s)")
        try:
            token = issue_from_graph(console.config.graph_url, psid)
        except LinkingTokensUnavailable as error:
            raise BadRequest(502, str(error)) from error
        sessions.remember_linking_token(psid, token)
        callback = (
            request.host_url.rstrip("/")
            + LINKING_CALLBACK
            + "?"
            + urlencode({"account_linking_token": token})
        )
        separator = "&" if urlsplit(url).query else "?"
        params = urlencode({"account_linking_token": token, "redirect_uri": callback})
        return redirect(f"{url}{separator}{params}", code=302)

    @app.get(LINKING_CALLBACK)
    def account_linking_callback() -> Response:
        psid = sessions.redeem_linking_token(request.args.get("account_linking_token", ""))
        if psid is None:
            return _linking_page(
                "Link expired", "This login link is unknown or expired. Tap Log In again.", 400
            )
        code = request.args.get("authorization_code")
        if not code:
            return _linking_page(
                "Linking cancelled", "No bank was linked. You can close this tab.", 200
            )
        event = payloads.account_linked_event(psid, code, console.config.page_id)
        result = console.sender.post(event)
        sessions.record(
            SentRecord(
                psid=psid, kind="account_linking", label="account linking (linked)", result=result
            )
        )
        if result.status != 200:
            return _linking_page(
                "Linking not delivered",
                f"BankBridge answered the account-linking webhook with {result.status}.",
                502,
            )
        return _linking_page(
            "Account linked", "Return to the conversation: the bot will confirm there.", 200
        )


WHATSAPP_TAPS = ("button_reply", "list_reply", "template_button")
"""What a WhatsApp person can tap: a reply button, a list row, a template's quick reply."""


def _perform_on_whatsapp(
    action: ChatAction, user: SimulatedUser, sender: WebhookSender
) -> SentRecord:
    """Build, sign and post the webhook WhatsApp would send for `action`."""
    wa_id, title, payload = user.psid, action.title or "", action.payload or ""
    if action.kind == "text":
        title = (action.text or "").strip()
        message = whatsapp_payloads.text_message(wa_id, title)
    elif action.kind == "button_reply":
        message = whatsapp_payloads.button_reply_message(wa_id, payload, title)
    elif action.kind == "list_reply":
        message = whatsapp_payloads.list_reply_message(wa_id, payload, title)
    elif action.kind == "template_button":
        message = whatsapp_payloads.template_button_message(wa_id, payload, title)
    else:
        raise BadRequest(422, f"a {action.kind} is Messenger's; WhatsApp has no such tap")
    label = f"WhatsApp {action.kind.replace('_', ' ')}" + (f" {payload}" if payload else "")
    return SentRecord(
        psid=wa_id, kind=action.kind, label=label, bubble=title, channel="whatsapp",
        result=sender.post_whatsapp(message, user.name),
    )  # fmt: skip


def _perform(action: ChatAction, user: SimulatedUser, sender: WebhookSender) -> SentRecord:
    """Build, sign and post the event a Messenger (or Instagram) client would produce for
    `action`: the two deliver the same `messaging[]` events to their own webhooks."""
    instagram = user.channel == "instagram"
    platform = payloads.INSTAGRAM if instagram else payloads.MESSENGER
    shown = "Instagram" if instagram else "Messenger"
    if action.kind in WHATSAPP_TAPS:
        raise BadRequest(422, f"a {action.kind} is WhatsApp's; {shown} has no such tap")
    if instagram and action.kind == "account_unlink":
        raise BadRequest(422, "Instagram has no Log Out button (account_unlink is Messenger's)")
    psid, account_id = user.psid, sender.account_ids[platform]
    title, payload = action.title or "", action.payload or ""
    if action.kind == "text":
        title = (action.text or "").strip()
        event = payloads.text_event(psid, title, account_id, platform)
        kind, label = "text", "text message"
    elif action.kind == "quick_reply":
        event = payloads.quick_reply_event(psid, title, payload, account_id, platform)
        kind, label = "quick_reply", f"quick reply {payload}"
    elif action.kind == "postback":
        event = payloads.postback_event(psid, title, payload, account_id, platform)
        kind, label = "postback", f"postback {payload}"
    else:
        event = payloads.account_unlinked_event(psid, account_id)
        kind, label, title = "account_linking", "account linking (unlinked)", "Log Out"
    return SentRecord(
        psid=psid, kind=kind, label=f"Instagram {label}" if instagram else label, bubble=title,
        channel=user.channel, result=sender.post(event, platform),
    )  # fmt: skip


def _body(model: type[ModelT]) -> ModelT:
    if not request.is_json:
        raise BadRequest(415, "send JSON (Content-Type: application/json)")
    raw = request.get_data()
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as error:
        details = [
            f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}"
            for item in error.errors(include_url=False, include_input=False)
        ]
        status = 400 if any(item["type"] == "json_invalid" for item in error.errors()) else 422
        raise BadRequest(status, "invalid request body", details) from None


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(400, f"{name} must be an integer") from None
    if number < 0:
        raise BadRequest(400, f"{name} must not be negative")
    return number


def _resume_point() -> int:
    """Where a reply stream starts: after `Last-Event-ID` (a reconnect), else after `after`."""
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id is None:
        return _int_arg("after", 0)
    if not last_event_id.isdigit():
        raise BadRequest(400, "Last-Event-ID must be a reply's seq")
    return int(last_event_id)


def _record_json(record: SentRecord) -> dict[str, Any]:
    return record.model_dump(exclude={"psid"})


def _user_json(user: SimulatedUser, sessions: ConsoleSessions) -> dict[str, Any]:
    return {**user.model_dump(), "sent": [_record_json(r) for r in sessions.sent_by(user.psid)]}


def _linking_page(title: str, message: str, status: int) -> Response:
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · BankBridge console</title><link rel="stylesheet" href="/static/console.css"></head>
<body class="linking-page"><main><h1>{html.escape(title)}</h1><p data-testid="linking-result">{html.escape(message)}</p></main></body></html>
"""  # noqa: E501
    return Response(page, status=status, mimetype="text/html")
