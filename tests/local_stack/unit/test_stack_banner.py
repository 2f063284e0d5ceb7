"""The `make dev` banner: its ready-to-paste webhook example must be one the webhook accepts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from chalicelib.channels.messenger.webhook import parse_payload, read_delivery
from infra.local.stack import _banner, demo_webhook_body


def test_the_sample_event_is_accepted_as_one_balance_message() -> None:
    body = demo_webhook_body(int(time.time() * 1000))

    delivery = read_delivery(parse_payload(json.loads(body)))

    assert delivery.problems == []
    [event] = delivery.events
    assert (event.user.user_id, event.text) == ("psid-demo", "balance")


def test_the_banner_prints_a_body_stamped_now_for_single_quoted_shell(tmp_path: Path) -> None:
    urls = dict.fromkeys(("console", "api", "bank", "graph", "aws"), "http://127.0.0.1:1")
    secrets = {"app_secret": "s"}

    banner = _banner(urls, secrets, tmp_path, ["sandbox-fdx"])

    body = banner.split("BODY='", 1)[1].split("'\n", 1)[0]
    assert read_delivery(parse_payload(json.loads(body))).problems == []
