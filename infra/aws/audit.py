"""The known-vulnerability audit of what BankBridge ships and what builds it, run by `make lint`.

Two targets: `requirements.txt`, the hashed lock the Lambda zip ships (audited
from the file, nothing installed), and the development environment running the
audit (`.venv`: the tools that test, package and deploy it). pip-audit does the
lookups; by default against PyPI's per-release JSON, which carries the PyPA
advisory database's entries and each file's digest, so the lock's hashes are
checked too. An OSV API (`--osv-url`, e.g. a bank's internal mirror) can stand in.

pip-audit alone cannot gate a build that is sometimes offline: it exits 1 both for
a vulnerability and for a network error, and exits 0 ("No known vulnerabilities
found") when the source knew none of the packages, as an index mirror without the
JSON API answers. So this wrapper first asks the source about one release; if no
source answers it prints `skipped: no advisory database reachable (<why>)` and
exits 0 (3 with `--require-source`, for release pipelines). Otherwise it reads
pip-audit's JSON report: a vulnerability fails (exit 1) unless
`accepted_advisories.toml` accepts it, with a reason, until a date; a package the
source could not audit, or pip-audit failing, fails too (exit 2).

    python -m infra.aws.audit                       # both targets against PyPI
    python -m infra.aws.audit --osv-url URL         # against an OSV API instead
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import IntEnum
from importlib.metadata import version as installed_version
from pathlib import Path

import requests
from packaging.utils import canonicalize_name
from pydantic import BaseModel, ConfigDict

from infra.aws.requirements import PROJECT_ROOT, REQUIREMENTS_PATH

ACCEPTED_ADVISORIES_PATH = Path(__file__).resolve().parent / "accepted_advisories.toml"
PYPI_RELEASE_URL = "https://pypi.org/pypi/{name}/{version}/json"
"""pip-audit's PyPI service reads exactly this (fixed) URL for each release."""
PROBE_TIMEOUT_SECONDS = 5.0
PIP_AUDIT_TIMEOUT_SECONDS = 15
OWN_DISTRIBUTION = "bankbridge"
"""This project, installed editable in the development environment: not a dependency."""


class Outcome(IntEnum):
    """A target's outcome, least to most serious, so a run's is the worst of its targets'."""

    CLEAN = 0
    SKIPPED = 1
    """No advisory database answered: nothing is known either way."""
    INCOMPLETE = 2
    VULNERABLE = 3

    def exit_code(self, *, require_source: bool = False) -> int:
        """0 clean or skipped (3 if skipping is refused), 1 vulnerable, 2 incomplete."""
        if self is Outcome.SKIPPED:
            return 3 if require_source else 0
        return {Outcome.CLEAN: 0, Outcome.VULNERABLE: 1, Outcome.INCOMPLETE: 2}[self]


class Vulnerability(BaseModel):
    """One advisory pip-audit found for a dependency."""

    id: str
    aliases: list[str] = []
    fix_versions: list[str] = []

    @property
    def ids(self) -> set[str]:
        """Its id and aliases (a GHSA, CVE or PYSEC id may name the same advisory)."""
        return {self.id, *self.aliases}


class AuditedDependency(BaseModel):
    """One entry of pip-audit's JSON report: audited (with `vulns`) or skipped (with a reason)."""

    name: str
    version: str | None = None
    vulns: list[Vulnerability] = []
    skip_reason: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name}=={self.version}" if self.version else self.name


class AuditReport(BaseModel):
    """pip-audit's `--format json` output (the parts read here)."""

    dependencies: list[AuditedDependency]


class AcceptedAdvisory(BaseModel):
    """An advisory a reviewer accepted for one package, with why, until a date."""

    model_config = ConfigDict(extra="forbid")

    id: str
    package: str
    reason: str
    expires: date

    def covers(self, dependency: AuditedDependency, vulnerability: Vulnerability) -> bool:
        same_package = canonicalize_name(self.package) == canonicalize_name(dependency.name)
        return same_package and self.id in vulnerability.ids


