"""A local stand-in for Meta's Graph Send API, spoken to exactly as to graph.facebook.com.

Point `BANKBRIDGE_GRAPH_API_BASE` at it and the app's Messenger channel sends here in
local development; tests and the e2e suite read back what was "delivered".

Send endpoints (messenger.md §2.1), checked in Meta's order:
  POST /{version}/me/messages, POST /{version}/{page_id}/messages  (version like v25.0)
  1. page access token from `?access_token=` or `Authorization: Bearer|OAuth <token>`;
     missing or wrong → HTTP 400, OAuthException code 190 (Meta answers token errors
     with 400 plus a `WWW-Authenticate` header, which is mirrored here);
  2. `?appsecret_proof=` = hex HMAC-SHA256(app_secret, access_token), required as with
     Meta's "Require App Secret" setting; missing or wrong → code 100;
  3. the JSON body, validated by `send_api_validation` → code 100 (subcode 1893061 for
     the deprecated message tags);
  4. a queued fault, if any (below), replaces the success;
  5. success: `{"recipient_id", "message_id": "m_..."}` (sender actions: no message_id;
     `user_ref` recipients: no recipient_id), and the body is recorded.
  Every error uses Meta's envelope `{"error": {"message", "type", "code",
  "error_subcode"?, "fbtrace_id"}}`.

WhatsApp Cloud API send (messenger.md §4.2), on the configured business phone number id:
  POST /{version}/{phone_number_id}/messages  (any other id is a Messenger Page, as above)
  1-2. the WhatsApp access token (its own, `--whatsapp-token`) and its `appsecret_proof`,
     checked as above;
  3. the JSON body, validated by `send_api_validation.validate_whatsapp_request` → code 100;
  4. a queued fault, if any, replaces the success (`recipient` is then the number `to`,
     and `messages_only` lets read receipts and typing indicators pass); a `late` one
     lets the send succeed unrecorded and reports it failed afterwards (`POST /__faults`);
  5. success: `{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}],
     "messages": [{"id": "wamid...."}]}` (a template adds `"message_status": "accepted"`;
     a read receipt or typing indicator answers `{"success": true}`), and the body is
     recorded; `GET /__sent?recipient=<number>` finds it by `to`.

Instagram Messaging send (messenger.md §4.3), on the configured professional account id:
  POST /{version}/{instagram_account_id}/messages  (the app points its Instagram API base here)
  1-2. the Instagram access token (its own, `--instagram-token`) and its `appsecret_proof`,
     checked as above;
  3. the JSON body, validated by `send_api_validation.validate_instagram_request` → code 100;
  4-5. a queued fault, or success `{"recipient_id", "message_id"}`, as for Messenger.

Account linking (messenger.md §3.2):
  GET /{version}/me?fields=recipient&account_linking_token=T  (page token, appsecret_proof)
      → {"id": <page id>, "recipient": <PSID>} for a token issued below and under five
        minutes old; unknown or expired → HTTP 400, code 10301 ("Account linking token
        expired"), as Meta answers.

Control endpoints (not part of Meta's API; all JSON):
  GET    /__health             → 200 {"status": "ok"}
  GET    /__sent[?recipient=P] → accepted request bodies as received, oldest first, each
                                 with "received_at" (ISO 8601 UTC) added; filtered by
                                 recipient id when `recipient` is given
  DELETE /__sent               → forget them; {"cleared": n}
  POST   /__faults             → queue errors for retry tests, e.g.
         {"errors": [{"status": 500, "code": 2, "error_subcode": null, "message": "..."}]}
         Each queued error answers one later send that would otherwise have been accepted
         (it is not recorded), in order. Per error: `code` required; `status` (400-599,
         default 500), `error_subcode`, `message`, `type` (default OAuthException) optional;
         `recipient` (a PSID) keeps the error for sends to that person, and
         `messages_only: true` lets sender actions (typing) pass, so a soak run can fail
         one person's reply exactly. `late: true` (WhatsApp sends only) answers the send
         as accepted, does not record it, and then posts a signed `failed` status with
         the fault's code to the API's WhatsApp webhook (`--whatsapp-webhook-url`), as the
         Cloud API reports a closed window (131047) after accepting a free-form message.
         → {"pending": n}
  GET    /__faults             → {"pending": [...]} the errors not yet used
  DELETE /__faults             → drop them; {"cleared": n}
  POST   /__account_linking_tokens {"psid": P}
                               → {"account_linking_token": T}: what Messenger appends to a
                                 Log In button's URL for person P (the console asks here)

Run: `python -m infra.local.graph_standin --port 8002 --host 127.0.0.1`; the page token
and app secret come from `--page-token` / `--app-secret`, else BANKBRIDGE_DEV_PAGE_TOKEN /
BANKBRIDGE_DEV_APP_SECRET, else `dev-page-token` / `dev-app-secret`; WhatsApp's access
token and phone number id from `--whatsapp-token` / `--phone-number-id`, else
BANKBRIDGE_DEV_WHATSAPP_TOKEN / BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID, else
`dev-whatsapp-token` / `1000000000000002`; Instagram's from `--instagram-token` /
`--instagram-account-id`, else BANKBRIDGE_DEV_INSTAGRAM_TOKEN /
BANKBRIDGE_DEV_INSTAGRAM_ACCOUNT_ID, else `dev-instagram-token` / `1000000000000003`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeAlias

import requests
from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from werkzeug.exceptions import HTTPException

from infra.local import serving
from infra.local.graph_errors import (
    INVALID_OAUTH_TOKEN,
    INVALID_PARAMETER,
    UNKNOWN_PATH,
    GraphApiError,
)
from infra.local.send_api_validation import (
    AcceptedSend,
    validate_instagram_request,
    validate_send_request,
    validate_whatsapp_request,
)

logger = logging.getLogger(__name__)

DEFAULT_PAGE_TOKEN = "dev-page-token"  # noqa: S105 - the documented local-dev default
DEFAULT_APP_SECRET = "dev-app-secret"  # noqa: S105 - the documented local-dev default
DEFAULT_PORT = 8002
DEFAULT_PAGE_ID = "1000000000000001"  # the console's simulated Page
DEFAULT_WHATSAPP_TOKEN = "dev-whatsapp-token"  # noqa: S105 - the documented local-dev default
DEFAULT_PHONE_NUMBER_ID = "1000000000000002"  # the console's simulated WhatsApp business number
DEFAULT_INSTAGRAM_TOKEN = "dev-instagram-token"  # noqa: S105 - the documented local-dev default
DEFAULT_INSTAGRAM_ACCOUNT_ID = "1000000000000003"  # the simulated Instagram professional account
GRAPH_VERSION = re.compile(r"v\d+\.\d+")
ACCOUNT_LINKING_TOKEN_SECONDS = 300  # Meta: "only valid for 5 minutes"
ACCOUNT_LINKING_TOKEN_EXPIRED = 10301
LATE_STATUS_SECONDS = 0.5
"""How long after accepting a send a `late` fault reports it failed (Meta reports later)."""


class InjectedFault(BaseModel):
    """One error to answer a later send with, as queued through `POST /__faults`."""

    model_config = ConfigDict(extra="forbid")

    code: int
    status: int = Field(default=500, ge=400, le=599)
    error_subcode: int | None = None
    message: str = "An unexpected error has occurred. Please retry your request later."
    type: str = "OAuthException"
    recipient: str | None = Field(default=None, min_length=1, max_length=256)
    messages_only: bool = False
    late: bool = False
    """WhatsApp only: accept the send (200 and a `wamid`), then report it `failed` with this
    code in a signed status webhook, as the Cloud API does for 131047."""

    def applies_to(self, recipient_id: str | None, is_sender_action: bool) -> bool:
        """Whether this fault may answer a send to `recipient_id` of this kind."""
        if self.messages_only and is_sender_action:
            return False
        return self.recipient is None or self.recipient == recipient_id

    def as_error(self) -> GraphApiError:
        """Turn the fault into the error the send endpoint raises."""
        return GraphApiError(
            self.message,
            code=self.code,
            http_status=self.status,
            error_subcode=self.error_subcode,
            error_type=self.type,
        )


class FaultRequest(BaseModel):
    """Body of `POST /__faults`."""

    model_config = ConfigDict(extra="forbid")

    errors: list[InjectedFault] = Field(min_length=1)


class SentLog:
    """Accepted send bodies, oldest first; shared by the server's request threads."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, body: dict[str, Any]) -> None:
        """Keep `body` as received, stamped with the time it arrived."""
        entry = {**body, "received_at": datetime.now(UTC).isoformat()}
        with self._lock:
            self._entries.append(entry)

    def entries(self, recipient_id: str | None = None) -> list[dict[str, Any]]:
        """Every recorded body, or only those addressed to `recipient_id`."""
        with self._lock:
            entries = list(self._entries)
        if recipient_id is None:
            return entries
        return [entry for entry in entries if _recipient_id_of(entry) == recipient_id]

    def clear(self) -> int:
        """Forget everything; return how many bodies were dropped."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
        return count


class FaultQueue:
    """Errors waiting to replace the next successful sends, first in first out."""

    def __init__(self) -> None:
        self._faults: deque[InjectedFault] = deque()
        self._lock = threading.Lock()

    def extend(self, faults: list[InjectedFault]) -> int:
        """Queue `faults` after any already waiting; return how many are pending."""
        with self._lock:
            self._faults.extend(faults)
            return len(self._faults)

    def take(
        self, recipient_id: str | None = None, is_sender_action: bool = False
    ) -> InjectedFault | None:
        """Remove and return the oldest fault that applies to this send, if one is waiting."""
        with self._lock:
            for fault in self._faults:
                if fault.applies_to(recipient_id, is_sender_action):
                    self._faults.remove(fault)
                    return fault
            return None

    def pending(self) -> list[InjectedFault]:
        """The faults not yet used, in the order they will be used."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> int:
        """Drop every pending fault; return how many were dropped."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
        return count


class StatusReporter:
    """Posts WhatsApp status webhooks to the API, signed with the app secret as Meta signs them.

    A late failure is reported from its own thread once the send has been answered:
    the Cloud API reports a message's status only after accepting it, and the sender
    learns the `wamid` from that answer.
    """

    def __init__(self, webhook_url: str, app_secret: str, phone_number_id: str) -> None:
        self._webhook_url = webhook_url
        self._app_secret = app_secret
        self._phone_number_id = phone_number_id

    def report_failed_later(self, wamid: str, to: str, fault: InjectedFault) -> None:
        """Post the `failed` status of `wamid` after `LATE_STATUS_SECONDS`, in the background."""
        body = json.dumps(self.failed_status(wamid, to, fault), separators=(",", ":")).encode()
        threading.Timer(LATE_STATUS_SECONDS, self._post, args=(body,)).start()

    def failed_status(self, wamid: str, to: str, fault: InjectedFault) -> dict[str, Any]:
        """The status webhook Meta sends for a message it accepted and then could not deliver
        (WhatsApp webhooks reference: `statuses[]` with `errors[]`)."""
        status = {
            "id": wamid,
            "status": "failed",
            "timestamp": str(int(time.time())),
            "recipient_id": to.removeprefix("+"),
            "errors": [
                {
                    "code": fault.code,
                    "title": fault.message,
                    "message": fault.message,
                    "error_data": {"details": fault.message},
                }
            ],
        }
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550000000",
                "phone_number_id": self._phone_number_id,
            },
            "statuses": [status],
        }
        change = {"field": "messages", "value": value}
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self._phone_number_id, "changes": [change]}],
        }

    def _post(self, body: bytes) -> None:
        signature = hmac.new(self._app_secret.encode(), body, hashlib.sha256).hexdigest()
        try:
            answer = requests.post(
                self._webhook_url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": f"sha256={signature}",
                },
                timeout=10,
            )
        except requests.RequestException as error:
            logger.warning("graph stand-in: late status not delivered: %s", error)
            return
        logger.info("graph stand-in: reported a failed status, API answered %s", answer.status_code)


class AccountLinkingTokenRequest(BaseModel):
    """Body of `POST /__account_linking_tokens`."""

    model_config = ConfigDict(extra="forbid")

    psid: str = Field(min_length=1, max_length=256)


class AccountLinkingTokens:
    """Issued `account_linking_token`s and whose they are, each for five minutes."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, psid: str) -> str:
        """A fresh opaque token for `psid`."""
        token = "alt_" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (psid, time.monotonic() + ACCOUNT_LINKING_TOKEN_SECONDS)
        return token

    def psid_of(self, token: str) -> str | None:
        """The PSID a live token was issued for; None when unknown or expired."""
        with self._lock:
            psid, expires = self._tokens.get(token, ("", 0.0))
        return psid if psid and time.monotonic() < expires else None


