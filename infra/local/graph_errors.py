"""Graph API errors in Meta's envelope, shared by every check the Graph stand-in makes.

Clients match on `code` / `error_subcode` (messenger.md §2.7), so those follow Meta;
the `message` wording is Meta's where it is known and a clear description otherwise.
"""

from __future__ import annotations

import secrets
from typing import Any

# Meta error codes the stand-in produces itself (messenger.md §2.7).
INVALID_PARAMETER = 100
INVALID_OAUTH_TOKEN = 190
UNKNOWN_PATH = 2500
DEPRECATED_MESSAGE_TAG_SUBCODE = 1893061


class GraphApiError(Exception):
    """An error the stand-in answers with, exactly as the Graph API would shape it."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        http_status: int = 400,
        error_subcode: int | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.error_subcode = error_subcode
        self.error_type = error_type

    def envelope(self) -> dict[str, Any]:
        """Return Meta's `{"error": {...}}` body, with a fresh `fbtrace_id` like Meta's."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        }
        if self.error_subcode is not None:
            error["error_subcode"] = self.error_subcode
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
        return {"error": error}


def invalid_parameter(detail: str, *, error_subcode: int | None = None) -> GraphApiError:
    """Build Meta's generic `(#100)` invalid-parameter error for a malformed send."""
    return GraphApiError(f"(#100) {detail}", code=INVALID_PARAMETER, error_subcode=error_subcode)
