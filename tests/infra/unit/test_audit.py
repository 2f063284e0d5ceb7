"""The vulnerability audit: real pip-audit against a local OSV API standing in for the database.

The stand-in answers OSV's `POST /v1/query` as osv.dev does, so these tests run
pip-audit for real (about a second each) and only the advisories are invented.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.aws.audit import (
    OWN_DISTRIBUTION,
    AcceptedAdvisory,
    AuditedDependency,
    AuditReport,
    Outcome,
    Vulnerability,
    judge,
    load_accepted,
    main,
)

GHSA = "GHSA-9wx4-h78v-vm56"
CVE = "CVE-2024-35195"
TODAY = date(2026, 12, 2)
LOCK = (
    f"requests==2.31.0 \\\n    --hash=sha256:{'a' * 64}\n"
    f"six==1.17.0 \\\n    --hash=sha256:{'b' * 64}\n"
)


@dataclass
class AdvisoryStandIn:
    """A local OSV API: `vulnerable` packages get an advisory, `failing` ones HTTP 500."""

    url: str = ""
    vulnerable: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, query: dict) -> tuple[int, dict]:
        name, release = query["package"]["name"], query["version"]
        self.queries.append((name, release))
        if name in self.failing:
            return 500, {"error": "unavailable"}
        if name not in self.vulnerable:
            return 200, {}
        return 200, {"vulns": [osv_advisory(name)]}


def osv_advisory(name: str) -> dict:
    """An OSV record that affects every release of `name` below 99 (so the installed one too)."""
    events = [{"introduced": "0"}, {"fixed": "99.0"}]
    return {
        "id": GHSA,
        "aliases": [CVE],
        "summary": "invented for the test",
        "details": "invented for the test",
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }


@pytest.fixture
def advisories() -> Iterator[AdvisoryStandIn]:
    stand_in = AdvisoryStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body = stand_in.answer(query)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield stand_in
    server.shutdown()
    server.server_close()


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(LOCK)
    return path


def accepted_file(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "accepted.toml"
    path.write_text("accepted = []\n" if not entries else "\n".join(entries))
    return path


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/query"


def run(lock: Path, tmp_path: Path, *options: str, accepted: Path | None = None) -> list[str]:
    """Arguments for `main`: the lock only, the stand-in's allow-list, extra options."""
    return [
        "--requirements",
        str(lock),
        "--accepted",
        str(accepted or accepted_file(tmp_path)),
        "--no-environment",
        *options,
    ]


def test_a_clean_lock_passes_and_every_pin_was_looked_up(
    advisories: AdvisoryStandIn, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run(lock, tmp_path, "--osv-url", advisories.url)) == 0

    assert "requirements.txt: no known vulnerabilities in 2 packages" in capsys.readouterr().out
    assert {("requests", "2.31.0"), ("six", "1.17.0")} <= set(advisories.queries)


