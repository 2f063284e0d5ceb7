"""What every resource API checks first, whatever its error dialect: the bearer token
(RFC 6750) and the injected faults. Each standard turns the outcome into its own errors."""

from __future__ import annotations

import enum

from flask import request

from infra.local.sandbox_bank.grants import AccessToken
from infra.local.sandbox_bank.state import SandboxState


class TokenProblem(enum.Enum):
    MISSING = "bearer access token required"
    INVALID = "access token is invalid, expired or revoked"


class Fault(enum.Enum):
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


def bearer_token(state: SandboxState) -> AccessToken | TokenProblem:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return TokenProblem.MISSING
    return state.grants.active_access_token(value.strip()) or TokenProblem.INVALID


def injected_fault(state: SandboxState) -> Fault | None:
    """Latency first, then a 429 or a 503 as configured in `/sandbox/config`."""
    state.simulate_latency()
    controls = state.controls.current
    if state.controls.roll(controls.rate_limit_rate):
        return Fault.RATE_LIMITED
    if state.controls.roll(controls.error_rate):
        return Fault.UNAVAILABLE
    return None
