"""WhatsApp's Cloud API client: `POST /{phone-number-id}/messages` from one business number.

The request, its retries and its error handling are every Meta platform's
(`chalicelib.channels.meta.graph_client`), classified by WhatsApp's own error
table (`error_codes.py`). Beyond what that client keeps out of logs, the number
(`to`) and the `wamid` Meta answers with (it embeds the number) are never logged.
"""

from __future__ import annotations

from typing import Unpack

from chalicelib.channels.meta.graph_client import GraphSendClient, SendOptions, graph_url
from chalicelib.channels.meta.graph_errors import GraphErrorKind
from chalicelib.channels.whatsapp.error_codes import classify


class CloudApiClient(GraphSendClient):
    """The Cloud API of one business phone number: one POST per message."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        phone_number_id: str,
        access_token: str,
        app_secret: str,
        **options: Unpack[SendOptions],
    ) -> None:
        super().__init__(
            url=graph_url(base_url, version, f"{phone_number_id}/messages"),
            access_token=access_token,
            app_secret=app_secret,
            classify=_classify,
            api_name="Cloud API",
            **options,
        )


def _classify(code: int | None, subcode: int | None, http_status: int) -> GraphErrorKind:
    """WhatsApp's table is keyed by `code` alone (Meta's WhatsApp error-code page)."""
    return classify(code, http_status)
