"""Shared fixtures: moto-backed AWS created from the real template, and the Graph stand-in."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEV_SECRETS = {
    "messenger_app_secret": "test-app-secret",
    "messenger_verify_token": "test-verify-token",
    "messenger_page_token": "test-page-token",
    "admin_token": "test-admin-token",
}
TEST_ACCOUNT_REFERENCE_KEY = "test-account-reference-key-0123456789abcdef"


def specs_dir() -> Path | None:
    """The official specs folder, or None (tests then skip, except under CI=true)."""
    path = Path(os.environ.get("BANKBRIDGE_SPECS_DIR", ROOT.parent / "shared" / "specs"))
    return path if path.is_dir() else None


def require_specs() -> Path:
    """Return the specs folder or skip with a reason; under CI=true a missing folder fails."""
    path = specs_dir()
    if path is None:
        reason = "official specs not found: set BANKBRIDGE_SPECS_DIR (default ../shared/specs)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def spec_document(relative: str) -> Any:
    """A YAML spec file under the specs folder, parsed by libyaml's C loader when PyYAML has
    it (about 7x faster than the pure-Python one on these half-megabyte files).

    Through JSON, so integer keys (v3.1.11's status codes) become strings as in the others;
    `utf-8-sig` because Brazil's files start with a byte-order mark.
    """
    import yaml  # lazy: only the spec-reading tests need it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (require_specs() / relative).read_text(encoding="utf-8-sig")
    return json.loads(json.dumps(yaml.load(text, Loader=loader)))  # noqa: S506 (a safe loader)


@pytest.fixture(scope="session", autouse=True)
def botocore_data_parsed_once() -> Iterator[None]:
    """botocore's JSON data (service models, endpoints, partitions) parsed once per process.

    `reset_process_caches` keeps the app's botocore session, but tests that reset the
    clients in full, moto's own sessions and the stack's bookkeeping clients each start
    one, whose loader would parse the same megabytes of JSON again. The parsed files are
    shared read-only, as boto3's default session shares them between its clients.
    """
    from botocore.loaders import JSONFileLoader

    @functools.cache
    def parsed(file_path: str) -> Any:
        return read_file(JSONFileLoader(), file_path)

    read_file = JSONFileLoader.load_file
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JSONFileLoader, "load_file", lambda _, file_path: parsed(file_path))
        yield


MOTO_OPERATIONS: list[str] = []
"""Every operation in-process moto answered since `SessionStack` last reset it, so a reset
can skip what no operation could have changed."""


def _operation_name(request: Any) -> str:
    """The AWS operation of a request moto intercepts ("" when it cannot be told)."""
    from urllib.parse import parse_qs

    target = request.headers.get("X-Amz-Target")
    if target:  # JSON protocols: DynamoDB, SQS, KMS, Secrets Manager
        return str(target.decode() if isinstance(target, bytes) else target).rsplit(".", 1)[-1]
    body = request.body or b""
    form = parse_qs(body.decode(errors="replace") if isinstance(body, bytes) else str(body))
    return form.get("Action", [""])[0]  # query protocols: CloudFormation, SNS


@pytest.fixture(scope="session", autouse=True)
def moto_requests_serialised() -> Iterator[None]:
    """In-process moto answers one request at a time, as each AWS call is atomic in AWS.

    The workers handle SQS records on several threads. DynamoDB applies each conditional
    write atomically; moto's in-process backends do not lock, so two threads could read a
    dict mid-change ("dictionary changed size during iteration") or see a claim half
    written. A lock around moto's dispatch gives tests the atomicity the product relies on.
    """
    from moto.core.botocore_stubber import BotocoreStubber

    dispatch = BotocoreStubber.process_request
    lock = threading.RLock()

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            MOTO_OPERATIONS.append(_operation_name(request))
            return dispatch(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BotocoreStubber, "process_request", one_at_a_time)
        yield


def reset_process_caches() -> None:
    """Forget every per-container cache so each test sees its own AWS and settings."""
    from chalicelib import aws, envelope, queues, secrets
    from chalicelib.channels import registry
    from chalicelib.settings import get_settings

    aws.reset_clients(keep_session=True)  # a new client per test; botocore's data read once
    envelope.forget_data_keys()
    registry.adapter_for.cache_clear()
    get_settings.cache_clear()
    queues.queue_url.cache_clear()
    secrets.forget_secrets()


@contextmanager
def account_reference_key_of(key: str) -> Iterator[bytes]:
    """Account references keyed by `key`, with no settings and no AWS (payloads, routing)."""
    from chalicelib.store import account_reference

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(account_reference, "account_reference_key", key.encode)
        yield key.encode()


@pytest.fixture
def account_reference_key() -> Iterator[bytes]:
    """The stage key of account references, for unit tests that compute them without AWS.

    One constant key, so a hypothesis test may share it across examples; tests with the
    `aws_stack` read the template's generated secret from moto instead.
    """
    with account_reference_key_of(TEST_ACCOUNT_REFERENCE_KEY) as key:
        yield key


@pytest.fixture
def local_dev_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local `dev` stage's rules (http and loopback bank URLs) without any AWS.

    For tests that drive connectors against the loopback sandbox bank: there is
    no stage default, and `dev` rules need local AWS, declared here by the
    in-process opt-in.
    """
    from chalicelib.settings import get_settings

    monkeypatch.setenv("BANKBRIDGE_STAGE", "dev")
    monkeypatch.setenv("BANKBRIDGE_TEST_IN_PROCESS_AWS", "1")
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint override: boto3 talks to in-process moto only.

    `mock_aws` ignores custom endpoints, so these tests declare local AWS with the
    documented opt-in (`chalicelib.aws.IN_PROCESS_AWS_VARIABLE`), which lets the
    `dev` stage use its local rules; Lambda ignores it.
    """
    for name, value in {
        "BANKBRIDGE_TEST_IN_PROCESS_AWS": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)


class SessionStack:
    """One moto world holding a stage's stack, provisioned once and reset between tests.

    Provisioning the template takes one to three seconds, so `aws_stack` provisions the
    dev stack once (a module may hold its own, of another stage) and starts each test
    from the state provisioning left (`secret_values` given): the table empty, every
    queue empty, the template's secrets at their provisioned values and no other secret.
    Anything else a test changes (a stack, table, queue, key, topic or secret added,
    deleted or reconfigured, or moto wiped by a test's own `mock_aws` or by another
    stage's `SessionStack`) changes the stack's fingerprint, and the next test gets a
    freshly provisioned stack instead.
    moto patches botocore only while a test holding the stack runs.
    """

    def __init__(
        self, stage: str = "dev", secret_values: dict[str, str] | None = DEV_SECRETS
    ) -> None:
        from moto import mock_aws

        self.stage = stage
        self.given_secret_values = secret_values
        self.mock = mock_aws()
        self.outputs: Any = None
        self.fingerprint: object = None
        self.table_creation_times: dict[str, Any] = {}
        self.secret_values: dict[str, str] = {}
        self.provisioned = 0
        self.reused = 0
        self.compared_in_full = 0

    @contextmanager
    def active(self) -> Iterator[Any]:
        """Patch botocore with this moto world; yield the stack's outputs, reset or new."""
        self.mock.start(reset=False)
        try:
            reset_process_caches()
            if self.outputs is None or not self._reset():
                self._provision()
            reset_process_caches()
            MOTO_OPERATIONS.clear()
            yield self.outputs
        finally:
            reset_process_caches()
            self.mock.stop(remove_data=False)

    def discard(self) -> None:
        """Provision anew for the next test, whatever state this one left."""
        self.outputs = None

    def _provision(self) -> None:
        """Wipe moto and provision the stage's stack from the template."""
        from infra.aws.provision import provision

        self.mock.stop(remove_data=True)
        self.mock.start(reset=True)
        reset_process_caches()
        self.outputs = provision(self.stage, secret_values=self.given_secret_values)
        secrets = _aws_client("secretsmanager")
        self.secret_values = {
            name: secrets.get_secret_value(SecretId=name)["SecretString"]
            for name in _secret_names(secrets)
        }
        self.fingerprint = _infrastructure_fingerprint()
        self.table_creation_times = _table_creation_times()
        self.provisioned += 1

    def _reset(self) -> bool:
        """Return the stack to its provisioned state; False when only provisioning can.

        A test whose moto operations were all data reads and writes (`CHEAP_RESET`) cannot
        have changed the infrastructure: one probe shows moto was not wiped meanwhile, and
        only what it wrote is emptied or restored. Any other operation gets the whole
        fingerprint compared and everything emptied.
        """
        from botocore.exceptions import ClientError

        operations = set(MOTO_OPERATIONS)
        full = not operations <= CHEAP_RESET
        secrets = _aws_client("secretsmanager")
        if full or operations & SECRET_WRITES:
            try:
                for name in _secret_names(secrets) - set(self.secret_values):
                    secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
            except ClientError:  # e.g. a secret already scheduled for deletion
                return False
        if full:
            self.compared_in_full += 1
            if _infrastructure_fingerprint() != self.fingerprint:
                return False
        if not full and _table_creation_times() != self.table_creation_times:
            return False  # moto was wiped (another stage's stack, a test's own mock_aws)
        if full or operations & SECRET_WRITES:
            for name, value in self.secret_values.items():
                if secrets.get_secret_value(SecretId=name)["SecretString"] != value:
                    secrets.put_secret_value(SecretId=name, SecretString=value)
        if full or operations & TABLE_WRITES:
            _empty_tables()
        if full or operations & QUEUE_WRITES:
            _empty_queues()
        self.reused += 1
        return True


TABLE_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
QUEUE_WRITES = frozenset({"SendMessage", "SendMessageBatch"})
SECRET_WRITES = frozenset({"CreateSecret", "PutSecretValue"})
CHEAP_RESET = (
    TABLE_WRITES
    | QUEUE_WRITES
    | SECRET_WRITES
    | {
        *("GetItem", "BatchGetItem", "TransactGetItems", "Query", "Scan", "DescribeTable"),
        *("ListTables", "DescribeTimeToLive"),
        *("ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility"),
        *("ChangeMessageVisibilityBatch", "GetQueueUrl", "GetQueueAttributes", "ListQueues"),
        *("PurgeQueue", "Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey", "ListKeys"),
        *("ListAliases", "GetSecretValue", "DescribeSecret", "ListSecrets"),
        *("DescribeStacks", "Publish", "ListTopics"),
    }
)
"""Operations that change no infrastructure: after only these, a reset empties what the
writes among them filled (`CreateSecret` adds a secret the reset deletes) and restores
secret values, without comparing the whole fingerprint."""


def _table_creation_times() -> dict[str, Any]:
    dynamodb = _aws_client("dynamodb")
    return {
        name: dynamodb.describe_table(TableName=name)["Table"]["CreationDateTime"]
        for name in dynamodb.list_tables()["TableNames"]
    }


@functools.cache
def _aws_client(service: str) -> Any:
    """A client of in-process moto for the stack's own bookkeeping (created once)."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client(service)


def _secret_names(secrets: Any) -> set[str]:
    pages = secrets.get_paginator("list_secrets").paginate(IncludePlannedDeletion=True)
    return {secret["Name"] for page in pages for secret in page["SecretList"]}


def _infrastructure_fingerprint() -> object:
    """Everything provisioning sets that a test could change, but no data a test writes."""
    cloudformation = _aws_client("cloudformation")
    dynamodb = _aws_client("dynamodb")
    sqs = _aws_client("sqs")
    secrets = _aws_client("secretsmanager")
    kms = _aws_client("kms")
    tables = dynamodb.list_tables()["TableNames"]
    queues = sqs.list_queues().get("QueueUrls", [])
    queue_counters = {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}
    queue_counters |= {"ApproximateNumberOfMessagesDelayed"}
    return repr(
        {
            "stacks": [
                (stack["StackName"], stack["StackStatus"], stack.get("LastUpdatedTime"))
                for stack in cloudformation.describe_stacks()["Stacks"]
            ],
            "tables": {
                name: (
                    {
                        key: value
                        for key, value in dynamodb.describe_table(TableName=name)["Table"].items()
                        if key not in {"ItemCount", "TableSizeBytes"}
                    },
                    dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"],
                )
                for name in tables
            },
            "queues": {
                url: {
                    key: value
                    for key, value in sqs.get_queue_attributes(
                        QueueUrl=url, AttributeNames=["All"]
                    )["Attributes"].items()
                    if key not in queue_counters
                }
                for url in queues
            },
            "secrets": sorted(
                (
                    secret["Name"],
                    secret.get("DeletedDate"),
                    secret.get("KmsKeyId"),
                    secret.get("RotationEnabled"),
                    secret.get("Tags"),
                )
                for page in secrets.get_paginator("list_secrets").paginate(
                    IncludePlannedDeletion=True
                )
                for secret in page["SecretList"]
            ),
            "keys": [
                kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
                for key in kms.list_keys()["Keys"]
            ],
            "aliases": kms.list_aliases()["Aliases"],
            "topics": _aws_client("sns").list_topics()["Topics"],
        }
    )


def empty_tables_and_queues() -> None:
    """Delete every item of every table and every message of every queue in moto."""
    _empty_tables()
    _empty_queues()


def _empty_tables() -> None:
    dynamodb = _aws_client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        keys = [
            key["AttributeName"]
            for key in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        requests = [
            {"DeleteRequest": {"Key": {name: item[name] for name in keys}}}
            for page in dynamodb.get_paginator("scan").paginate(
                TableName=table, ProjectionExpression=", ".join(keys)
            )
            for item in page["Items"]
        ]
        for start in range(0, len(requests), 25):
            dynamodb.batch_write_item(RequestItems={table: requests[start : start + 25]})


def _empty_queues() -> None:
    sqs = _aws_client("sqs")
    with pytest.MonkeyPatch.context() as patch:
        # moto refuses a second purge within 60 s, as SQS does; no code under test purges.
        patch.setenv("MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR", "false")
        for url in sqs.list_queues().get("QueueUrls", []):
            sqs.purge_queue(QueueUrl=url)


SESSION_STACK = pytest.StashKey[SessionStack]()


@pytest.fixture(scope="session")
def session_stack(request: pytest.FixtureRequest) -> SessionStack:
    """The session's moto world; tests take it through `aws_stack`."""
    stack = SessionStack()
    request.config.stash[SESSION_STACK] = stack
    return stack


@pytest.fixture
def aws_stack(
    fake_aws_environment: None, session_stack: SessionStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The dev stage's resources in moto, created from `infra/aws/template.json` (see
    `SessionStack`: provisioned once a session, reset to that state for each test)."""
    with session_stack.active() as outputs:
        for name, value in outputs.settings_environment().items():
            monkeypatch.setenv(name, value)
        reset_process_caches()
        yield outputs


@pytest.fixture
def disposable_aws_stack(aws_stack: Any, session_stack: SessionStack) -> Iterator[Any]:
    """`aws_stack` for a test that changes the infrastructure itself (deletes a queue or a
    secret, reconfigures a queue): the next test gets a newly provisioned stack. Changes
    the reset cannot undo are also caught by the fingerprint; this says so up front."""
    yield aws_stack
    session_stack.discard()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how often the session's moto stack was provisioned and how often reused."""
    stack = terminalreporter.config.stash.get(SESSION_STACK, None)
    if stack is not None:
        terminalreporter.write_line(
            f"aws_stack: provisioned {stack.provisioned}x, reset and reused {stack.reused}x, "
            f"{stack.compared_in_full} resets compared in full"
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse two tests with one node id: pytest-xdist schedules by id and runs only one."""
    counts = Counter(item.nodeid for item in items)
    repeated = sorted(nodeid for nodeid, count in counts.items() if count > 1)
    if repeated:
        raise pytest.UsageError(f"tests share a node id (give them distinct ids): {repeated}")


@pytest.hookimpl(optionalhook=True)  # the hook exists only with pytest-xdist installed
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (`make test`) starts one worker more than there are cores: the worker
    holding `tests/e2e` waits on the local stack much of the time, but each worker also
    pays its own imports, moto stack and servers. On 2 cores, the same clean clone
    measured 318 s with 2 workers, 295 s with 3 and 338 s with 4 (CPU 513, 525 and 617 s).
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return (os.cpu_count() or 1) + 1


# Tests under this folder share one local stack (a session fixture of its conftest.py), so
# under pytest-xdist they run on one worker and the stack starts once.
ONE_WORKER_FOLDER = "tests/e2e/"


@pytest.hookimpl(optionalhook=True)  # the hook exists only with pytest-xdist installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (`make test`), but with all of `ONE_WORKER_FOLDER` as one unit.

    A module stays on one worker, so its module-scoped fixtures (a Prism mock, a sandbox
    bank, the held moto stack) start once. xdist's own `loadgroup` does not group under
    pytest 9.2: it renames node ids through an attribute pytest 9.2 no longer reads.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling  # lazy: only the xdist controller needs it

    class LoadFileSharingTheStack(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return ONE_WORKER_FOLDER if path.startswith(ONE_WORKER_FOLDER) else path

    return LoadFileSharingTheStack(config, log)


@pytest.fixture(scope="session")
def lambda_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The prod stage packaged by `infra.aws.package` once per run (the locked Linux wheels
    come from the hash-checked wheel cache, or PyPI the first time): a folder with
    `sam.json` and `deployment.zip`.

    Under pytest-xdist the first worker to ask builds it in the run's temporary folder,
    which every worker shares, while the others wait on a lock and then read the same one.
    """
    from infra.aws.package import package

    run_folder = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        run_folder = run_folder.parent  # each worker's basetemp is a child of the run's
    out = run_folder / "lambda-package"
    built = run_folder / "lambda-package.built"
    with (run_folder / "lambda-package.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not built.exists():
            shutil.rmtree(out, ignore_errors=True)  # what a failed build left
            package(ROOT, "prod", out)
            built.touch()
    return out
