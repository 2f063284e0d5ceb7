"""Find an institution's connector from its registered config."""

from __future__ import annotations

from chalicelib.auth.client_credentials import CachedClientTokenSource
from chalicelib.connectors.base import Connector
from chalicelib.connectors.exceptions import ConnectorNotAvailable
from chalicelib.connectors.registry import connector_for
from chalicelib.conversation.institutions import Institution
from chalicelib.store.client_tokens import ClientTokenRepository
from chalicelib.store.connectors import ConnectorRepository


def load_connector(institution_id: str) -> Connector:
    """The connector for a registered institution; raises ConnectorNotAvailable if unknown."""
    config = ConnectorRepository().get(institution_id)
    if config is None:
        raise ConnectorNotAvailable("institution is not registered", institution_id=institution_id)
    return connector_for(config, client_tokens=CachedClientTokenSource(ClientTokenRepository()))


def available_institutions() -> list[Institution]:
    """Every registered institution, for the "link" choice."""
    return [
        Institution(institution_id=config.institution_id, name=config.display_name)
        for config in ConnectorRepository().list_all()
    ]