class AcceptedAdvisories(BaseModel):
    """The reviewed allow-list file."""

    model_config = ConfigDict(extra="forbid")

    accepted: list[AcceptedAdvisory] = []


class AdvisorySource(BaseModel):
    """Where pip-audit looks advisories up: PyPI's JSON API, or an OSV API at `osv_url`."""

    osv_url: str | None = None

    def pip_audit_arguments(self) -> list[str]:
        if self.osv_url is None:
            return ["--vulnerability-service", "pypi"]
        return ["--vulnerability-service", "osv", "--osv-url", self.osv_url]

    def unreachable_reason(self) -> str | None:
        """None when the source answers a lookup of one release (pip-audit's own); else why not."""
        name, release = "pip-audit", installed_version("pip-audit")
        url = self.osv_url or PYPI_RELEASE_URL.format(name=name, version=release)
        try:
            if self.osv_url is None:
                response = requests.get(url, timeout=PROBE_TIMEOUT_SECONDS)
            else:
                query = {"package": {"name": name, "ecosystem": "PyPI"}, "version": release}
                response = requests.post(url, json=query, timeout=PROBE_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            return f"{url}: {root_cause(error)}"
        if response.status_code != 200:
            return f"{url} answered HTTP {response.status_code}"
        return None


class Verdict(BaseModel):
    """What one target's audit concluded, and the lines that say so."""

    outcome: Outcome
    lines: list[str]


def root_cause(error: BaseException) -> str:
    """The innermost cause of a network error, e.g. `ConnectionRefusedError: [Errno 111] ...`."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return f"{type(error).__name__}: {error}"


def load_accepted(path: Path = ACCEPTED_ADVISORIES_PATH) -> list[AcceptedAdvisory]:
    """The reviewed allow-list; a malformed file raises (pydantic's error names the field)."""
    return AcceptedAdvisories.model_validate(
        tomllib.loads(path.read_text(encoding="utf-8"))
    ).accepted


def judge(
    target: str, report: AuditReport, accepted: Sequence[AcceptedAdvisory], today: date
) -> Verdict:
    """Decide a target's outcome from pip-audit's report; pure, so every branch is tested.

    A vulnerability fails unless an unexpired acceptance covers it. A report that
    audited nothing means the source knew no package (an index without the JSON
    API): skipped, not clean. Some packages unaudited means an incomplete audit.
    """
    dependencies = [
        dependency
        for dependency in report.dependencies
        if canonicalize_name(dependency.name) != OWN_DISTRIBUTION
    ]
    lines: list[str] = []
    vulnerable = False
    for dependency in dependencies:
        for vulnerability in dependency.vulns:
            acceptance = next(
                (entry for entry in accepted if entry.covers(dependency, vulnerability)), None
            )
            if acceptance is not None and acceptance.expires >= today:
                lines.append(
                    f"{target}: accepted {vulnerability.id} in {dependency.label} until "
                    f"{acceptance.expires}: {acceptance.reason}"
                )
                continue
            vulnerable = True
            aliases = f" ({', '.join(vulnerability.aliases)})" if vulnerability.aliases else ""
            fixed = ", ".join(vulnerability.fix_versions) or "no fixed release yet"
            expired = f"; its acceptance expired {acceptance.expires}" if acceptance else ""
            lines.append(
                f"{target}: VULNERABLE {dependency.label}: {vulnerability.id}{aliases}; "
                f"fixed in {fixed}{expired}"
            )
    unaudited = [dependency for dependency in dependencies if dependency.skip_reason]
    if vulnerable:
        return Verdict(outcome=Outcome.VULNERABLE, lines=lines)
    if dependencies and len(unaudited) == len(dependencies):
        reason = f"the source knew none of {len(dependencies)} packages: {unaudited[0].skip_reason}"
        return Verdict(outcome=Outcome.SKIPPED, lines=[*lines, skipped_line(target, reason)])
    if unaudited:
        names = ", ".join(
            f"{dependency.label} ({dependency.skip_reason})" for dependency in unaudited
        )
        return Verdict(
            outcome=Outcome.INCOMPLETE, lines=[*lines, f"{target}: could not audit {names}"]
        )
    clean = f"{target}: no known vulnerabilities in {len(dependencies)} packages"
    return Verdict(outcome=Outcome.CLEAN, lines=[*lines, clean])


def skipped_line(target: str, reason: str) -> str:
    return f"{target}: skipped: no advisory database reachable ({reason})"


def run_pip_audit(target_arguments: Sequence[str], source: AdvisorySource) -> AuditReport | str:
    """pip-audit's report on a target, or its error output when it wrote none."""
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            *target_arguments,
            *source.pip_audit_arguments(),
            "--format",
            "json",
            "--output",
            str(report_path),
            "--progress-spinner",
            "off",
            "--timeout",
            str(PIP_AUDIT_TIMEOUT_SECONDS),
        ]
        completed = subprocess.run(  # noqa: S603 (our interpreter's pip-audit, fixed arguments)
            command, capture_output=True, text=True, check=False, cwd=PROJECT_ROOT
        )
        if not report_path.exists():
            return failure_summary(completed.stderr) or f"pip-audit exited {completed.returncode}"
        return AuditReport.model_validate_json(report_path.read_text(encoding="utf-8"))


def failure_summary(stderr: str) -> str:
    """The most telling line of pip-audit's error output: the last exception that has a message
    (pip-audit wraps e.g. `HTTPError: 500 Server Error ...` in a bare `ServiceError`)."""
    exceptions = [
        line
        for line in stderr.splitlines()
        if line
        and not line[0].isspace()
        and not line.startswith(("Traceback", "The above", "During handling", "WARNING:"))
    ]
    with_message = [line for line in exceptions if ": " in line]
    return (with_message or exceptions or [""])[-1]


def audit(
    requirements: Path,
    source: AdvisorySource,
    accepted: Sequence[AcceptedAdvisory],
    *,
    environment: bool = True,
    today: date | None = None,
) -> Verdict:
    """Audit the lock (and the running environment) against `source`; the worst outcome wins."""
    targets = {
        requirements.name: ["--requirement", str(requirements), "--require-hashes", "--disable-pip"]
    }
    if environment:
        targets["environment"] = ["--skip-editable"]
    unreachable = source.unreachable_reason()
    if unreachable is not None:
        lines = [skipped_line(target, unreachable) for target in targets]
        return Verdict(outcome=Outcome.SKIPPED, lines=lines)
    today = today or datetime.now(UTC).date()
    outcome, lines = Outcome.CLEAN, []
    for target, arguments in targets.items():
        report = run_pip_audit(arguments, source)
        if isinstance(report, str):
            verdict = Verdict(
                outcome=Outcome.INCOMPLETE,
                lines=[f"{target}: pip-audit failed: {report}"],
            )
        else:
            verdict = judge(target, report, accepted, today)
        outcome = max(outcome, verdict.outcome)
        lines.extend(verdict.lines)
    return Verdict(outcome=outcome, lines=lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: print one line per finding or target; exit with the worst outcome."""
    parser = argparse.ArgumentParser(prog="python -m infra.aws.audit", description=__doc__)
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS_PATH)
    parser.add_argument("--accepted", type=Path, default=ACCEPTED_ADVISORIES_PATH)
    parser.add_argument("--osv-url", help="an OSV API's query URL instead of PyPI's JSON API")
    parser.add_argument(
        "--no-environment", action="store_true", help="audit only the lock, not this environment"
    )
    parser.add_argument(
        "--require-source",
        action="store_true",
        help="exit 3 instead of 0 when no advisory database is reachable",
    )
    arguments = parser.parse_args(argv)
    verdict = audit(
        arguments.requirements,
        AdvisorySource(osv_url=arguments.osv_url),
        load_accepted(arguments.accepted),
        environment=not arguments.no_environment,
    )
    for line in verdict.lines:
        print(f"pip-audit: {line}")
    return verdict.outcome.exit_code(require_source=arguments.require_source)


if __name__ == "__main__":
    sys.exit(main())
