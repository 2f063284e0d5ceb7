"""How the chat names a bank: the one value both the dialogue and the reply wording use."""

from __future__ import annotations

from pydantic import BaseModel


class Institution(BaseModel):
    """A bank on offer or linked, by id and display name."""

    institution_id: str
    name: str
