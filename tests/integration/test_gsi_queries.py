"""`gsi1` reads in moto: one partition, every page, and nothing from other partitions."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.store.gsi import query_gsi1


def test_every_page_of_one_partition_and_nothing_else(aws_stack: Any) -> None:
    dynamodb = aws.client("dynamodb")
    for partition, count in (("WANTED", 30), ("OTHER", 3)):
        for n in range(count):
            dynamodb.put_item(
                TableName=aws_stack.table_name,
                Item={
                    "pk": {"S": f"ITEM#{partition}#{n}"},
                    "sk": {"S": "ITEM"},
                    "gsi1pk": {"S": partition},
                    "gsi1sk": {"S": f"{n:03d}"},
                    "filler": {"S": "x" * 40_000},  # ~40 KB each: 1 MB pages split the 30
                },
            )
    pages: list[str] = []

    def count(**_: Any) -> None:
        pages.append("Query")

    dynamodb.meta.events.register("before-call.dynamodb.Query", count)
    try:
        found = [item["gsi1sk"]["S"] for item in query_gsi1(aws_stack.table_name, "WANTED")]
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.Query", count)
    assert found == [f"{n:03d}" for n in range(30)]
    assert len(pages) >= 2
