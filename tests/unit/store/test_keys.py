"""The key schema's promises that a read relies on."""

from __future__ import annotations

from chalicelib.store import keys

CHANNEL, USER_ID = "messenger", "psid-1"


def test_the_links_and_profile_range_holds_links_a_pending_link_and_the_profile_only() -> None:
    """`store.chat_users` reads this range as links and profile; any other item of the user's
    partition sorting inside it would be read (and skipped) on every message."""
    first, last = keys.LINKS_AND_PROFILE
    partition = keys.user_partition(CHANNEL, USER_ID)
    inside = {
        "link": keys.link_key(CHANNEL, USER_ID, "~bank"),
        "pending link": keys.pending_link_key(CHANNEL, USER_ID),
        "profile": keys.chat_profile_key(CHANNEL, USER_ID),
    }
    outside = {
        "account reference": keys.account_ref_key(CHANNEL, USER_ID, "bank", "ref"),
        "consent expiry": keys.consent_expiry_key(CHANNEL, USER_ID, "bank", "2026-01-01"),
        "pending question": keys.pending_question_key(CHANNEL, USER_ID, "ref"),
        "reply step": keys.reply_ledger_key(CHANNEL, USER_ID, "m-1", "final"),
        "reply address": keys.reply_address_key(CHANNEL, USER_ID),
    }
    for name, key in {**inside, **outside}.items():
        assert key[keys.PK] == partition, name
        assert (first <= key[keys.SK] <= last) is (name in inside), name
