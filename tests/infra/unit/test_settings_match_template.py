"""Settings that mirror infrastructure values must agree with the template."""

from __future__ import annotations

from chalicelib.settings import Settings
from chalicelib.stage import resource_names
from infra.aws.template import load_template, resolve


def test_inbound_receive_count_matches_the_queue_redrive_policy() -> None:
    # The worker tells the person "please try again later" on the last delivery before the DLQ,
    # so it must know the same maxReceiveCount the queue uses.
    queue = load_template()["Resources"]["InboundQueue"]["Properties"]
    max_receive = queue["RedrivePolicy"]["maxReceiveCount"]
    assert Settings(stage="prod").inbound_max_receive_count == max_receive


def test_names_derived_from_the_stage_are_the_templates() -> None:
    """Settings and app.py fall back to `resource_names`; the template is the truth."""
    resources = load_template()["Resources"]

    def named(logical_id: str, prop: str) -> str:
        return resolve(resources[logical_id]["Properties"][prop], {"Stage": "qa"})

    assert resource_names("qa") == {
        "table_name": named("Table", "TableName"),
        "inbound_queue_name": named("InboundQueue", "QueueName"),
        "events_queue_name": named("EventsQueue", "QueueName"),
        "kms_key_id": named("KmsKeyAlias", "AliasName"),
        "messenger_app_secret_name": named("MessengerAppSecret", "Name"),
        "messenger_verify_token_name": named("MessengerVerifyToken", "Name"),
        "messenger_page_token_name": named("MessengerPageToken", "Name"),
        "admin_token_name": named("AdminToken", "Name"),
        "account_reference_key_name": named("AccountReferenceKey", "Name"),
        "whatsapp_access_token_name": named("WhatsappAccessToken", "Name"),
        "whatsapp_app_secret_name": named("WhatsappAppSecret", "Name"),
        "whatsapp_verify_token_name": named("WhatsappVerifyToken", "Name"),
        "instagram_access_token_name": named("InstagramAccessToken", "Name"),
        "instagram_app_secret_name": named("InstagramAppSecret", "Name"),
        "instagram_verify_token_name": named("InstagramVerifyToken", "Name"),
    }
