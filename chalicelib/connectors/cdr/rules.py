"""Australia CDR rules a connector config follows: Consumer Data Standards 1.x.

The authorization request is a signed request object (FAPI 1.0 Advanced), pushed (PAR).
"""

from __future__ import annotations

import re

from chalicelib.connectors.config.rules import StandardRules

RULES = StandardRules(
    version_pattern=re.compile(r"^1\.\d+(\.|$)"),
    versions_supported="1.x (Consumer Data Standards)",
    signs_request_object=True,
)
