"""The shared moto stack every `aws_stack` test starts from: each test sees it as provisioned,
whether the reset between tests took the cheap path (data operations only) or the full one."""

from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from chalicelib import aws
from tests.conftest import DEV_SECRETS, SessionStack


def _leftovers(outputs: Any) -> dict[str, Any]:
    """What a test could leave behind that the next one must not see."""
    queue_urls = (outputs.inbound_queue_url, outputs.events_queue_url)
    sqs = aws.client("sqs")
    waiting = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        for url in queue_urls
    }
    secrets = aws.client("secretsmanager")
    return {
        "items": aws.client("dynamodb").scan(TableName=outputs.table_name)["Items"],
        "messages": [url for url, count in waiting.items() if count != "0"],
        "extra_secret": [
            s["Name"] for s in secrets.list_secrets()["SecretList"] if s["Name"] == "extra/secret"
        ],
        "admin_token": secrets.get_secret_value(SecretId=outputs.admin_token_name)["SecretString"],
    }


@pytest.mark.usefixtures("fake_aws_environment")
def test_each_test_starts_from_the_provisioned_stack_whichever_reset_ran() -> None:
    stack = SessionStack()
    with stack.active() as outputs:
        clean = _leftovers(outputs)
        aws.client("dynamodb").put_item(
            TableName=outputs.table_name, Item={"pk": {"S": "P"}, "sk": {"S": "S"}}
        )
        aws.client("sqs").send_message(QueueUrl=outputs.events_queue_url, MessageBody="m")
        secrets = aws.client("secretsmanager")
        secrets.create_secret(Name="extra/secret", SecretString="x")
        secrets.put_secret_value(SecretId=outputs.admin_token_name, SecretString="changed")
        assert _leftovers(outputs) != clean

    with stack.active() as outputs:  # data operations only: reset, not provisioned again
        assert _leftovers(outputs) == clean
        assert clean["admin_token"] == DEV_SECRETS["admin_token"]
        aws.client("sqs").set_queue_attributes(
            QueueUrl=outputs.events_queue_url, Attributes={"DelaySeconds": "5"}
        )
    assert (stack.provisioned, stack.reused) == (1, 1)

    with stack.active() as outputs:  # a queue reconfigured: only provisioning undoes it
        delay = aws.client("sqs").get_queue_attributes(
            QueueUrl=outputs.events_queue_url, AttributeNames=["DelaySeconds"]
        )
        assert delay["Attributes"]["DelaySeconds"] == "0"
    assert (stack.provisioned, stack.reused) == (2, 1)

    with mock_aws():  # a test with its own moto world wipes the shared one, and calls nothing
        pass

    with stack.active() as outputs:  # the cheap reset's probe notices the wipe
        assert _leftovers(outputs) == clean
    assert (stack.provisioned, stack.reused) == (3, 1)
