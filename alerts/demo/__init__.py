"""The demo: `newsalerts demo` runs the whole job on the embedded default in a fresh store.

- `run.py`: ingest the bundled feed, invent readers, plan and deliver today's digests into
  an outbox folder (or a real SMTP server), and index the outbox.
- `readers.py`: the invented readers: varied topics, time zones, hours and frequencies.
- `outbox.py`: the outbox's index.html, listing every delivered .eml with a preview of each.
- `sample_data/`: the bundled site feed the demo ingests.
"""

from alerts.demo.outbox import OutboxEntry, prepare_outbox, write_index
from alerts.demo.readers import SampleReader, sample_readers
from alerts.demo.run import DemoResult, demo_settings, rebased_sample_articles, run_demo

__all__ = [
    "DemoResult",
    "OutboxEntry",
    "SampleReader",
    "demo_settings",
    "prepare_outbox",
    "rebased_sample_articles",
    "run_demo",
    "sample_readers",
    "write_index",
]
