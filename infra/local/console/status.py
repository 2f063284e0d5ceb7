"""The status strip: which local services answer, and which bank connectors are registered.

Health URLs (what "up" means for each):
  moto `/moto-api/` 200; BankBridge API `GET /webhooks/messenger` 403 (the
  handshake refuses a request without a verify token, so 403 proves the app
  runs); sandbox bank `/sandbox/health` 200; Graph stand-in `/__health` 200.
Connectors come from the admin API with the dev admin token (kept here, never
sent to the browser); a missing admin API is reported as unavailable.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import requests
from pydantic import BaseModel

from chalicelib.observability import redact


class ServiceSpec(BaseModel):
    """How to probe one local service."""

    key: str
    name: str
    path: str
    up_status: int


SERVICES = (
    ServiceSpec(key="aws", name="AWS (moto)", path="/moto-api/", up_status=200),
    ServiceSpec(key="api", name="BankBridge API", path="/webhooks/messenger", up_status=403),
    ServiceSpec(key="bank", name="Sandbox bank", path="/sandbox/health", up_status=200),
    ServiceSpec(key="graph", name="Graph stand-in", path="/__health", up_status=200),
)


class ServiceStatus(BaseModel):
    """One service's probe result."""

    key: str
    name: str
    url: str
    state: Literal["up", "down"]
    detail: str


class ConnectorSummary(BaseModel):
    """A registered connector, by its non-secret fields."""

    institution_id: str
    display_name: str
    standard: str


class ConnectorsStatus(BaseModel):
    """The admin API's answer, or why there is none."""

    state: Literal["ok", "unavailable", "refused"]
    detail: str
    connectors: list[ConnectorSummary] = []


class CheckResult(BaseModel):
    """A live connector check, as the admin API reported it (redacted)."""

    institution_id: str
    state: Literal["ok", "failed", "unavailable"]
    detail: str
    steps: list[dict[str, Any]] = []


def probe(spec: ServiceSpec, base_url: str) -> ServiceStatus:
    """Ask one service its health URL."""
    url = base_url.rstrip("/") + spec.path
    try:
        status = requests.get(url, timeout=2).status_code
    except requests.RequestException as error:
        return ServiceStatus(
            key=spec.key, name=spec.name, url=base_url, state="down", detail=type(error).__name__
        )
    state: Literal["up", "down"] = "up" if status == spec.up_status else "down"
    return ServiceStatus(
        key=spec.key, name=spec.name, url=base_url, state=state, detail=f"HTTP {status}"
    )


def services(urls: dict[str, str]) -> list[ServiceStatus]:
    """Every service with a known URL, probed concurrently."""
    specs = [spec for spec in SERVICES if spec.key in urls]
    with ThreadPoolExecutor(max_workers=len(specs) or 1) as pool:
        return list(pool.map(lambda spec: probe(spec, urls[spec.key]), specs))


class AdminClient:
    """The admin API, authenticated with the dev admin token."""

    def __init__(self, api_url: str, admin_token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_token}"}

    def connectors(self) -> ConnectorsStatus:
        """Registered connectors, or why they cannot be listed."""
        try:
            response = requests.get(
                f"{self.api_url}/admin/connectors", headers=self._headers, timeout=5
            )
        except requests.RequestException as error:
            return ConnectorsStatus(
                state="unavailable", detail=f"admin API unavailable ({type(error).__name__})"
            )
        problem = _admin_problem(response)
        if problem is not None:
            return problem
        try:
            listed = response.json().get("connectors", [])
            connectors = [ConnectorSummary.model_validate(item) for item in listed]
        except (ValueError, AttributeError, TypeError):
            return ConnectorsStatus(state="unavailable", detail="admin API answered unexpectedly")
        return ConnectorsStatus(
            state="ok", detail=f"{len(connectors)} registered", connectors=connectors
        )

    def check(self, institution_id: str) -> CheckResult:
        """Run the admin API's live check of one connector."""
        url = (
            f"{self.api_url}/admin/connectors/{requests.utils.quote(institution_id, safe='')}/check"
        )
        try:
            response = requests.post(url, headers=self._headers, timeout=30)
        except requests.RequestException as error:
            return CheckResult(
                institution_id=institution_id,
                state="unavailable",
                detail=f"admin API unavailable ({type(error).__name__})",
            )
        problem = _admin_problem(response)
        if problem is not None:
            return CheckResult(
                institution_id=institution_id, state="unavailable", detail=problem.detail
            )
        try:
            report = redact(response.json())
            ok = bool(report.get("ok"))
            steps = [step for step in report.get("steps", []) if isinstance(step, dict)]
        except (ValueError, AttributeError, TypeError):
            return CheckResult(
                institution_id=institution_id,
                state="unavailable",
                detail=f"check answered HTTP {response.status_code} without a report",
            )
        passed = sum(1 for step in steps if step.get("ok"))
        return CheckResult(
            institution_id=institution_id,
            state="ok" if ok else "failed",
            detail=f"{passed}/{len(steps)} steps passed",
            steps=steps,
        )


def _admin_problem(response: requests.Response) -> ConnectorsStatus | None:
    """None for a 200; otherwise what to show instead of connectors."""
    if response.status_code == 200:
        return None
    # An unknown route is answered by Chalice itself (as API Gateway would), not by the
    # app, and marked with `x-amzn-ErrorType`; a 404 means the same.
    if response.status_code == 404 or "x-amzn-ErrorType" in response.headers:
        return ConnectorsStatus(
            state="unavailable", detail=f"admin API unavailable (HTTP {response.status_code})"
        )
    if response.status_code in (401, 403):
        return ConnectorsStatus(
            state="refused",
            detail=f"admin API refused the dev admin token (HTTP {response.status_code})",
        )
    return ConnectorsStatus(
        state="unavailable", detail=f"admin API answered HTTP {response.status_code}"
    )
