"""The two error families the sandbox speaks: OAuth (RFC 6749 §5.2) and FDX `Error`.

Raised anywhere in a request, turned into a response in one place (`app.py`).
"""

from __future__ import annotations


class OAuthError(Exception):
    """An RFC 6749 error returned as JSON by the token, revocation and PAR endpoints."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_client(description: str) -> OAuthError:
    """RFC 6749 §5.2: failed client authentication is a 401 with a challenge."""
    return OAuthError("invalid_client", description, status=401)


class FdxError(Exception):
    """An FDX `Error{code, message}`; `code` is the FDX code, not the HTTP status.

    Codes used (FDX API spec "Errors" table, as republished by Akoya and Flinks):
    401 invalid input, 501 subsystem unavailable, 602 customer not authorized,
    701 account not found, 702 invalid start or end date, 703 invalid date range,
    706 access forbidden.
    """

    def __init__(
        self,
        http_status: int,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.http_status = http_status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}
