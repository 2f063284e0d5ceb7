"""Berlin Group NextGenPSD2 rules a connector config follows: XS2A 1.3.x (1.3.11 verified).

The authorization (scaOAuth) is a plain OAuth request with scope `AIS:<consentId>`.
"""

from __future__ import annotations

import re

from chalicelib.connectors.config.rules import StandardRules

RULES = StandardRules(
    version_pattern=re.compile(r"^1\.3(\.|$)"),
    versions_supported="1.3.x (1.3.11 verified)",
)
