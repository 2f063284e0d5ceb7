"""FDX rules a connector config follows: the Core API versions the connector reads.

FDX Core v6 payloads, and v5 ones (wrapped account and transaction items, `nextOffset`
paging), which the mapping reads as well.
"""

from __future__ import annotations

import re

from chalicelib.connectors.config.rules import StandardRules

RULES = StandardRules(
    version_pattern=re.compile(r"^[56](\.|$)"),
    versions_supported="5.x and 6.x",
)
