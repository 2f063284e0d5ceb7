"""`bankbridge` command line: manage connector configs through the admin API.

The wheel's console script (pyproject.toml), run from an operator's machine: it lives
outside `chalicelib/` so it never ships in the Lambda zip, and imports only `chalicelib`
(the API's own config rules and readiness checks).

    bankbridge connectors register FILE [--replace]   POST (or PUT) a JSON config
    bankbridge connectors list | show ID | delete ID
    bankbridge connectors check ID [--sample-transactions FILE]
                                                      live probe of the bank
    bankbridge connectors validate FILE [--local] [--stage S]
                                                      offline, same rules as the API
    bankbridge connectors schema                      the config JSON Schema
    bankbridge doctor --stage S [--project-dir DIR]   every missing or placeholder
                                                      setting and secret of stage S

`--api-url` (env BANKBRIDGE_API_URL, default http://127.0.0.1:8000) and
`--admin-token` (env BANKBRIDGE_ADMIN_TOKEN). The dev token `dev-admin-token`
is assumed only for a loopback API URL; deployed stages need a token or, with
IAM-protected admin routes, `--iam` (SigV4 with the ambient AWS credentials).
`doctor` reads AWS with the ambient credentials (AWS_PROFILE, AWS_REGION, ...).
A config names its secrets, never their values, and only secrets in its own
namespace: `bankbridge/<stage>/banks/<institution_id>/<name>` (no ARNs); the
API refuses any other reference with 422 naming the field.
Exit status: 0 success, 1 error or not ready (message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from pydantic import ValidationError

from chalicelib.connectors.config.context import validation_context
from chalicelib.connectors.config.field_errors import field_errors
from chalicelib.connectors.config.models import ConnectorConfig, connector_config_schema
from chalicelib.loopback import is_loopback_url
from chalicelib.readiness import check_readiness

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - the local stage's published dev default
TIMEOUT_SECONDS = 60.0


class CliError(Exception):
    """A failure to report on stderr with exit status 1."""


class AdminClient:
    """Minimal HTTP client for the admin API."""

    def __init__(self, api_url: str, token: str | None, *, iam: bool = False) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.iam = iam

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send and return (status, decoded JSON or None); transport failures raise CliError."""
        data = None if body is None else json.dumps(body).encode()
        request = requests.Request(
            method,
            f"{self.api_url}{path}",
            data=data,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        ).prepare()
        if self.iam:
            self._sign(request)
        elif self.token:
            request.headers["Authorization"] = f"Bearer {self.token}"
        try:
            with requests.Session() as session:
                response = session.send(request, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise CliError(f"cannot reach the admin API at {self.api_url}: {exc}") from exc
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        return response.status_code, payload

    @staticmethod
    def _sign(request: Any) -> None:
        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise CliError("--iam needs AWS credentials (environment, profile or role)")
        aws_request = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=request.headers
        )
        region = session.region_name or "us-east-1"
        SigV4Auth(credentials, "execute-api", region).add_auth(aws_request)
        request.headers.update(dict(aws_request.headers.items()))


