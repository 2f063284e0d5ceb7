"""Reads of the table's one GSI (`gsi1`): every lookup not by primary key is a Query here.

Listing connectors, routing a bank event to links and finding the day's consent
expiries each read one `gsi1` partition, page by page, so their cost follows
what they find, never the size of the table (no Scan).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib import aws
from chalicelib.store.item_codec import encode_item
from chalicelib.store.keys import GSI1_NAME, GSI1_PK


def query_gsi1(table_name: str, partition: str) -> Iterator[dict[str, Any]]:
    """Every item in one `gsi1` partition, following `LastEvaluatedKey` across pages."""
    client = aws.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": table_name,
        "IndexName": GSI1_NAME,
        "KeyConditionExpression": "#gpk = :gpk",
        "ExpressionAttributeNames": {"#gpk": GSI1_PK},
        "ExpressionAttributeValues": encode_item({":gpk": partition}),
    }
    while True:
        page = client.query(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
