"""Celery: the app, its queues, publishing batches to workers, and the tasks workers run.

- `app.py`: the Celery app (`create_celery`), its two queues and the task names.
- `handlers.py`: the tasks, thin adapters that carry ids and call one function each.
  Celery registers them through the app's `include`; nothing else needs to import them.
- `publishing.py`: publishing send batches to the workers, after their rows are committed.
- `queues.py`: the queues as Redis holds them: depth, oldest message, tasks in and out.
- `presence.py`: each worker's key in Redis (host, queues, concurrency), renewed while it
  runs: which workers are up, without a broadcast.
- `beat.py`: the scheduler's mark that it ticked, for the metric and the health check.

Nothing is imported here on purpose: importing the tasks would load the whole runtime into
every process that only needs a queue's name.
"""