def create_app(
    page_token: str,
    app_secret: str,
    *,
    whatsapp_token: str = DEFAULT_WHATSAPP_TOKEN,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    instagram_token: str = DEFAULT_INSTAGRAM_TOKEN,
    instagram_account_id: str = DEFAULT_INSTAGRAM_ACCOUNT_ID,
    whatsapp_webhook_url: str | None = None,
) -> Flask:
    """Build the stand-in WSGI app accepting `page_token` (Messenger), `whatsapp_token`
    (sends from the business number `phone_number_id`) and `instagram_token` (sends from
    the professional account `instagram_account_id`), each proven with `app_secret`.

    `whatsapp_webhook_url` is where late failures are reported (signed with `app_secret`,
    as Meta signs them); without it, `late` faults are refused."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # return bodies as received
    sent_log = SentLog()
    fault_queue = FaultQueue()
    expected_proof = appsecret_proof(page_token, app_secret)
    instagram_proof = appsecret_proof(instagram_token, app_secret)
    reporter = (
        StatusReporter(whatsapp_webhook_url, app_secret, phone_number_id)
        if whatsapp_webhook_url
        else None
    )
    send_whatsapp = _whatsapp_sender(
        whatsapp_token,
        appsecret_proof(whatsapp_token, app_secret),
        sent_log,
        fault_queue,
        reporter,
    )

    @app.errorhandler(GraphApiError)
    def graph_error(error: GraphApiError) -> Response:
        response = jsonify(error.envelope())
        response.status_code = error.http_status
        if error.code == INVALID_OAUTH_TOKEN:
            response.headers["WWW-Authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{error.message}"'
            )
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        # Unknown paths and methods get Meta's envelope too, never an HTML page.
        if error.code == 405:
            meta_error = GraphApiError(
                f"Unsupported {request.method.lower()} request.", code=INVALID_PARAMETER
            )
        else:
            meta_error = GraphApiError(
                f"Unknown path components: {request.path}", code=UNKNOWN_PATH
            )
        return graph_error(meta_error)

    def send(
        version: str,
        token: str = page_token,
        proof: str = expected_proof,
        validate: Callable[[Any], AcceptedSend] = validate_send_request,
    ) -> Response:
        if not GRAPH_VERSION.fullmatch(version):
            raise GraphApiError(f"Unknown path components: /{version}", code=UNKNOWN_PATH)
        _authenticate(token, proof)
        body = _parse_json_body()
        accepted = validate(body)
        fault = fault_queue.take(accepted.recipient_id, accepted.is_sender_action)
        if fault is not None:
            logger.info("graph stand-in: answering a send with injected fault code=%s", fault.code)
            raise fault.as_error()
        sent_log.record(body)
        logger.info(
            "graph stand-in: accepted %s (messaging_type=%s)",
            "sender_action" if accepted.is_sender_action else "message",
            body.get("messaging_type"),
        )
        result: dict[str, str] = {}
        if accepted.recipient_id is not None:
            result["recipient_id"] = accepted.recipient_id
        if not accepted.is_sender_action:
            result["message_id"] = "m_" + secrets.token_urlsafe(32)
        return jsonify(result)

    @app.post("/<version>/me/messages")
    def send_as_me(version: str) -> Response:
        return send(version)

    @app.post("/<version>/<page_id>/messages")
    def send_as_page(version: str, page_id: str) -> Response:
        if page_id == phone_number_id:
            return send_whatsapp(version)
        if page_id == instagram_account_id:
            return send(version, instagram_token, instagram_proof, validate_instagram_request)
        return send(version)

    _add_account_linking_routes(app, page_token, expected_proof)

    @app.get("/__health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/__sent")
    def list_sent() -> Response:
        return jsonify(sent_log.entries(request.args.get("recipient")))

    @app.delete("/__sent")
    def clear_sent() -> Response:
        return jsonify({"cleared": sent_log.clear()})

    _add_fault_routes(app, fault_queue, late_allowed=reporter is not None)

    return app


def _add_fault_routes(app: Flask, fault_queue: FaultQueue, *, late_allowed: bool) -> None:
    """`/__faults`: queue, list and drop injected errors (`late` ones only with a webhook URL)."""

    @app.post("/__faults")
    def queue_faults() -> Response | tuple[Response, int]:
        try:
            fault_request = FaultRequest.model_validate_json(request.get_data())
        except ValidationError as error:
            details = error.errors(include_url=False, include_input=False)
            return jsonify({"error": "invalid fault request", "details": details}), 400
        if not late_allowed and any(fault.late for fault in fault_request.errors):
            problem = "late faults need the stand-in started with --whatsapp-webhook-url"
            return jsonify({"error": problem}), 400
        return jsonify({"pending": fault_queue.extend(fault_request.errors)})

    @app.get("/__faults")
    def list_faults() -> Response:
        return jsonify({"pending": [fault.model_dump() for fault in fault_queue.pending()]})

    @app.delete("/__faults")
    def clear_faults() -> Response:
        return jsonify({"cleared": fault_queue.clear()})


def _whatsapp_sender(
    whatsapp_token: str,
    expected_proof: str,
    sent_log: SentLog,
    fault_queue: FaultQueue,
    reporter: StatusReporter | None,
) -> Callable[[str], Response]:
    """The Cloud API send, answered as Meta does; shares the log and faults with Messenger's."""

    def send_whatsapp(version: str) -> Response:
        if not GRAPH_VERSION.fullmatch(version):
            raise GraphApiError(f"Unknown path components: /{version}", code=UNKNOWN_PATH)
        _authenticate(whatsapp_token, expected_proof)
        body = _parse_json_body()
        accepted = validate_whatsapp_request(body)
        fault = fault_queue.take(accepted.to, accepted.is_status_update)
        if fault is not None and not fault.late:
            logger.info("graph stand-in: answering a send with injected fault code=%s", fault.code)
            raise fault.as_error()
        if fault is None:
            sent_log.record(body)  # a late fault's message never reaches the person
        logger.info(
            "graph stand-in: accepted WhatsApp %s", body.get("type") or "read/typing update"
        )
        if accepted.to is None:
            return jsonify({"success": True})
        message: dict[str, str] = {"id": "wamid." + secrets.token_urlsafe(32)}
        if accepted.is_template:
            message["message_status"] = "accepted"
        if fault is not None and reporter is not None:
            logger.info("graph stand-in: accepted a send to fail it late, code=%s", fault.code)
            reporter.report_failed_later(message["id"], accepted.to, fault)
        return jsonify(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": accepted.to, "wa_id": accepted.to.removeprefix("+")}],
                "messages": [message],
            }
        )

    return send_whatsapp


