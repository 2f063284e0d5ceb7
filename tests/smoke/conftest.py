"""The packaged prod zip, unzipped like Lambda's /var/task, run by an isolated interpreter
against a moto server holding the prod stack; Send API calls go to the Graph stand-in.

The zip relies on the runtime's AWS SDK, so the child also sees a folder standing for
the runtime's copy (`runtime_sdk`): this venv's pinned boto3, botocore and the rest
of what Lambda's Python runtime provides, after the task root on `sys.path` as in Lambda.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib import aws
from infra.aws.provision import StackOutputs, provision
from infra.aws.template import resolve
from infra.aws.trim import runtime_provided_modules
from infra.local.graph_standin import RunningStandin, serve_in_thread

RUNTIME_SCRIPT = Path(__file__).with_name("lambda_runtime.py")
MOTO_START_SECONDS = 30
CHILD_TIMEOUT_SECONDS = 120
REGION = "us-east-1"
SECRETS = {
    "messenger_app_secret": "smoke-app-secret",
    "messenger_verify_token": "smoke-verify-token",
    "messenger_page_token": "smoke-page-token",
    "admin_token": "smoke-admin-token",
}
AWS_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@dataclass(frozen=True)
class MotoServer:
    """A `moto_server` process on loopback; its recorder logs every AWS request it serves."""

    url: str

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """Yield a list that, on exit, holds every AWS request served meanwhile."""
        recorder = f"{self.url}/moto-api/recorder"
        requests.post(f"{recorder}/reset-recording", timeout=5).raise_for_status()
        requests.post(f"{recorder}/start-recording", timeout=5).raise_for_status()
        recorded: list[dict[str, Any]] = []
        try:
            yield recorded
        finally:
            requests.post(f"{recorder}/stop-recording", timeout=5).raise_for_status()
            lines = requests.get(f"{recorder}/download-recording", timeout=5).text.splitlines()
            recorded.extend(json.loads(line) for line in lines if line.strip())


@dataclass(frozen=True)
class PackagedFunction:
    """One function of the packaged SAM template: its handler and environment."""

    logical_id: str
    function_name: str
    """Its name in AWS, from the template's `FunctionName` (as `chalice deploy` names it)."""
    handler: str
    timeout: int
    environment: dict[str, str]


@dataclass(frozen=True)
class LambdaReport:
    """What the child runtime saw: module origins, dev-only imports, each invocation's result."""

    importable: dict[str, bool]
    module_files: dict[str, str | None]
    results: list[dict[str, Any]]
    log: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + MOTO_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited early with code {process.returncode}")
        try:
            requests.get(f"{url}/moto-api/data.json", timeout=1)
        except requests.ConnectionError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError("moto_server did not start listening in time")


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """moto as a separate server process, so the child talks to it as Lambda talks to AWS."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    recording = tmp_path_factory.mktemp("moto") / "recording.jsonl"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "MOTO_RECORDER_FILEPATH": str(recording)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_serving(process, url)
        yield MotoServer(url)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def prod_stack(moto_server: MotoServer) -> Iterator[tuple[StackOutputs, str]]:
    """The prod stage provisioned into the moto server, every secret set; and the app
    secret's value on a fresh stack (the template's `UNSET:` placeholder)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**AWS_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.url}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        aws.reset_clients()
        unset = {key: value for key, value in SECRETS.items() if key != "messenger_app_secret"}
        outputs = provision("prod", unset)
        secrets = aws.client("secretsmanager")
        placeholder = secrets.get_secret_value(SecretId=outputs.messenger_app_secret_name)
        secrets.put_secret_value(
            SecretId=outputs.messenger_app_secret_name,
            SecretString=SECRETS["messenger_app_secret"],
        )
        yield outputs, placeholder["SecretString"]
    aws.reset_clients()


@pytest.fixture
def prod_aws(prod_stack: tuple[StackOutputs, str], moto_server: MotoServer) -> Iterator[Any]:
    """This process's boto3 pointed at the moto server, for arranging and checking state."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**AWS_CREDENTIALS, "AWS_ENDPOINT_URL": moto_server.url}.items():
            patch.setenv(name, value)
        aws.reset_clients()
        yield aws
    aws.reset_clients()


@pytest.fixture(scope="module")
def task_root(lambda_package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deployment.zip unzipped into an empty folder, as Lambda lays it out in /var/task."""
    root = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(lambda_package / "deployment.zip") as archive:
        archive.extractall(root)
    return root


@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding what Lambda's Python runtime provides (the venv's pinned copies)."""
    root = tmp_path_factory.mktemp("var-runtime")
    for name, path in runtime_provided_modules().items():
        (root / name).symlink_to(path)
    return root


@pytest.fixture(scope="module")
def packaged_functions(lambda_package: Path) -> dict[str, PackagedFunction]:
    """Each function's handler, timeout and environment as the packaged template sets them."""
    sam = json.loads((lambda_package / "sam.json").read_text())
    functions = {}
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        variables = properties.get("Environment", {}).get("Variables", {})
        assert all(isinstance(value, str) for value in variables.values()), (
            f"{logical_id}: resolve CloudFormation intrinsics in its environment here"
        )
        functions[logical_id] = PackagedFunction(
            logical_id=logical_id,
            function_name=resolve(properties["FunctionName"], {"Stage": "prod"}),
            handler=properties["Handler"],
            timeout=int(properties.get("Timeout", 60)),
            environment=dict(variables),
        )
    return functions


@pytest.fixture(scope="module")
def graph() -> Iterator[RunningStandin]:
    """The Graph stand-in checking the prod page token and appsecret_proof."""
    with serve_in_thread(
        "127.0.0.1",
        0,
        page_token=SECRETS["messenger_page_token"],
        app_secret=SECRETS["messenger_app_secret"],
    ) as server:
        yield server


@pytest.fixture
def run_lambda(
    task_root: Path,
    runtime_sdk: Path,
    tmp_path: Path,
    *,
    moto_server: MotoServer,
    graph: RunningStandin,
    prod_stack: tuple[StackOutputs, str],
) -> Any:
    """Run one container of `function`: its invocations in order, in a fresh child process;
    `runtime` replaces the runtime's SDK folder."""

    def run(
        function: PackagedFunction,
        events: Sequence[dict[str, Any]],
        runtime: Path | None = None,
    ) -> LambdaReport:
        environment = {
            **function.environment,
            **AWS_CREDENTIALS,
            # Only these differ from AWS: the endpoint, and Send API calls to the stand-in.
            "AWS_ENDPOINT_URL": moto_server.url,
            "BANKBRIDGE_GRAPH_API_BASE": graph.url,
            "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "LAMBDA_TASK_ROOT": str(task_root),
            "_HANDLER": function.handler,
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
        invocations = [
            {
                "handler": function.handler,
                "function_name": environment["AWS_LAMBDA_FUNCTION_NAME"],
                "timeout": function.timeout,
                "event": event,
            }
            for event in events
        ]
        invocations_path = tmp_path / "invocations.json"
        report_path = tmp_path / "report.json"
        invocations_path.write_text(json.dumps(invocations))
        completed = subprocess.run(
            [
                sys.executable,
                "-I",
                "-S",
                str(RUNTIME_SCRIPT),
                str(task_root),
                str(runtime or runtime_sdk),
                str(invocations_path),
                str(report_path),
            ],
            env=environment,
            cwd=task_root,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        report = json.loads(report_path.read_text())
        return LambdaReport(
            importable=report["isolation"]["importable"],
            module_files=report["isolation"]["module_files"],
            results=report["results"],
            log=completed.stdout + completed.stderr,  # Lambda logs both streams
        )

    return run
