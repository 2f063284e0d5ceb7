"""CDR `x-fapi-auth-date`: the customer's last authentication, on every resource call.

cds_banking.yaml (every resource endpoint): "The time when the customer last logged in to
the Data Recipient Software Product ... Required for all resource calls (customer present
and unattended)"; FAPI 1.0 Part 1 §6.2.2: an HTTP-date (RFC 7231 §7.1.1.1).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import pytest

from chalicelib.connectors.base import Customer
from chalicelib.connectors.cdr.connector import auth_date_header

SIGNED_IN = datetime(2026, 3, 30, 18, 15, 2, tzinfo=timezone(timedelta(hours=10)))


def test_the_kept_sign_in_time_is_sent_as_an_imf_fixdate_in_gmt() -> None:
    assert auth_date_header(SIGNED_IN, customer=None) == "Mon, 30 Mar 2026 08:15:02 GMT"


def test_the_kept_time_wins_over_the_customer_being_at_our_page() -> None:
    at_page = Customer(ip_address="198.51.100.4")

    assert auth_date_header(SIGNED_IN, customer=at_page) == "Mon, 30 Mar 2026 08:15:02 GMT"


def test_a_customer_at_our_page_without_a_kept_time_has_just_authenticated() -> None:
    before = datetime.now(UTC).replace(microsecond=0)

    sent = parsedate_to_datetime(auth_date_header(None, customer=Customer(ip_address="::1")))

    assert before <= sent <= datetime.now(UTC)


def test_an_unattended_read_without_a_kept_time_is_refused_before_the_holder_refuses_it() -> None:
    with pytest.raises(ValueError, match="last authentication time"):
        auth_date_header(None, customer=None)
