"""Chat profiles: both implementations keep the latest inbound time and never move it back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.channels.messages import ChannelUser
from chalicelib.store.chat_profiles import ChatProfileRepository
from chalicelib.store.ports import ChatProfilePort
from tests.fakes.store import FakeChatProfileRepository
from tests.integration.store.conftest import DYNAMODB, table_name

USER = ChannelUser(channel="messenger", user_id="psid-1")


@pytest.fixture
def profiles(backend: str, request: pytest.FixtureRequest) -> ChatProfilePort:
    if backend == DYNAMODB:
        return ChatProfileRepository(table_name(request))
    return FakeChatProfileRepository()


def test_the_latest_inbound_time_wins_in_whole_seconds(profiles: ChatProfilePort) -> None:
    assert profiles.last_inbound_at(USER) is None
    profiles.record_inbound(USER, datetime(2026, 1, 2, 3, 4, 5, 900_000, tzinfo=UTC))
    first = int(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp())
    assert profiles.last_inbound_at(USER) == first
    profiles.record_inbound(USER, datetime(2026, 1, 1, tzinfo=UTC))
    assert profiles.last_inbound_at(USER) == first
    profiles.record_inbound(USER, datetime(2026, 1, 3, tzinfo=UTC))
    assert profiles.last_inbound_at(USER) == int(datetime(2026, 1, 3, tzinfo=UTC).timestamp())
    assert profiles.last_inbound_at(ChannelUser(channel="messenger", user_id="psid-2")) is None