def _explain(status: int, payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        lines = [f"  {e.get('field')}: {e.get('message')}" for e in payload["errors"]]
        return "invalid connector config:\n" + "\n".join(lines)
    message = payload.get("message") if isinstance(payload, dict) else None
    if status == 401:
        return f"not authenticated (HTTP 401): {message or 'admin token required'}"
    if status == 403:
        return f"admin token rejected (HTTP 403){': ' + message if message else ''}"
    return f"HTTP {status}: {message or 'unexpected response'}"


def _expect(status: int, payload: Any, *ok: int) -> Any:
    if status not in ok:
        raise CliError(_explain(status, payload))
    return payload


def _read_json(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}") from exc


def _read_config(path: str) -> dict[str, Any]:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold one JSON object (a connector config)")
    return data


def _institution_path(institution_id: str) -> str:
    return f"/admin/connectors/{quote(institution_id, safe='')}"


def _client(args: argparse.Namespace) -> AdminClient:
    token = args.admin_token
    if token is None and not args.iam:
        if not is_loopback_url(args.api_url):
            raise CliError(
                "an admin token is required for a non-loopback API "
                "(--admin-token or BANKBRIDGE_ADMIN_TOKEN), or use --iam"
            )
        token = DEV_ADMIN_TOKEN
    return AdminClient(args.api_url, token, iam=args.iam)


def cmd_register(args: argparse.Namespace, out: TextIO) -> None:
    """POST a new config, or PUT it with --replace."""
    config = _read_config(args.file)
    client = _client(args)
    if args.replace:
        institution_id = config.get("institution_id")
        if not isinstance(institution_id, str) or not institution_id:
            raise CliError("--replace needs institution_id in the file")
        status, payload = client.call("PUT", _institution_path(institution_id), config)
        _expect(status, payload, 200, 201)
    else:
        status, payload = client.call("POST", "/admin/connectors", config)
        if status == 409:
            raise CliError(f"{_explain(status, payload)} (use --replace)")
        _expect(status, payload, 201)
    verb = "created" if status == 201 else "replaced"
    out.write(f"{verb} connector {payload['institution_id']} ({payload['display_name']})\n")


def cmd_list(args: argparse.Namespace, out: TextIO) -> None:
    """Print one line per registered connector."""
    status, payload = _client(args).call("GET", "/admin/connectors")
    connectors = _expect(status, payload, 200)["connectors"]
    if not connectors:
        out.write("no connectors registered\n")
        return
    width = max(len(c["institution_id"]) for c in connectors)
    for config in connectors:
        standard = f"{config['standard']} {config['standard_version']}"
        out.write(
            f"{config['institution_id']:<{width}}  {standard:<16}  {config['country']}  "
            f"{config['display_name']}\n"
        )


def cmd_show(args: argparse.Namespace, out: TextIO) -> None:
    """Print one config as JSON."""
    status, payload = _client(args).call("GET", _institution_path(args.institution_id))
    if status == 404:
        raise CliError(f"no connector {args.institution_id}")
    out.write(json.dumps(_expect(status, payload, 200), indent=2) + "\n")


def cmd_delete(args: argparse.Namespace, out: TextIO) -> None:
    """Delete one config."""
    status, payload = _client(args).call("DELETE", _institution_path(args.institution_id))
    if status == 404:
        raise CliError(f"no connector {args.institution_id}")
    _expect(status, payload, 204)
    out.write(f"deleted connector {args.institution_id}\n")


def cmd_check(args: argparse.Namespace, out: TextIO) -> None:
    """Run the live probe and print each step; failing steps make the exit status 1.

    `--sample-transactions FILE` hands in a transactions response as the bank returns it
    (its sandbox or documentation), checked against the config's `amount_sign_convention`.
    """
    path = _institution_path(args.institution_id) + "/check"
    sample = args.sample_transactions
    body = None if sample is None else {"sample_transactions": _read_json(sample)}
    status, payload = _client(args).call("POST", path, body)
    if status == 404:
        raise CliError(f"no connector {args.institution_id}")
    report = _expect(status, payload, 200)
    for step in report["steps"]:
        mark = "ok  " if step["ok"] else "FAIL"
        out.write(f"{mark}  {step['name']}: {step['detail']}\n")
    if not report["ok"]:
        raise CliError(f"connector {args.institution_id} failed its live check")
    out.write(f"connector {args.institution_id} is reachable and accepts our client\n")


def cmd_validate(args: argparse.Namespace, out: TextIO) -> None:
    """Validate a config file locally with the API's rules (hosts resolved with local DNS)."""
    data = _read_config(args.file)
    stage = args.stage or ("dev" if args.local else None)
    context = validation_context(local=args.local, stage=stage)
    try:
        config = ConnectorConfig.model_validate(data, context=context)
    except ValidationError as exc:
        lines = [f"  {error.field}: {error.message}" for error in field_errors(exc)]
        raise CliError("invalid connector config:\n" + "\n".join(lines)) from exc
    out.write(f"{args.file}: valid connector config for {config.institution_id}\n")


def _schema_type(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "$ref" in spec:
        target = definitions[spec["$ref"].rsplit("/", 1)[-1]]
        if "enum" in target:
            return " \\| ".join(f"`{value}`" for value in target["enum"])
        return "object"
    if "anyOf" in spec:
        kinds = [_schema_type(option, definitions) for option in spec["anyOf"]]
        return " \\| ".join(kind for kind in kinds if kind != "null") + " (optional)"
    if spec.get("type") == "array":
        return f"list of {_schema_type(spec.get('items', {}), definitions)}"
    if spec.get("type") == "object":
        return "map of string"
    return str(spec.get("type", "any"))


def schema_markdown(schema: dict[str, Any]) -> str:
    """The config reference table of docs/connectors.md, generated from the JSON Schema."""
    definitions = schema.get("$defs", {})
    rows = ["| field | type | required | default | meaning |", "|---|---|---|---|---|"]

    def add(properties: dict[str, Any], required: list[str], prefix: str) -> None:
        for name, spec in properties.items():
            default = json.dumps(spec["default"]) if "default" in spec else ""
            description = spec.get("description", "").replace("|", "\\|")
            rows.append(
                f"| `{prefix}{name}` | {_schema_type(spec, definitions)} | "
                f"{'yes' if name in required else 'no'} | {default} | {description} |"
            )

    add(schema["properties"], schema.get("required", []), "")
    signing = definitions["EventSigning"]
    add(signing["properties"], signing.get("required", []), "event_signing.")
    body = definitions["BodySigning"]
    add(body["properties"], body.get("required", []), "body_signing.")
    return "\n".join(rows) + "\n"


def cmd_schema(args: argparse.Namespace, out: TextIO) -> None:
    """Print the connector config JSON Schema (or its Markdown reference table)."""
    schema = connector_config_schema()
    out.write(schema_markdown(schema) if args.markdown else json.dumps(schema, indent=2) + "\n")


def cmd_doctor(args: argparse.Namespace, out: TextIO) -> None:
    """Print one line per checked setting, secret and resource; not ready makes the exit 1."""
    report = check_readiness(args.stage, Path(args.project_dir))
    for finding in report.findings:
        out.write(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.name}: {finding.detail}\n")
    if not report.ready:
        names = ", ".join(finding.name for finding in report.problems)
        raise CliError(f"stage {args.stage} is not ready: {names}")
    out.write(f"stage {args.stage} is ready\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; exposed for documentation and tests."""
    parser = argparse.ArgumentParser(prog="bankbridge", description="BankBridge administration")
    parser.add_argument(
        "--api-url",
        default=os.environ.get("BANKBRIDGE_API_URL", DEFAULT_API_URL),
        help="admin API base URL (env BANKBRIDGE_API_URL, default %(default)s)",
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("BANKBRIDGE_ADMIN_TOKEN"),
        help="admin bearer token (env BANKBRIDGE_ADMIN_TOKEN; dev default for loopback URLs)",
    )
    parser.add_argument(
        "--iam", action="store_true", help="sign requests with SigV4 (deployed stages)"
    )
    groups = parser.add_subparsers(dest="group", required=True)
    connectors = groups.add_parser("connectors", help="manage bank connector configs")
    commands = connectors.add_subparsers(dest="command", required=True)

    register = commands.add_parser("register", help="register a config from a JSON file")
    register.add_argument("file")
    register.add_argument("--replace", action="store_true", help="replace an existing config")
    register.set_defaults(handler=cmd_register)
    commands.add_parser("list", help="list registered connectors").set_defaults(handler=cmd_list)
    for name, handler, text in (
        ("show", cmd_show, "print one config"),
        ("delete", cmd_delete, "delete one config"),
        ("check", cmd_check, "probe the live bank for one config"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("institution_id")
        sub.set_defaults(handler=handler)
        if name == "check":
            sub.add_argument(
                "--sample-transactions",
                metavar="FILE",
                help="a transactions response from the bank (JSON): warn when its amounts "
                "contradict amount_sign_convention",
            )
    validate = commands.add_parser("validate", help="validate a config file offline")
    validate.add_argument("file")
    validate.add_argument(
        "--local",
        action="store_true",
        help="apply the dev stage's rules (http to loopback, private addresses; stage dev)",
    )
    validate.add_argument(
        "--stage",
        help="the stage the config is for: its secrets must be under bankbridge/STAGE/banks/"
        "<institution_id>/ (default: dev with --local, else any stage)",
    )
    validate.set_defaults(handler=cmd_validate)
    schema = commands.add_parser("schema", help="print the config JSON Schema")
    schema.add_argument("--markdown", action="store_true", help="the docs reference table")
    schema.set_defaults(handler=cmd_schema)

    doctor = groups.add_parser(
        "doctor", help="list every missing or placeholder setting and secret of a stage"
    )
    doctor.add_argument("--stage", required=True, help="the Chalice stage to check, e.g. prod")
    doctor.add_argument(
        "--project-dir",
        default=".",
        help="the project holding .chalice/config.json (default: the current directory)",
    )
    doctor.set_defaults(handler=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the `bankbridge` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args, out or sys.stdout)
    except CliError as exc:
        sys.stderr.write(f"bankbridge: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
