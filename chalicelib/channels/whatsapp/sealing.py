"""The WhatsApp adapter's `Sealer`: reply addresses (phone numbers) sealed with the stage's KMS key.

A WhatsApp user's number is personal data the adapter needs to answer them;
it is stored only sealed (`chalicelib.store.whatsapp_addresses`). This seals
it like every other value at rest (`chalicelib.envelope`), under its own
encryption-context purpose `whatsapp-address`: CloudTrail shows each opening
as such, the IAM grant names the purpose, and a sealed token or OAuth state can
never be opened as an address, nor an address as either. The adapter binds each
address to its pseudonym through the associated data.
"""

from __future__ import annotations

from chalicelib import envelope
from chalicelib.channels.exceptions import RecipientUnreachable
from chalicelib.envelope import EnvelopeError
from chalicelib.settings import get_settings


class WhatsAppAddressSealer:
    """Seals and opens reply addresses for the adapter (`channels.whatsapp.identity.Sealer`)."""

    def seal(self, plaintext: bytes, associated_data: bytes) -> str:
        """`plaintext` sealed for the user named by `associated_data`."""
        return envelope.seal(
            plaintext,
            key_id=get_settings().kms_key_id,
            associated_data=associated_data,
            context=_context(),
        )

    def open(self, sealed: str, associated_data: bytes) -> bytes:
        """The plaintext of `sealed`; `RecipientUnreachable` if it was not sealed for this user
        as an address (retrying cannot open it, so the send is dropped, not redelivered)."""
        try:
            return envelope.open_sealed(sealed, associated_data=associated_data, context=_context())
        except EnvelopeError as error:
            raise RecipientUnreachable("the stored WhatsApp address does not open") from error


def _context() -> dict[str, str]:
    # A literal purpose: infra/aws/permissions.py reads it from the source to grant KMS.
    return {"app": "bankbridge", "purpose": "whatsapp-address", "stage": get_settings().stage}
