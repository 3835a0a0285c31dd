"""The delivery ledger at work: one row per (edition or alert, reader, local date), written
before any mail leaves, and which module moves a row from one state to the next.

A row's states are `alerts.models.DeliveryStatus`:

- `pending`, or `skipped` when there is nothing new for the reader: written by the
  planners of alerts.digests through `rows.py`, which skips a key another planner wrote
  first.
- queued (still `pending`, stamped so it is not queued twice): `queue.py` takes the rows
  whose time has come in batches of one send each and hands them to the workers, a
  breaking alert's as urgent; a batch lost on the way is queued again later.
- `claimed`: `claims.py`, a worker's lease on its batch's rows. `sweep_stuck` recovers the
  rows of a worker that stopped: back to `pending` if never attempted, `failed` if their
  SMTP exchange had started (the relay may have the message: it is never sent twice).
- `sending`, then `sent`, `failed`, `pending` again with a retry time, or `suppressed`
  (the reader left): alerts.delivery.sending moves them, on the rows `outgoing.py` read
  as plain values, and writes each outcome through `outcomes.py`, only where the batch
  still owns the row.
- `cancelled`, or `pending` and held: `states.py`, for an editor's cancel or pause of an
  issue or alert, takes back the rows not yet `sending`; claims and the queue skip the
  rows of a send that is held. It also counts a send's rows by state.

Every change of a row's state is counted as it happens (`counts.py`: running counts the
database keeps with triggers, which figures read instead of grouping the ledger).

Notices (a sign-up confirmation, "manage your alerts") have an outbox of their own,
`notices.py`: a row per email, written with the sign-up, taken by id, sent once.

Rows are small (a shared selection of articles, text only where it says something), and
`retention.py` deletes those of local dates older than LEDGER_KEEP_DAYS; on PostgreSQL the
ledger is partitioned by week (`partitions.py`: weeks made ahead, old weeks dropped whole);
`size.py` says what a row costs on PostgreSQL. `message_ids.py` derives a row's Message-ID
from its id and date with SECRET_KEY (none is stored) and finds the row a report names;
`relay_names.py` numbers the relays a row names.
`history.py` reads one reader's deliveries for the desk, as small plain values: the one
place besides the send path that knows the ledger's columns.

Afterwards a hard bounce turns a `sent` row `failed` (alerts.feedback), and an operator may
put `failed` rows back to `pending` (alerts.ops.failures). `unknowns.py` says which failed
rows may have reached their reader (the worker died mid-exchange, or no reply came to the
final dot): those go back only on an operator's explicit confirmation.
"""

from alerts.ledger.claims import DEFAULT_LEASE, SweepResult, claim, claim_rows, sweep_stuck
from alerts.ledger.counts import (
    Count,
    fold,
    ledger_counts,
    state_counts,
    unsettled_sends,
)
from alerts.ledger.history import HISTORY_PAGE, DeliveryRecord, deliveries_of, last_sent
from alerts.ledger.message_ids import delivery_named_by, message_id_for
from alerts.ledger.outcomes import UNKNOWN_OUTCOME, outcomes_cte, unnested, write_outcomes
from alerts.ledger.outgoing import (
    LedgerRow,
    Outgoing,
    Reader,
    Recipient,
    TopicName,
    batch_log_context,
    load_outgoing,
)
from alerts.ledger.partitions import Week, make_ahead, weeks
from alerts.ledger.queue import (
    QUEUE_CHUNK,
    REQUEUE_AFTER,
    Publish,
    claim_in_chunks,
    claim_queue,
    cut,
    queue_rows,
)
from alerts.ledger.relay_names import register_relays, relay_id, relay_number
from alerts.ledger.retention import Pruned, ledger_cutoff, prune_ledger
from alerts.ledger.rows import add_selections, insert_ignoring_conflicts
from alerts.ledger.size import LedgerSize, ledger_size
from alerts.ledger.states import (
    NOT_STARTED,
    UNSETTLED,
    Progress,
    not_held,
    progress,
    take_back,
)
from alerts.ledger.unknowns import UNKNOWN_REPLY, unknown_outcome

__all__ = [
    "DEFAULT_LEASE",
    "HISTORY_PAGE",
    "NOT_STARTED",
    "QUEUE_CHUNK",
    "REQUEUE_AFTER",
    "UNKNOWN_OUTCOME",
    "UNKNOWN_REPLY",
    "UNSETTLED",
    "Count",
    "DeliveryRecord",
    "LedgerRow",
    "LedgerSize",
    "Outgoing",
    "Progress",
    "Pruned",
    "Publish",
    "Reader",
    "Recipient",
    "SweepResult",
    "TopicName",
    "Week",
    "add_selections",
    "batch_log_context",
    "claim",
    "claim_in_chunks",
    "claim_queue",
    "claim_rows",
    "cut",
    "deliveries_of",
    "delivery_named_by",
    "fold",
    "insert_ignoring_conflicts",
    "last_sent",
    "ledger_counts",
    "ledger_cutoff",
    "ledger_size",
    "load_outgoing",
    "make_ahead",
    "message_id_for",
    "not_held",
    "outcomes_cte",
    "progress",
    "prune_ledger",
    "queue_rows",
    "register_relays",
    "relay_id",
    "relay_number",
    "state_counts",
    "sweep_stuck",
    "take_back",
    "unknown_outcome",
    "unnested",
    "unsettled_sends",
    "weeks",
    "write_outcomes",
]
