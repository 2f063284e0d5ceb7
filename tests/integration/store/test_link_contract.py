"""Links: the table's repository and its fake store, list, route and lease-fence alike."""

from __future__ import annotations

import time

import pytest

from chalicelib.store.links import Link, LinkRepository, LinkStatus
from chalicelib.store.ports import LinkPort
from tests.fakes.store import FakeLinkRepository
from tests.integration.store.conftest import DYNAMODB, table_name


@pytest.fixture
def links(backend: str, request: pytest.FixtureRequest) -> LinkPort:
    if backend == DYNAMODB:
        return LinkRepository(table_name(request))
    return FakeLinkRepository()


def _link(user_id: str = "u1", institution_id: str = "bank-a", **changes: object) -> Link:
    fields: dict[str, object] = {
        "channel": "messenger",
        "user_id": user_id,
        "institution_id": institution_id,
        "sealed_tokens": "v1.sealed",
        "access_expires_at": int(time.time()) + 300,
        "access_lifetime": 300,
        "scopes": ["accounts", "openid"],
        "consent_id": "consent-1",
        "consent_expires_at": int(time.time()) + 86_400,
        "created_at": 1_700_000_000,
        **changes,
    }
    return Link.model_validate(fields)


def test_a_link_reads_back_as_written_and_replacing_returns_the_old_one(links: LinkPort) -> None:
    first = _link()
    assert links.replace(first) is None
    assert links.get("messenger", "u1", "bank-a") == first
    second = _link(sealed_tokens="v1.other", consent_id=None, consent_expires_at=None)
    assert links.replace(second) == first
    assert links.get("messenger", "u1", "bank-a") == second
    assert links.get("messenger", "u1", "bank-b") is None


def test_a_lease_is_never_written_with_the_link(links: LinkPort) -> None:
    links.replace(_link(lease_owner="someone", lease_until=int(time.time()) + 60))
    stored = links.get("messenger", "u1", "bank-a")
    assert stored is not None
    assert (stored.lease_owner, stored.lease_until) == (None, None)


def test_list_for_user_holds_only_that_users_links_by_institution(links: LinkPort) -> None:
    for institution_id in ("bank-c", "bank-a", "bank-b"):
        links.replace(_link(institution_id=institution_id))
    links.replace(_link(user_id="u2"))
    listed = links.list_for_user("messenger", "u1")
    assert [link.institution_id for link in listed] == ["bank-a", "bank-b", "bank-c"]
    assert links.list_for_user("messenger", "nobody") == []


def test_account_references_route_to_users_and_are_replaced_not_added(links: LinkPort) -> None:
    one, two = _link(), _link(user_id="u2")
    links.replace(one)
    links.replace(two)
    links.replace_account_refs(one, ["ref-1", "ref-2"])
    links.replace_account_refs(two, ["ref-2"])
    assert links.users_for_account("bank-a", "ref-2") == [("messenger", "u1"), ("messenger", "u2")]
    links.replace_account_refs(one, ["ref-3"])
    assert links.users_for_account("bank-a", "ref-1") == []
    assert links.users_for_account("bank-a", "ref-2") == [("messenger", "u2")]
    assert links.users_for_account("bank-b", "ref-3") == []


def test_a_consent_routes_to_its_link_only_while_the_link_has_it(links: LinkPort) -> None:
    links.replace(_link())
    assert links.users_for_consent("bank-a", "consent-1") == [("messenger", "u1")]
    links.replace(_link(consent_id=None))
    assert links.users_for_consent("bank-a", "consent-1") == []


def test_delete_returns_the_link_and_drops_its_account_references(links: LinkPort) -> None:
    link = _link()
    links.replace(link)
    links.replace_account_refs(link, ["ref-1"])
    assert links.delete("messenger", "u1", "bank-a") == link
    assert links.get("messenger", "u1", "bank-a") is None
    assert links.users_for_account("bank-a", "ref-1") == []
    assert links.delete("messenger", "u1", "bank-a") is None


def test_one_lease_at_a_time_and_only_on_the_version_read(links: LinkPort) -> None:
    link = _link()
    links.replace(link)
    assert links.acquire_lease(link, "worker-1", 60)
    assert not links.acquire_lease(link, "worker-2", 60)
    assert not links.acquire_lease(_link(version=7), "worker-2", 60)
    assert not links.acquire_lease(_link(user_id="nobody"), "worker-2", 60)


def test_an_expired_lease_can_be_taken_over(links: LinkPort) -> None:
    link = _link()
    links.replace(link)
    assert links.acquire_lease(link, "worker-1", -5)
    assert links.acquire_lease(link, "worker-2", 60)


def test_refreshed_tokens_are_stored_only_under_the_callers_lease(links: LinkPort) -> None:
    link = _link()
    links.replace(link)
    assert not links.store_refreshed(link, "worker-1", "v1.new", 123, 60)
    links.acquire_lease(link, "worker-1", 60)
    assert not links.store_refreshed(link, "worker-2", "v1.new", 123, 60)
    assert links.store_refreshed(link, "worker-1", "v1.new", 123, 60)
    stored = links.get("messenger", "u1", "bank-a")
    assert stored is not None
    assert (stored.sealed_tokens, stored.access_expires_at, stored.access_lifetime) == (
        "v1.new",
        123,
        60,
    )
    assert (stored.version, stored.lease_owner, stored.lease_until) == (2, None, None)
    assert not links.store_refreshed(link, "worker-1", "v1.newer", 456, 60)  # version moved


def test_a_released_lease_frees_the_link_for_another_worker(links: LinkPort) -> None:
    link = _link()
    links.replace(link)
    links.acquire_lease(link, "worker-1", 60)
    links.release_lease(link, "worker-2")
    assert not links.acquire_lease(link, "worker-2", 60)
    links.release_lease(link, "worker-1")
    assert links.acquire_lease(link, "worker-2", 60)


def test_relink_required_keeps_the_link_bumps_its_version_and_ends_the_lease(
    links: LinkPort,
) -> None:
    link = _link()
    links.replace(link)
    links.acquire_lease(link, "worker-1", 60)
    links.mark_relink_required(link)
    stored = links.get("messenger", "u1", "bank-a")
    assert stored is not None
    assert (stored.status, stored.version, stored.lease_owner) == (
        LinkStatus.RELINK_REQUIRED,
        2,
        None,
    )
    links.mark_relink_required(_link(user_id="nobody"))
    assert links.get("messenger", "nobody", "bank-a") is None