def test_a_vulnerable_pin_fails_naming_the_package_and_advisory(
    advisories: AdvisoryStandIn, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    advisories.vulnerable.add("requests")

    assert main(run(lock, tmp_path, "--osv-url", advisories.url)) == 1

    out = capsys.readouterr().out
    assert "VULNERABLE requests==2.31.0" in out
    assert GHSA in out and CVE in out
    assert "six" not in out


def test_an_accepted_advisory_passes_until_its_expiry_date(
    advisories: AdvisoryStandIn, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    advisories.vulnerable.add("requests")
    entry = '[[accepted]]\nid = "{id}"\npackage = "Requests"\nreason = "not reachable"\n'
    current = accepted_file(tmp_path, entry.format(id=CVE) + "expires = 2999-01-01\n")

    assert main(run(lock, tmp_path, "--osv-url", advisories.url, accepted=current)) == 0
    assert "accepted" in capsys.readouterr().out

    expired = accepted_file(tmp_path, entry.format(id=GHSA) + "expires = 2020-01-01\n")
    assert main(run(lock, tmp_path, "--osv-url", advisories.url, accepted=expired)) == 1
    assert "acceptance expired 2020-01-01" in capsys.readouterr().out


def test_an_unreachable_database_skips_with_the_reason_and_passes(
    lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = closed_port_url()

    assert main(run(lock, tmp_path, "--osv-url", url)) == 0

    out = capsys.readouterr().out
    assert "requirements.txt: skipped: no advisory database reachable" in out
    assert url in out and "Connection refused" in out
    assert "no known vulnerabilities" not in out


def test_a_release_pipeline_can_refuse_to_skip(lock: Path, tmp_path: Path) -> None:
    assert main(run(lock, tmp_path, "--osv-url", closed_port_url(), "--require-source")) == 3


def test_pypi_unreachable_skips(
    lock: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default source through a proxy that refuses: as on a machine with no network."""
    monkeypatch.setenv("HTTPS_PROXY", closed_port_url().removesuffix("/v1/query"))

    assert main(run(lock, tmp_path)) == 0

    out = capsys.readouterr().out
    assert "skipped: no advisory database reachable (https://pypi.org/pypi/pip-audit/" in out


def test_a_source_that_fails_lookups_fails_the_audit(
    advisories: AdvisoryStandIn, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It answered the probe, so a failed lookup is not "offline": the audit did not happen."""
    advisories.failing.add("six")

    assert main(run(lock, tmp_path, "--osv-url", advisories.url)) == 2

    assert "requirements.txt: pip-audit failed: requests.exceptions.HTTPError: 500" in (
        capsys.readouterr().out
    )


def test_the_environment_is_audited_too(
    advisories: AdvisoryStandIn, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    advisories.vulnerable.add("pydantic")
    options = ["--requirements", str(lock), "--accepted", str(accepted_file(tmp_path))]

    assert main([*options, "--osv-url", advisories.url]) == 1

    out = capsys.readouterr().out
    assert f"environment: VULNERABLE pydantic=={installed_version('pydantic')}" in out
    assert "requirements.txt: no known vulnerabilities" in out
    assert OWN_DISTRIBUTION not in {name for name, _ in advisories.queries}


def test_the_committed_allow_list_is_valid_and_unexpired() -> None:
    assert all(entry.expires >= date.today() for entry in load_accepted())


@pytest.mark.parametrize(
    "entry",
    [
        'id = "X"\npackage = "p"\nexpires = 2999-01-01\n',  # no reason
        'id = "X"\npackage = "p"\nreason = "r"\nexpires = 2999-01-01\nexpiry = 1\n',  # typo
    ],
)
def test_an_allow_list_entry_needs_every_field_and_no_other(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValidationError):
        load_accepted(accepted_file(tmp_path, "[[accepted]]\n" + entry))


def audited(name: str, *vulns: Vulnerability) -> AuditedDependency:
    return AuditedDependency(name=name, version="1.0", vulns=list(vulns))


def skipped(name: str) -> AuditedDependency:
    return AuditedDependency(name=name, skip_reason=f"Dependency not found on PyPI: {name}")


def test_a_report_that_audited_nothing_is_skipped_not_clean() -> None:
    """pip-audit exits 0 when an index without the JSON API knew no package."""
    verdict = judge("lock", AuditReport(dependencies=[skipped("a"), skipped("b")]), [], TODAY)

    assert verdict.outcome is Outcome.SKIPPED
    assert verdict.lines == [
        "lock: skipped: no advisory database reachable (the source knew none of 2 packages: "
        "Dependency not found on PyPI: a)"
    ]


def test_a_partly_audited_report_is_incomplete() -> None:
    verdict = judge("lock", AuditReport(dependencies=[audited("a"), skipped("b")]), [], TODAY)

    assert verdict.outcome is Outcome.INCOMPLETE
    assert "could not audit b" in verdict.lines[-1]


def test_a_vulnerability_outweighs_an_incomplete_audit_and_this_project_is_not_a_dependency() -> (
    None
):
    vulnerability = Vulnerability(id=GHSA, fix_versions=["2.0"])
    report = AuditReport(
        dependencies=[audited("a", vulnerability), skipped("b"), skipped(OWN_DISTRIBUTION)]
    )

    verdict = judge("lock", report, [], TODAY)

    assert verdict.outcome is Outcome.VULNERABLE
    assert verdict.lines == [f"lock: VULNERABLE a==1.0: {GHSA}; fixed in 2.0"]


def test_an_acceptance_covers_only_its_package() -> None:
    acceptance = AcceptedAdvisory(id=GHSA, package="other", reason="r", expires=date(2999, 1, 1))
    report = AuditReport(dependencies=[audited("a", Vulnerability(id=GHSA))])

    assert judge("lock", report, [acceptance], TODAY).outcome is Outcome.VULNERABLE


@pytest.mark.parametrize(
    ("outcome", "require_source", "code"),
    [
        (Outcome.CLEAN, False, 0),
        (Outcome.SKIPPED, False, 0),
        (Outcome.SKIPPED, True, 3),
        (Outcome.VULNERABLE, False, 1),
        (Outcome.INCOMPLETE, False, 2),
    ],
)
def test_exit_codes(outcome: Outcome, require_source: bool, code: int) -> None:
    assert outcome.exit_code(require_source=require_source) == code
