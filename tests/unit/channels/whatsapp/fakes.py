"""An address book in memory, so a unit test sees what the adapter keeps (it seals with the real
`WhatsAppAddressSealer` over the in-memory KMS of the `aws` fixture)."""

from __future__ import annotations


class MemoryAddressBook:
    """An `AddressBook` in a dict, so a test can see what is kept."""

    def __init__(self) -> None:
        self.sealed: dict[str, str] = {}

    def remember(self, user_id: str, sealed_address: str) -> None:
        self.sealed[user_id] = sealed_address

    def recall(self, user_id: str) -> str | None:
        return self.sealed.get(user_id)

    def forget(self, user_id: str) -> None:
        self.sealed.pop(user_id, None)
