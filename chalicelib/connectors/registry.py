"""Pick the connector implementation for a config's `standard`.

Implementations are imported on demand so a Lambda serving one standard does
not pay for the others at cold start.
"""

from __future__ import annotations

from typing import Any

from chalicelib.connectors.base import Connector
from chalicelib.connectors.config.models import ConnectorConfig, Standard
from chalicelib.connectors.exceptions import ConnectorNotAvailable


def _fdx() -> type[Connector]:
    from chalicelib.connectors.fdx import (
        FdxConnector,  # lazy: a standard's connector and mapping load only for its banks
    )

    return FdxConnector


def _uk_ob() -> type[Connector]:
    from chalicelib.connectors.uk_ob import (
        UkOpenBankingConnector,  # lazy: a standard's connector and mapping load only for its banks
    )

    return UkOpenBankingConnector


def _berlin_group() -> type[Connector]:
    from chalicelib.connectors.berlin_group import (
        BerlinGroupConnector,  # lazy: a standard's connector and mapping load only for its banks
    )

    return BerlinGroupConnector


def _cdr() -> type[Connector]:
    from chalicelib.connectors.cdr import (
        CdrConnector,  # lazy: a standard's connector and mapping load only for its banks
    )

    return CdrConnector


def _brazil() -> type[Connector]:
    from chalicelib.connectors.brazil.connector import (
        BrazilOpenFinanceConnector,  # lazy: a standard's code loads only for its banks
    )

    return BrazilOpenFinanceConnector


_IMPLEMENTATIONS = {
    Standard.FDX: _fdx,
    Standard.UK_OB: _uk_ob,
    Standard.BERLIN_GROUP: _berlin_group,
    Standard.CDR_AU: _cdr,
    Standard.BRAZIL: _brazil,
}

SUPPORTED_STANDARDS = frozenset(_IMPLEMENTATIONS)


def connector_for(config: ConnectorConfig, **kwargs: Any) -> Connector:
    """A connector for `config`; `kwargs` (http, get_secret, client_tokens) go to the class."""
    implementation = implementation_for(config.standard)
    if implementation is None:
        raise ConnectorNotAvailable(
            f"no connector implements the {config.standard.value} standard yet",
            institution_id=config.institution_id,
        )
    return implementation(config, **kwargs)


def implementation_for(standard: Standard) -> type[Connector] | None:
    """The connector class of `standard` (its module imported now), or None if none exists."""
    factory = _IMPLEMENTATIONS.get(standard)
    return None if factory is None else factory()