def _add_account_linking_routes(app: Flask, page_token: str, expected_proof: str) -> None:
    """Graph's PSID lookup for `account_linking_token`s, and the control route issuing them."""
    linking_tokens = AccountLinkingTokens()

    @app.get("/<version>/me")
    def who_linked(version: str) -> Response:
        if not GRAPH_VERSION.fullmatch(version):
            raise GraphApiError(f"Unknown path components: /{version}", code=UNKNOWN_PATH)
        _authenticate(page_token, expected_proof)
        token = request.args.get("account_linking_token", "")
        if request.args.get("fields") != "recipient" or not token:
            raise GraphApiError(
                "(#100) fields=recipient and account_linking_token are required",
                code=INVALID_PARAMETER,
            )
        psid = linking_tokens.psid_of(token)
        if psid is None:
            raise GraphApiError(
                "(#10301) Account linking token expired", code=ACCOUNT_LINKING_TOKEN_EXPIRED
            )
        return jsonify({"id": DEFAULT_PAGE_ID, "recipient": psid})

    @app.post("/__account_linking_tokens")
    def issue_linking_token() -> Response | tuple[Response, int]:
        try:
            issue = AccountLinkingTokenRequest.model_validate_json(request.get_data())
        except ValidationError as error:
            details = error.errors(include_url=False, include_input=False)
            return jsonify({"error": "invalid token request", "details": details}), 400
        return jsonify({"account_linking_token": linking_tokens.issue(issue.psid)})


