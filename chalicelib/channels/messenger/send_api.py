"""Messenger's Graph Send API client: `POST /me/messages` with the Page's token.

The request, its retries and its error handling are every Meta platform's
(`chalicelib.channels.meta.graph_client`), classified by the Messenger
Platform's error table (`meta.graph_errors.SEND_API_ERRORS`).
"""

from __future__ import annotations

from typing import Unpack

from chalicelib.channels.meta.graph_client import (
    GraphSendClient,
    SendOptions,
    graph_url,
    send_options,
)
from chalicelib.channels.meta.graph_errors import classify_send_api_error
from chalicelib.secrets import get_secret
from chalicelib.settings import get_settings


class SendApiClient(GraphSendClient):
    """The Send API of the Page whose token this is: one POST per message."""

    def __init__(
        self,
        *,
        base_url: str,
        version: str,
        page_token: str,
        app_secret: str,
        **options: Unpack[SendOptions],
    ) -> None:
        super().__init__(
            url=graph_url(base_url, version, "me/messages"),
            access_token=page_token,
            app_secret=app_secret,
            classify=classify_send_api_error,
            api_name="Send API",
            **options,
        )


def client_from_settings(*, quick: bool = False) -> SendApiClient:
    """A Send API client with the current page token and app secret (`quick`: a typing
    indicator's one short attempt).

    Secrets come through the cached Secrets Manager getter, so a rotated page
    token is picked up within the cache TTL; the HTTP session (and its pooled
    connections) is shared across the container.
    """
    settings = get_settings()
    return SendApiClient(
        base_url=settings.graph_api_base,
        version=settings.graph_api_version,
        page_token=get_secret(settings.messenger_page_token_name),
        app_secret=get_secret(settings.messenger_app_secret_name),
        **send_options(quick=quick),
    )
