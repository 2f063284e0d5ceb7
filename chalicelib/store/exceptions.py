"""Typed refusals of the repositories, which the admin API turns into 409 and 413."""

from __future__ import annotations

from chalicelib.errors import BankBridgeError


class StoreError(BankBridgeError):
    """Base of the store package's errors."""


class ConnectorAlreadyExists(StoreError):
    """`put(..., create_only=True)` found a config for the institution already."""

    def __init__(self, institution_id: str) -> None:
        super().__init__(institution_id)
        self.institution_id = institution_id


class ConnectorConfigTooLarge(StoreError):
    """The config's item would exceed what DynamoDB stores (`size` is None if DynamoDB said so)."""

    def __init__(self, size: int | None, limit: int) -> None:
        measured = f"{size} bytes" if size is not None else "refused by DynamoDB as too large"
        super().__init__(f"connector config item {measured}; the limit is {limit} bytes")
        self.size = size
        self.limit = limit
