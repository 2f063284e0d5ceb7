"""WhatsApp configuration: off unless a phone number id is set, fail closed once it is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.channels.port import ApprovedTemplate, Purpose
from chalicelib.channels.whatsapp.adapter import whatsapp_config
from chalicelib.channels.whatsapp.templates import (
    CONSENT_REMINDER_TEMPLATE,
    FRAUD_ALERT_TEMPLATE,
    TEMPLATE_LANGUAGE,
)
from chalicelib.settings import WHATSAPP_DEDUPE_TTL_SECONDS, Settings, describe_errors

PHONE_NUMBER_ID = "106540352242922"


def _settings(**variables: str) -> Settings:
    return Settings.from_environment(
        {"BANKBRIDGE_STAGE": "prod", **{f"BANKBRIDGE_{k.upper()}": v for k, v in variables.items()}}
    )


def _problem(**variables: str) -> str:
    with pytest.raises(ValidationError) as raised:
        _settings(**variables)
    return describe_errors(raised.value)


@pytest.mark.parametrize("phone_number_id", [None, "", "  "])
def test_whatsapp_is_off_unless_a_phone_number_id_is_set(phone_number_id: str | None) -> None:
    """A Messenger-only deployment sets nothing for WhatsApp and gets no WhatsApp."""
    variables = {} if phone_number_id is None else {"whatsapp_phone_number_id": phone_number_id}
    settings = _settings(**variables)
    assert not settings.whatsapp_enabled
    assert whatsapp_config(settings) is None


def test_a_phone_number_id_turns_whatsapp_on_with_the_stages_secret_names() -> None:
    config = whatsapp_config(_settings(whatsapp_phone_number_id=f" {PHONE_NUMBER_ID} "))
    assert config is not None
    assert config.phone_number_id == PHONE_NUMBER_ID
    assert config.access_token_name == "bankbridge/prod/whatsapp/access-token"
    assert config.app_secret_name == "bankbridge/prod/whatsapp/app-secret"
    assert dict(config.templates) == {
        Purpose.ALERT: ApprovedTemplate(FRAUD_ALERT_TEMPLATE, TEMPLATE_LANGUAGE),
        Purpose.REMINDER: ApprovedTemplate(CONSENT_REMINDER_TEMPLATE, TEMPLATE_LANGUAGE),
    }


def test_template_names_and_language_can_be_overridden() -> None:
    config = whatsapp_config(
        _settings(
            whatsapp_phone_number_id=PHONE_NUMBER_ID,
            whatsapp_alert_template_name="acme_card_check",
            whatsapp_template_language="pt_BR",
        )
    )
    assert config is not None
    assert config.templates[Purpose.ALERT] == ApprovedTemplate("acme_card_check", "pt_BR")
    assert config.templates[Purpose.REMINDER] == ApprovedTemplate(
        CONSENT_REMINDER_TEMPLATE, "pt_BR"
    )


@pytest.mark.parametrize(
    "value", ["UNSET: replace me", "changeme", "+16505551234", "0106540352242922", "12345"]
)
def test_a_placeholder_or_phone_number_is_refused_naming_the_variable(value: str) -> None:
    assert "BANKBRIDGE_WHATSAPP_PHONE_NUMBER_ID must be" in _problem(whatsapp_phone_number_id=value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("whatsapp_alert_template_name", "Fraud Alert"),
        ("whatsapp_reminder_template_name", "reminder-v2"),
        ("whatsapp_template_language", "en-US"),
        ("whatsapp_template_language", "english"),
    ],
)
def test_a_malformed_template_setting_is_refused_naming_the_variable(
    variable: str, value: str
) -> None:
    problem = _problem(whatsapp_phone_number_id=PHONE_NUMBER_ID, **{variable: value})
    assert f"BANKBRIDGE_{variable.upper()}: must be" in problem


def test_event_markers_outlive_whatsapps_seven_days_of_redelivery() -> None:
    """Meta redelivers a WhatsApp webhook for up to 7 days: a shorter marker answers twice."""
    assert WHATSAPP_DEDUPE_TTL_SECONDS > 7 * 24 * 3600
    on = _settings(whatsapp_phone_number_id=PHONE_NUMBER_ID)
    assert on.dedupe_ttl_seconds >= WHATSAPP_DEDUPE_TTL_SECONDS
    two_days = str(48 * 3600)
    assert "BANKBRIDGE_DEDUPE_TTL_SECONDS must be at least" in _problem(
        whatsapp_phone_number_id=PHONE_NUMBER_ID, dedupe_ttl_seconds=two_days
    )
    assert _settings(dedupe_ttl_seconds=two_days).dedupe_ttl_seconds == 48 * 3600
