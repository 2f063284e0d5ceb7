"""Contract tests of the store: every assertion runs against the DynamoDB repository (moto)
and against its in-memory fake from `tests/fakes/store.py`, so the fakes unit tests rely on
cannot drift from what the table does.

Each module asks for `backend` ("dynamodb" or "memory") and builds its repository with
`table_name(request)` for the first; moto is held per module and emptied between tests.
"""

from __future__ import annotations

import pytest

from tests.integration.module_stack import empty_table, module_aws_stack

__all__ = ["empty_table", "module_aws_stack"]  # fixtures used by name

DYNAMODB = "dynamodb"
MEMORY = "memory"


@pytest.fixture(params=[DYNAMODB, MEMORY])
def backend(request: pytest.FixtureRequest) -> str:
    """Which implementation the test's repository is: the table's or the fake."""
    return str(request.param)


def table_name(request: pytest.FixtureRequest) -> str:
    """The moto table, emptied after the test (only for the DynamoDB backend)."""
    return str(request.getfixturevalue("empty_table").table_name)
