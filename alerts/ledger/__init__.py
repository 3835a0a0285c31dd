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

Notices (a sign-up confirmation, "manage your alerts") have an outbox of their own,
`notices.py`: a row per email, written with the sign-up, taken by id, sent once.

`history.py` reads one reader's deliveries for the desk, as small plain values: the one
place besides the send path that knows the ledger's columns.

Afterwards a hard bounce turns a `sent` row `failed` (alerts.feedback), and an operator may
put `failed` rows back to `pending` (alerts.ops.failures). `unknowns.py` says which failed
rows may have reached their reader (the worker died mid-exchange, or no reply came to the
final dot): those go back only on an operator's explicit confirmation.
"""

from alerts.ledger.claims import DEFAULT_LEASE, SweepResult, claim, claim_rows, sweep_stuck
from alerts.ledger.history import HISTORY_PAGE, DeliveryRecord, deliveries_of, last_sent
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
from alerts.ledger.queue import REQUEUE_AFTER, Publish, claim_queue, cut, queue_rows
from alerts.ledger.rows import insert_ignoring_conflicts
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
    "REQUEUE_AFTER",
    "UNKNOWN_OUTCOME",
    "UNKNOWN_REPLY",
    "UNSETTLED",
    "DeliveryRecord",
    "LedgerRow",
    "Outgoing",
    "Progress",
    "Publish",
    "Reader",
    "Recipient",
    "SweepResult",
    "TopicName",
    "batch_log_context",
    "claim",
    "claim_queue",
    "claim_rows",
    "cut",
    "deliveries_of",
    "insert_ignoring_conflicts",
    "last_sent",
    "load_outgoing",
    "not_held",
    "outcomes_cte",
    "progress",
    "queue_rows",
    "sweep_stuck",
    "take_back",
    "unknown_outcome",
    "unnested",
    "write_outcomes",
]
