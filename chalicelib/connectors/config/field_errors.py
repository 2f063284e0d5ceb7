"""How a refused connector config is reported: one safe message per dotted field path.

The admin API answers 422 with these and the CLI prints them; neither ever
echoes an input value (a misplaced secret must not come back in an answer).
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError


class FieldError(BaseModel):
    """One validation problem, located by a dotted field path, safe to show to an admin."""

    field: str
    message: str


_MODEL_LEVEL_FIELDS = {
    "auth_server_missing": "discovery_url",
    "par_url_missing": "par_url",
    "signing_key_missing": "signing_key_ref",
    "client_secret_missing": "client_secret_ref",
    "version_unsupported": "standard_version",
    "hmac_needs_secret": "secret_refs",
    "jws_needs_jwks": "jwks_url",
    "alg_invalid": "allowed_algorithms",
}
"""Model-level error types, and the field each one is really about."""


def field_errors(error: ValidationError) -> list[FieldError]:
    """Turn a pydantic error into field-level messages, never echoing input values."""
    result: list[FieldError] = []
    for item in error.errors(include_input=False, include_url=False):
        location = [str(part) for part in item["loc"]]
        if item["type"] in _MODEL_LEVEL_FIELDS:
            location.append(_MODEL_LEVEL_FIELDS[item["type"]])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        result.append(FieldError(field=".".join(location) or "(config)", message=message))
    return result
