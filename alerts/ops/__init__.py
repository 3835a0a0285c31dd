"""Operations: what operators see of the running service, and the benchmark.

- `status.py`: the operator's picture in one object (health, queues, workers, sends,
  failures, feedback), for /ops, its JSON and `newsalerts ops status`.
- `health.py`: is each service answering? The database, Redis and every SMTP relay.
- `metrics.py`: Prometheus metrics for `GET /metrics`, read at scrape time from the
  ledger's running counts and Redis.
- `console.py`: the ledger as the console reads it: sends in progress, messages a minute,
  bounces and complaints a day.
- `figures.py`: the console's numbers as the page shows them, for the HTML and the JSON.
- `failures.py`: failed deliveries grouped by reason, the retryable ones, the unknowns
  ("may have arrived") and their confirmed re-send, the dead letters.
- `workers.py`: the Celery workers, from the keys they keep in Redis or as they answer a
  broadcast, and which are stalled.
- `bench.py`: `newsalerts bench`, the production path measured end to end on this machine.
- `reader_list_bench.py`: `newsalerts bench-readers`, one page of the desk's reader list
  among a million readers.

The scheduler's tick mark the metrics read is alerts.tasks.beat; the queues' figures are
alerts.tasks.queues.
"""

from alerts.ops.bench import BenchResult, run_bench
from alerts.ops.console import (
    FeedbackDay,
    MinuteSeries,
    SendInProgress,
    feedback_per_day,
    oldest_pending,
    per_minute,
    sends_in_progress,
)
from alerts.ops.failures import (
    DeadLetter,
    FailureGroup,
    Unknown,
    Unknowns,
    dead_letters,
    failure_groups,
    resend_unknowns,
    retry_failures,
    unknowns,
)
from alerts.ops.health import (
    OK,
    check_database,
    check_redis,
    check_relay,
    check_relays,
    check_services,
    healthy,
)
from alerts.ops.metrics import NewsalertsCollector, render_metrics
from alerts.ops.status import OpsStatus, collect_status
from alerts.ops.workers import WorkerFigures, present_workers, read_workers

__all__ = [
    "OK",
    "BenchResult",
    "DeadLetter",
    "FailureGroup",
    "FeedbackDay",
    "MinuteSeries",
    "NewsalertsCollector",
    "OpsStatus",
    "SendInProgress",
    "Unknown",
    "Unknowns",
    "WorkerFigures",
    "check_database",
    "check_redis",
    "check_relay",
    "check_relays",
    "check_services",
    "collect_status",
    "dead_letters",
    "failure_groups",
    "feedback_per_day",
    "healthy",
    "oldest_pending",
    "per_minute",
    "present_workers",
    "read_workers",
    "render_metrics",
    "resend_unknowns",
    "retry_failures",
    "run_bench",
    "sends_in_progress",
    "unknowns",
]
