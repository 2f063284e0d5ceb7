"""UK Open Banking rules a connector config follows.

Account and Transaction API v3.1.x (3.1.11 verified) and v4.0.x. FAPI 1.0 Advanced: the
authorization request is a signed request object carrying the consent
(`openbanking_intent_id`). Signed bodies (Message Signing) name our issuer in
`http://openbanking.org.uk/iss`, so `body_signing.issuer` is required.
"""

from __future__ import annotations

import re

from chalicelib.connectors.config.rules import StandardRules

RULES = StandardRules(
    version_pattern=re.compile(r"^(3\.1|4\.0)(\.|$)"),
    versions_supported="3.1.x (3.1.11 verified) and 4.0.x",
    signs_request_object=True,
    body_signing_needs_issuer=True,
)
