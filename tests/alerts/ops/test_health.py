"""A relay judged by what its messages met, without connecting to it."""

from __future__ import annotations

from alerts.ledger.counts import Count
from alerts.models import DeliveryStatus
from alerts.ops.health import FAILING_FOR_SECONDS, OK, RelayActivity, relay_activity

RELAYS = ["smtp:mx1.example.com:587", "smtp:mx2.example.com:587"]


def count(status: DeliveryStatus, relay: str | None, last_at: float, entered: int = 1) -> Count:
    return Count(status=status, relay=relay, reply_class="2xx", latency_le=-1, rows=entered,
                 recent_rows=entered, entered=entered, seconds=0.0, last_at=last_at)  # fmt: skip


def test_a_relay_is_failing_once_its_messages_failed_for_ten_minutes_with_none_accepted() -> None:
    counts = [
        count(DeliveryStatus.SENT, RELAYS[0], 1_000.0),
        count(DeliveryStatus.FAILED, RELAYS[0], 1_000.0 + FAILING_FOR_SECONDS - 1),
        count(DeliveryStatus.SENT, RELAYS[1], 50.0),
        count(DeliveryStatus.FAILED, RELAYS[1], 50.0 + FAILING_FOR_SECONDS),
        count(DeliveryStatus.PENDING, RELAYS[1], 5_000.0),  # not an outcome
        count(DeliveryStatus.FAILED, RELAYS[1], 9_999.0, entered=0),  # only ever left it
    ]
    found = relay_activity(counts, RELAYS)
    assert found == {
        RELAYS[0]: RelayActivity(last_sent=1_000.0, last_failed=1_599.0),
        RELAYS[1]: RelayActivity(last_sent=50.0, last_failed=650.0),
    }
    assert found[RELAYS[0]].state() == OK  # one refusal is the reader's problem
    assert found[RELAYS[1]].state() == (
        "error: messages fail on it (the last at 1970-01-01 00:10:50 UTC),"
        " none accepted since 1970-01-01 00:00:50 UTC"
    )
    never = relay_activity([count(DeliveryStatus.FAILED, RELAYS[0], 60.0)], RELAYS[:1])
    assert never[RELAYS[0]].state().endswith("and it never accepted one")


def test_a_relay_nothing_went_through_yet_is_neither_ok_nor_an_error() -> None:
    found = relay_activity([], RELAYS[:1])
    assert found[RELAYS[0]].state() == "no message sent through it yet"


def test_rows_that_name_no_relay_count_against_the_only_one_or_unknown() -> None:
    rows = [count(DeliveryStatus.SENT, None, 10.0)]
    assert relay_activity(rows, RELAYS[:1])[RELAYS[0]].last_sent == 10.0
    several = relay_activity(rows, RELAYS)
    assert several["unknown"].last_sent == 10.0
    assert several[RELAYS[0]] == RelayActivity()
