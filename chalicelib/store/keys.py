"""The single-table key schema: every `pk`/`sk` BankBridge writes is built here.

One table, generic `pk`/`sk`, one GSI (`gsi1pk`/`gsi1sk`) and a TTL attribute
(`expires_at`, epoch seconds). Item kinds and their keys:

| item                         | pk                                 | sk                          |
|------------------------------|------------------------------------|-----------------------------|
| processed inbound event      | `DEDUPE#<channel>#<event id>`      | `DEDUPE`                    |
| connector config             | `CONNECTOR#<institution id>`       | `CONFIG`                    |
| link (user x institution)    | `USER#<channel>#<user id>`         | `LINK#<institution id>`     |
| OAuth state (single use)     | `OAUTHSTATE#<state>`               | `STATE`                     |
| client-credentials token     | `CONNECTOR#<institution id>`       | `CCTOKEN`                   |

TTL is best-effort in DynamoDB (deletion can lag by days), so readers still
check `expires_at` themselves.
"""

from __future__ import annotations

PK = "pk"
SK = "sk"
GSI1_NAME = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "expires_at"


def dedupe_key(channel: str, event_id: str) -> dict[str, str]:
    """Key of the marker that records an inbound event as already accepted."""
    return {PK: f"DEDUPE#{channel}#{event_id}", SK: "DEDUPE"}


def connector_key(institution_id: str) -> dict[str, str]:
    """Key of an institution's connector config."""
    return {PK: f"CONNECTOR#{institution_id}", SK: "CONFIG"}


CONNECTOR_LIST_GSI_PK = "CONNECTORS"
"""GSI partition holding every connector config, so listing them is a Query, not a Scan."""
