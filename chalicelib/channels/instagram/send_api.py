"""Instagram's Send API client: `POST /{ig-user-id}/messages` with the account's access token.

The Instagram API with Instagram Login sends from the professional account
(`/<IG_ID>/messages` on graph.instagram.com, "Send Messages" guide). The request,
its retries and its error handling are every Meta platform's
(`chalicelib.channels.meta.graph_client`); Instagram Messaging is part of the
Messenger Platform, so its errors are classified by the Messenger Platform's table
(`meta.graph_errors.SEND_API_ERRORS`, where 10/2534022 is Instagram's closed window).
"""

from __future__ import annotations

from typing import Unpack

from chalicelib.channels.meta.graph_client import GraphSendClient, SendOptions, graph_url
from chalicelib.channels.meta.graph_errors import classify_send_api_error


class InstagramSendClient(GraphSendClient):
    """The Send API of one Instagram professional account: one POST per message."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        account_id: str,
        access_token: str,
        app_secret: str,
        **options: Unpack[SendOptions],
    ) -> None:
        super().__init__(
            url=graph_url(base_url, version, f"{account_id}/messages"),
            access_token=access_token,
            app_secret=app_secret,
            classify=classify_send_api_error,
            api_name="Instagram Send API",
            **options,
        )
