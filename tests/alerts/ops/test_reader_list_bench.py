"""The reader-list benchmark runs end to end on a small throw-away database and reads every
kind of page it reports (the figures themselves are not asserted: the machine is shared)."""

from __future__ import annotations

from alerts.ops.reader_list_bench import run_reader_list_bench
from tests.conftest import POSTGRES_ADMIN_URL


def test_the_bench_reads_each_kind_of_page() -> None:
    said: list[str] = []
    timings = run_reader_list_bench(admin_url=POSTGRES_ADMIN_URL, readers=2000, say=said.append)
    rows = {timing.label: timing.rows for timing in timings}
    assert said and said[0].startswith("filled 2,000 readers")
    assert rows["first page, no filter"] == 50
    assert rows["status bounced (0.1 %)"] == 2
    assert rows["topic-3 (one in ten)"] == 50
    assert rows["address starts with reader12345"] == 0
    assert rows["address starts with nobody"] == 0
    assert all(timing.median_ms > 0 for timing in timings)
