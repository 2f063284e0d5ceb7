"""Every packaged handler, invoked as Lambda would from the unzipped prod package.

Each test runs one or more "containers" (`run_lambda`: a fresh `python -I -S`
with only the task root and the runtime's SDK importable) with the prod
function's own handler and environment from the packaged template, against the
prod stack in a moto server. Only the AWS endpoint and the Send API base (the
Graph stand-in) differ from a deployment.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.channels.meta.signature import sign
from infra.aws.provision import StackOutputs
from infra.aws.trim import runtime_provided_modules
from infra.aws.vendor import declared_sdk_minimum
from infra.local.graph_standin import RunningStandin
from infra.local.queue_pump import build_sqs_event
from tests.conftest import ROOT
from tests.factories import delivery, text_event
from tests.smoke.conftest import SECRETS, MotoServer, PackagedFunction

WEBHOOK = "/webhooks/messenger"
API_ID = "smoke12345"
DOMAIN = f"{API_ID}.execute-api.us-east-1.amazonaws.com"


def api_event(
    method: str,
    resource: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway REST (proxy) event as it reaches the API function."""
    all_headers = {"Host": DOMAIN, "User-Agent": "smoke-test", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": (
            {name: [value] for name, value in query.items()} if query else None
        ),
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "domainName": DOMAIN,
            "apiId": API_ID,
            "accountId": "123456789012",
            "requestId": str(uuid.uuid4()),
            "protocol": "HTTP/1.1",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "smoke-test"},
        },
        "body": body.decode() if body is not None else None,
        "isBase64Encoded": False,
    }


