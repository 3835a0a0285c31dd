"""newsalerts: email news alerts — articles in, one digest or breaking alert per reader out.

The map, lowest layer first (a module imports only its own package and lower layers; the
readers themselves live in the `subscribers` package, below all of this):

- `errors.py`: every error of the package, one base and a small tree.
- `config.py`: the typed settings, built from the environment at the edge.
- `logs.py`: logging for every process.
- `models.py`: articles, editions, issues, breaking alerts and the delivery ledger, whose
  states are `DeliveryStatus`; `charts.py`: charts drawn on the server as SVG.
- `db.py`: the engine, sessions and migrations; `audit.py`: the staff audit log.
- `ledger/`: the delivery ledger at work: writing rows, the queue of batches, a worker's
  claims, outcomes, a send's rows held back or counted (`states.py`), and the running
  counts figures are read from (`counts.py`).
- `access/`: staff accounts and the publisher API's tokens.
- `feeds/`: ingestion: feeds read and articles stored (`ingest.py`, `articles.py`), and the
  sources polled on an interval (`polling.py`).
- `results/`: clicks and opens (`clicks.py`), and what a send achieved (`tallies.py`).
- `editions/`: editions, the scheduled digests editors run (`schedules.py`), and their
  issues (`issues.py`).
- `digests/`: who gets what: selection (`selection.py`), planning a run (`planning.py`),
  breaking alerts (`breaking.py`).
- `mail/`: a message's bytes: rendering (`rendering.py`), MIME (`mime.py`), the envelope,
  the digest and breaking-alert emails (`digest.py`, `alert.py`), tracking links, VERP,
  DKIM, and the notices a reader gets (confirm, manage).
- `delivery/`: SMTP: sending a batch (`sending.py`), transports (`transports.py`), relays,
  and sending one reader a notice now (`notices.py`).
- `feedback/`: bounces and complaints: DSN and ARF emails read (`reports.py`), provider
  webhooks, and what they do to a reader (`policy.py`).
- `runtime.py`: the wired-up parts one process needs.
- `desk/`: the editors' desk: coming issues, curation, previews, test copies.
- `jobs.py`: the digest run as the CLI, the scheduler and the workers see it.
- `tasks/`: Celery: the app, queues, publishing, the task handlers, the scheduler's tick mark.
- `ops/`: status, health, metrics (`metrics.py`), the console, failures, workers, the benchmark.
- `demo/`: `newsalerts demo`, the whole job in a fresh store.
- `web/`, `cli/`: the two thin adapters, the web app and the `newsalerts` command.

Nothing is imported here: each package's front file names its public parts.
"""
