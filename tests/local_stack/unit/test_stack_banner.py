"""The `make dev` banner: its ready-to-paste webhook examples must be ones the webhooks accept."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from chalicelib.channels.instagram import webhook as instagram_webhook
from chalicelib.channels.messenger.webhook import parse_payload, read_delivery
from chalicelib.channels.meta.signature import signature_is_valid
from chalicelib.channels.whatsapp import webhook as whatsapp_webhook
from chalicelib.channels.whatsapp.identity import Pseudonyms
from infra.local.stack import (
    DEMO_INSTAGRAM_SENDER,
    DEMO_WHATSAPP_NUMBER,
    _banner,
    demo_webhook_body,
)

PHONE_NUMBER_ID = "1000000000000002"
INSTAGRAM_ACCOUNT_ID = "1000000000000003"
PSEUDONYMS = Pseudonyms(b"b" * 32)


def _banner_for_test(tmp_path: Path, app_secret: str) -> str:
    urls = dict.fromkeys(("console", "api", "bank", "graph", "aws"), "http://127.0.0.1:1")
    return _banner(
        urls,
        {"app_secret": app_secret},
        tmp_path,
        ["sandbox-fdx"],
        phone_number_id=PHONE_NUMBER_ID,
        instagram_account=INSTAGRAM_ACCOUNT_ID,
    )


def _whatsapp_delivery(body: str) -> whatsapp_webhook.Delivery:
    payload = whatsapp_webhook.parse_payload(json.loads(body))
    return whatsapp_webhook.read_delivery(payload, PSEUDONYMS)


def test_the_sample_event_is_accepted_as_one_balance_message() -> None:
    body = demo_webhook_body(int(time.time() * 1000))

    delivery = read_delivery(parse_payload(json.loads(body)))

    assert delivery.problems == []
    [event] = delivery.events
    assert (event.user.user_id, event.text) == ("psid-demo", "balance")


def test_the_banner_prints_a_body_stamped_now_for_single_quoted_shell(tmp_path: Path) -> None:
    banner = _banner_for_test(tmp_path, "s")

    body = banner.split("  BODY='", 1)[1].split("'\n", 1)[0]
    assert read_delivery(parse_payload(json.loads(body))).problems == []


def test_the_whatsapp_sample_is_one_balance_text_from_the_dev_number_stamped_now(
    tmp_path: Path,
) -> None:
    banner = _banner_for_test(tmp_path, "s")

    body = banner.split("WA_BODY='", 1)[1].split("'\n", 1)[0]
    assert "'" not in body  # pasted inside single quotes
    document = json.loads(body)
    assert document["object"] == "whatsapp_business_account"
    [change] = document["entry"][0]["changes"]
    assert change["value"]["metadata"]["phone_number_id"] == PHONE_NUMBER_ID
    [message] = change["value"]["messages"]
    assert abs(int(message["timestamp"]) - time.time()) < 60  # seconds, as WhatsApp's
    delivery = _whatsapp_delivery(body)
    assert delivery.problems == []
    [event] = delivery.events
    assert event.text == "balance"
    assert event.user.user_id == PSEUDONYMS.user_id(DEMO_WHATSAPP_NUMBER)
    assert delivery.addresses[event.event_id].wa_id == DEMO_WHATSAPP_NUMBER
    assert "-X POST http://127.0.0.1:1/webhooks/whatsapp" in banner


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the banner's commands use openssl")
def test_the_printed_shell_lines_sign_each_body_as_the_webhooks_check(tmp_path: Path) -> None:
    banner = _banner_for_test(tmp_path, app_secret="dev-app-secret")
    lines = [line.strip() for line in banner.splitlines()]
    prefixes = ("BODY=", "SIG=", "WA_BODY=", "WA_SIG=", "IG_BODY=", "IG_SIG=")
    setup = [line for line in lines if line.startswith(prefixes)]
    script = "\n".join([*setup, 'printf "%s\\n%s\\n%s\\n" "$SIG" "$WA_SIG" "$IG_SIG"'])

    signatures = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()

    bodies = [line.split("='", 1)[1][:-1].encode() for line in setup if "BODY='" in line]
    assert len(bodies) == len(signatures) == 3
    for body, signature in zip(bodies, signatures, strict=True):
        assert signature_is_valid("dev-app-secret", body, f"sha256={signature}")


def test_the_instagram_sample_is_one_balance_message_to_the_dev_account_stamped_now(
    tmp_path: Path,
) -> None:
    banner = _banner_for_test(tmp_path, "s")

    body = banner.split("IG_BODY='", 1)[1].split("'\n", 1)[0]
    assert "'" not in body  # pasted inside single quotes
    document = json.loads(body)
    assert document["object"] == "instagram"
    delivery = instagram_webhook.read_delivery(instagram_webhook.parse_payload(document))
    assert delivery.problems == []
    [event] = delivery.events
    assert (event.channel, event.text) == ("instagram", "balance")
    assert (event.user.user_id, event.recipient_id) == (DEMO_INSTAGRAM_SENDER, INSTAGRAM_ACCOUNT_ID)
    assert abs(event.timestamp.timestamp() - time.time()) < 60
    assert "-X POST http://127.0.0.1:1/webhooks/instagram" in banner
