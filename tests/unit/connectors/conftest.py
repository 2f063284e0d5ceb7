"""Fixtures every standard's connector tests share: the scripted bank and the sandbox bank."""

from tests.unit.connectors.sandbox_linking import sandbox  # noqa: F401 - fixture
from tests.unit.connectors.scripted_bank import bank  # noqa: F401 - fixture
