"""Settings that mirror infrastructure values must agree with the template."""

from __future__ import annotations

from chalicelib.settings import Settings
from infra.template import load_template


def test_inbound_receive_count_matches_the_queue_redrive_policy() -> None:
    # The worker tells the person "please try again later" on the last delivery before the DLQ,
    # so it must know the same maxReceiveCount the queue uses.
    queue = load_template()["Resources"]["InboundQueue"]["Properties"]
    max_receive = queue["RedrivePolicy"]["maxReceiveCount"]
    assert Settings(stage="prod").inbound_max_receive_count == max_receive
