"""Brazil Open Finance (Open Finance Brasil): everything the standard needs, in one folder.

`connector` (consents v3 and accounts v2 over the one HTTP client), `mapping` (pure
payload mapping to the canonical models), `rules` (permission groups, the logged
user's document, consent lifetime and version rules), `events` (none of its own: the
registry's defaults). The official OpenAPI files
are accounts 2.4.2 and consents 3.3.1 (`../shared/specs/brazil-open-finance/`).
"""