def signed_webhook(body: bytes, secret: str | None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return api_event("POST", WEBHOOK, WEBHOOK, headers=headers, body=body)


def scheduled_event() -> dict[str, Any]:
    """The EventBridge event a `Rate` schedule delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/bankbridge-prod-daily"],
        "detail": {},
    }


def drain(aws: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive every message on the queue (as Lambda's poller would), with all attributes."""
    sqs = aws.client("sqs")
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        messages.extend(batch)
    return messages


def value(report_result: dict[str, Any], log: str) -> Any:
    assert "error" not in report_result, f"{report_result['error']}\n{log}"
    return report_result["value"]


@pytest.fixture
def api(packaged_functions: dict[str, PackagedFunction]) -> PackagedFunction:
    return packaged_functions["APIHandler"]


@pytest.fixture
def queues_empty(prod_aws: Any, prod_stack: tuple[StackOutputs, str]) -> None:
    """Nothing left on the queues by an earlier test."""
    outputs, _ = prod_stack
    drain(prod_aws, outputs.inbound_queue_url)
    drain(prod_aws, outputs.events_queue_url)


def handshake(token: str) -> dict[str, Any]:
    query = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    return api_event("GET", WEBHOOK, WEBHOOK, query=query)


def test_the_child_imports_the_sdk_from_the_runtime_and_the_rest_from_the_package(
    run_lambda: Any, api: PackagedFunction, task_root: Path, runtime_sdk: Path
) -> None:
    """urllib3 is in both: the zip's copy (our pinned one) wins, as /var/task comes first."""
    report = run_lambda(api, [handshake(SECRETS["messenger_verify_token"])])

    assert report.importable == {"moto": False, "pytest": False, "flask": False}
    loaded = {name: path for name, path in report.module_files.items() if path is not None}
    from_runtime = {name for name, path in loaded.items() if Path(path).is_relative_to(runtime_sdk)}
    from_package = {name for name, path in loaded.items() if Path(path).is_relative_to(task_root)}
    assert from_runtime == {"botocore"} | ({"boto3"} & set(loaded)), loaded
    assert {"app", "chalice", "pydantic_core", "urllib3"} <= from_package, loaded
    assert from_runtime | from_package == set(loaded)


def test_a_runtime_botocore_older_than_the_locked_one_is_refused_before_any_aws_call(
    run_lambda: Any, api: PackagedFunction, moto_server: MotoServer, tmp_path: Path
) -> None:
    """The same SDK, but claiming an older version: every AWS call fails, naming both."""
    oldest = declared_sdk_minimum(ROOT)
    runtime = tmp_path / "old-runtime"
    runtime.mkdir()
    for name, path in runtime_provided_modules().items():
        if name != "botocore":
            (runtime / name).symlink_to(path)
    real = runtime_provided_modules()["botocore"]
    (runtime / "botocore").mkdir()
    for entry in real.iterdir():
        if entry.name not in ("__init__.py", "__pycache__"):
            (runtime / "botocore" / entry.name).symlink_to(entry)
    source = (real / "__init__.py").read_text()
    older, count = re.subn(r"__version__ = '[^']+'", "__version__ = '1.30.0'", source)
    assert count == 1
    (runtime / "botocore" / "__init__.py").write_text(older)

    with moto_server.recording() as aws_requests:
        report = run_lambda(api, [handshake(SECRETS["messenger_verify_token"])], runtime)

    [answer] = report.results
    assert value(answer, report.log)["statusCode"] == 500
    assert (
        f"the Lambda runtime's botocore 1.30.0 is older than {oldest}, the oldest this "
        "package supports"
    ) in report.log
    assert [request["url"] for request in aws_requests] == []


def file_digests(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by its path relative to `root`."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file()
    }


@pytest.mark.usefixtures("queues_empty")
def test_the_functions_run_on_the_shipped_bytecode_and_write_nothing_to_the_task_root(
    run_lambda: Any,
    packaged_functions: dict[str, PackagedFunction],
    prod_aws: Any,
    prod_stack: tuple[StackOutputs, str],
    *,
    lambda_package: Path,
    task_root: Path,
) -> None:
    """Lambda's /var/task is read-only: a module whose `.pyc` the runtime did not accept
    would be compiled again on every cold start. Here the folder is writable, so Python
    would write that `.pyc`; the task root must still hold exactly the zip's files."""
    outputs, _ = prod_stack
    body = json.dumps(delivery(text_event(f"smoke-{uuid.uuid4().hex[:8]}", "hi"))).encode()
    webhook = run_lambda(
        packaged_functions["APIHandler"], [signed_webhook(body, SECRETS["messenger_app_secret"])]
    )
    assert value(webhook.results[0], webhook.log)["statusCode"] == 200
    worker = run_lambda(
        packaged_functions["HandleInboundEvents"],
        [build_sqs_event(drain(prod_aws, outputs.inbound_queue_url), outputs.inbound_queue_arn)],
    )
    assert value(worker.results[0], worker.log) == {"batchItemFailures": []}

    with zipfile.ZipFile(lambda_package / "deployment.zip") as archive:
        shipped = {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.endswith("/")
        }
    assert any(name.endswith(".pyc") for name in shipped)
    assert file_digests(task_root) == shipped


def test_handshake_answers_the_challenge_for_the_verify_token_only(
    run_lambda: Any, api: PackagedFunction, moto_server: MotoServer
) -> None:
    with moto_server.recording() as aws_requests:
        report = run_lambda(
            api, [handshake(SECRETS["messenger_verify_token"]), handshake("not-the-token")]
        )

    # Also proves the recorder sees the child's calls, which the unsigned-POST test relies on.
    targets = [request["headers"].get("X-Amz-Target") for request in aws_requests]
    assert "secretsmanager.GetSecretValue" in targets

    right, wrong = (value(result, report.log) for result in report.results)
    assert (right["statusCode"], right["body"]) == (200, "1158201444")
    assert wrong["statusCode"] == 403
    assert "1158201444" not in wrong["body"]


@pytest.mark.usefixtures("queues_empty")
def test_signed_post_is_queued_and_the_inbound_worker_answers_it(
    run_lambda: Any,
    packaged_functions: dict[str, PackagedFunction],
    prod_aws: Any,
    prod_stack: tuple[StackOutputs, str],
    graph: RunningStandin,
) -> None:
    outputs, _ = prod_stack
    psid = f"smoke-{uuid.uuid4().hex[:8]}"
    body = json.dumps(delivery(text_event(psid, "hi"))).encode()

    webhook = run_lambda(
        packaged_functions["APIHandler"], [signed_webhook(body, SECRETS["messenger_app_secret"])]
    )
    [answer] = webhook.results
    assert value(answer, webhook.log)["statusCode"] == 200
    queued = drain(prod_aws, outputs.inbound_queue_url)
    assert len(queued) == 1

    worker = run_lambda(
        packaged_functions["HandleInboundEvents"],
        [build_sqs_event(queued, outputs.inbound_queue_arn)],
    )
    [batch] = worker.results
    assert value(batch, worker.log) == {"batchItemFailures": []}
    sent = requests.get(f"{graph.url}/__sent", params={"recipient": psid}, timeout=5).json()
    assert len(sent) >= 1


@pytest.mark.usefixtures("queues_empty")
def test_unsigned_post_is_refused_before_any_aws_call(
    run_lambda: Any, api: PackagedFunction, moto_server: MotoServer
) -> None:
    body = json.dumps(delivery(text_event("smoke-unsigned", "hi"))).encode()

    with moto_server.recording() as aws_requests:
        report = run_lambda(api, [signed_webhook(body, secret=None)])

    [answer] = report.results
    assert value(answer, report.log)["statusCode"] == 403
    assert [request["url"] for request in aws_requests] == []


@pytest.mark.usefixtures("queues_empty")
def test_signed_post_is_refused_while_the_app_secret_is_the_template_placeholder(
    run_lambda: Any,
    api: PackagedFunction,
    prod_aws: Any,
    prod_stack: tuple[StackOutputs, str],
) -> None:
    outputs, placeholder = prod_stack
    assert placeholder.startswith("UNSET:")
    secrets = prod_aws.client("secretsmanager")
    body = json.dumps(delivery(text_event("smoke-placeholder", "hi"))).encode()
    secrets.put_secret_value(SecretId=outputs.messenger_app_secret_name, SecretString=placeholder)
    try:
        # Signed with the placeholder, which is public: exactly what an attacker would try.
        report = run_lambda(api, [signed_webhook(body, placeholder)])
    finally:
        secrets.put_secret_value(
            SecretId=outputs.messenger_app_secret_name,
            SecretString=SECRETS["messenger_app_secret"],
        )

    [answer] = report.results
    assert value(answer, report.log)["statusCode"] == 403
    assert "Secret is not set" in report.log  # the operator's one line, naming the cause
    assert drain(prod_aws, outputs.inbound_queue_url) == []


def test_link_start_with_a_bad_token_shows_a_friendly_page(
    run_lambda: Any, api: PackagedFunction
) -> None:
    event = api_event("GET", "/link/start", "/link/start", query={"token": "not-a-real-token"})

    report = run_lambda(api, [event])

    [answer] = report.results
    page = value(answer, report.log)
    assert 400 <= page["statusCode"] < 500
    assert page["headers"]["Content-Type"].startswith("text/html")
    text = html.unescape(page["body"])
    assert "This link can't be used" in text
    assert "Go back to the chat" in text


@pytest.mark.usefixtures("queues_empty")
def test_events_worker_processes_a_batch_and_reports_only_the_bad_record(
    run_lambda: Any,
    packaged_functions: dict[str, PackagedFunction],
    prod_aws: Any,
    prod_stack: tuple[StackOutputs, str],
) -> None:
    outputs, _ = prod_stack
    event = {
        "event_id": f"evt-{uuid.uuid4().hex}",
        "institution_id": "smoke-bank",
        "type": "fraud_suspected",
        "received_at": datetime.now(UTC).isoformat(),
        "account_id": "acc-unlinked",
    }
    sqs = prod_aws.client("sqs")
    sqs.send_message(QueueUrl=outputs.events_queue_url, MessageBody=json.dumps(event))
    sqs.send_message(QueueUrl=outputs.events_queue_url, MessageBody="{not json")
    messages = drain(prod_aws, outputs.events_queue_url)
    malformed = next(m["MessageId"] for m in messages if m["Body"] == "{not json")

    report = run_lambda(
        packaged_functions["HandleBankEvents"],
        [build_sqs_event(messages, outputs.events_queue_arn)],
    )

    [batch] = report.results
    assert value(batch, report.log) == {"batchItemFailures": [{"itemIdentifier": malformed}]}


def test_daily_consent_check_runs(
    run_lambda: Any, packaged_functions: dict[str, PackagedFunction]
) -> None:
    report = run_lambda(packaged_functions["DailyConsentCheck"], [scheduled_event()])

    [result] = report.results
    assert value(result, report.log) is None
