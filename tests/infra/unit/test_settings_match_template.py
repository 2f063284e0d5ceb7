"""Settings that mirror infrastructure values must agree with the template."""

from __future__ import annotations

from pydantic.alias_generators import to_pascal

from chalicelib.settings import Settings
from chalicelib.stage import channel_secret_fields, resource_names
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
        "admin_token_name": named("AdminToken", "Name"),
        "account_reference_key_name": named("AccountReferenceKey", "Name"),
        **{field: named(secret_resource(field), "Name") for field in channel_secret_fields()},
    }


def secret_resource(field: str) -> str:
    """The template's logical id of a channel secret's settings field, as the template names
    them: `whatsapp_app_secret_name` -> `WhatsappAppSecret`."""
    return to_pascal(field.removesuffix("_name"))


def test_every_channel_secret_in_the_table_is_in_the_template_with_its_outputs() -> None:
    """A new channel's row in `CHANNEL_SECRETS` names the resources and outputs it still needs."""
    template = load_template()
    wanted = {secret_resource(field) for field in channel_secret_fields()}
    missing_resources = wanted - set(template["Resources"])
    missing_outputs = {f"{logical_id}{part}" for logical_id in wanted for part in ("Name", "Arn")}
    assert missing_resources == set()
    assert missing_outputs - set(template["Outputs"]) == set()


def test_every_channel_secret_in_the_table_is_a_setting() -> None:
    """Adapters read their secrets' names from settings fields the table names."""
    secret_fields = {
        name for name in Settings.model_fields if name.endswith(("_secret_name", "_token_name"))
    }
    assert secret_fields - {"admin_token_name"} == set(channel_secret_fields())
