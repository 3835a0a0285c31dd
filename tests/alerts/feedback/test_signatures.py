"""The freshness check every signed webhook shares, through Mailgun's check."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from alerts.errors import WebhookRejected
from alerts.feedback.signatures import check_mailgun

NOW = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
KEY = "key-mailgun-signing-0123456789abcdef"
TOKEN = "0123456789abcdef0123456789abcdef"


def check(timestamp: str) -> None:
    signature = hmac.new(KEY.encode(), f"{timestamp}{TOKEN}".encode(), hashlib.sha256)
    check_mailgun(
        timestamp=timestamp,
        token=TOKEN,
        signature=signature.hexdigest(),
        signing_key=KEY,
        now=NOW,
        max_age=timedelta(minutes=10),
    )


def test_a_fresh_signed_timestamp_passes() -> None:
    check(str(int(NOW.timestamp()) - 30))


@pytest.mark.parametrize(
    "timestamp", ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "soon"]
)
def test_a_timestamp_that_is_no_finite_number_is_refused(timestamp: str) -> None:
    """A NaN compares false with everything, so it once passed as fresh, forever."""
    with pytest.raises(WebhookRejected) as refused:
        check(timestamp)
    assert (refused.value.status, refused.value.reason) == (403, "malformed timestamp")