def appsecret_proof(access_token: str, app_secret: str) -> str:
    """Meta's `appsecret_proof`: hex HMAC-SHA256 keyed with the app secret over the token."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


def _authenticate(page_token: str, expected_proof: str) -> None:
    """Check the access token, then its `appsecret_proof`, as the Graph API does."""
    token = request.args.get("access_token") or _bearer_token()
    if not token:
        raise GraphApiError(
            "An active access token must be used to query information about the current user.",
            code=INVALID_OAUTH_TOKEN,
        )
    if not hmac.compare_digest(token.encode(), page_token.encode()):
        raise GraphApiError(
            "Invalid OAuth access token - Cannot parse access token", code=INVALID_OAUTH_TOKEN
        )
    proof = request.args.get("appsecret_proof")
    if not proof:
        raise GraphApiError(
            "API calls from the server require an appsecret_proof argument",
            code=INVALID_PARAMETER,
        )
    if not hmac.compare_digest(proof.encode(), expected_proof.encode()):
        raise GraphApiError(
            "Invalid appsecret_proof provided in the API argument", code=INVALID_PARAMETER
        )


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in {"bearer", "oauth"} and token.strip():
        return token.strip()
    return None


def _parse_json_body() -> Any:
    try:
        return json.loads(request.get_data())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GraphApiError(
            "(#100) The request body must be a JSON object", code=INVALID_PARAMETER
        ) from error


def _recipient_id_of(body: dict[str, Any]) -> str | None:
    """A Messenger body's `recipient.id`, or a WhatsApp body's `to`."""
    recipient = body.get("recipient")
    if isinstance(recipient, dict) and "id" in recipient:
        return str(recipient["id"])
    if body.get("messaging_product") == "whatsapp" and isinstance(body.get("to"), str):
        return str(body["to"])
    return None


RunningStandin: TypeAlias = serving.RunningServer
"""A stand-in serving on a daemon thread: `.url`, `.stop()`, usable as a context manager."""


def serve_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    page_token: str = DEFAULT_PAGE_TOKEN,
    app_secret: str = DEFAULT_APP_SECRET,
    *,
    whatsapp_token: str = DEFAULT_WHATSAPP_TOKEN,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    instagram_token: str = DEFAULT_INSTAGRAM_TOKEN,
    instagram_account_id: str = DEFAULT_INSTAGRAM_ACCOUNT_ID,
    whatsapp_webhook_url: str | None = None,
) -> RunningStandin:
    """Serve the stand-in on a daemon thread; port 0 picks a free port (see `.url`)."""
    app = create_app(
        page_token,
        app_secret,
        whatsapp_token=whatsapp_token,
        phone_number_id=phone_number_id,
        instagram_token=instagram_token,
        instagram_account_id=instagram_account_id,
        whatsapp_webhook_url=whatsapp_webhook_url,
    )
    server, url = serving.bind(app, host, port)
    return serving.start_in_thread(server, url, name="graph-standin")


def main(argv: list[str] | None = None) -> None:
    """Serve the stand-in in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Local stand-in for Meta's Graph Send API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--page-token",
        default=os.environ.get("BANKBRIDGE_DEV_PAGE_TOKEN", DEFAULT_PAGE_TOKEN),
    )
    parser.add_argument(
        "--app-secret",
        default=os.environ.get("BANKBRIDGE_DEV_APP_SECRET", DEFAULT_APP_SECRET),
    )
    parser.add_argument(
        "--whatsapp-token",
        default=os.environ.get("BANKBRIDGE_DEV_WHATSAPP_TOKEN", DEFAULT_WHATSAPP_TOKEN),
    )
    parser.add_argument(
        "--phone-number-id",
        default=os.environ.get("BANKBRIDGE_DEV_WHATSAPP_PHONE_NUMBER_ID", DEFAULT_PHONE_NUMBER_ID),
    )
    parser.add_argument(
        "--instagram-token",
        default=os.environ.get("BANKBRIDGE_DEV_INSTAGRAM_TOKEN", DEFAULT_INSTAGRAM_TOKEN),
    )
    parser.add_argument(
        "--instagram-account-id",
        default=os.environ.get("BANKBRIDGE_DEV_INSTAGRAM_ACCOUNT_ID", DEFAULT_INSTAGRAM_ACCOUNT_ID),
    )
    parser.add_argument(
        "--whatsapp-webhook-url",
        default=None,
        help="the API's /webhooks/whatsapp, where `late` faults report their failed status",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = create_app(
        args.page_token,
        args.app_secret,
        whatsapp_token=args.whatsapp_token,
        phone_number_id=args.phone_number_id,
        instagram_token=args.instagram_token,
        instagram_account_id=args.instagram_account_id,
        whatsapp_webhook_url=args.whatsapp_webhook_url,
    )
    server, url = serving.bind(app, args.host, args.port)
    logger.info("graph stand-in listening on %s", url)
    serving.serve_until_stopped(server)
    logger.info("graph stand-in stopped")


if __name__ == "__main__":
    main()
