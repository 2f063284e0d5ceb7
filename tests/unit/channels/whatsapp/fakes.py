"""The adapter's two collaborators as the wiring will provide them, for unit tests."""

from __future__ import annotations

from chalicelib.auth import envelope
from chalicelib.settings import get_settings


class KmsSealer:
    """A `Sealer` over `chalicelib.auth.envelope` (the in-memory KMS of the `aws` fixture)."""

    def _context(self) -> dict[str, str]:
        return {"app": "bankbridge", "purpose": "whatsapp-address", "stage": get_settings().stage}

    def seal(self, plaintext: bytes, associated_data: bytes) -> str:
        return envelope.seal(
            plaintext,
            key_id=get_settings().kms_key_id,
            associated_data=associated_data,
            context=self._context(),
        )

    def open(self, sealed: str, associated_data: bytes) -> bytes:
        return envelope.open_sealed(
            sealed, associated_data=associated_data, context=self._context()
        )


class MemoryAddressBook:
    """An `AddressBook` in a dict, so a test can see what is kept."""

    def __init__(self) -> None:
        self.sealed: dict[str, str] = {}

    def remember(self, user_id: str, sealed_address: str) -> None:
        self.sealed[user_id] = sealed_address

    def recall(self, user_id: str) -> str | None:
        return self.sealed.get(user_id)
