"""Real worker processes for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "process-test-secret-key-0123456789abcdef"


def process_environment(
    *, database_url: str, redis_url: str, smtp_url: str, **settings: str
) -> dict[str, str]:
    """The environment of a worker, scheduler or CLI process under test: this one's, the
    services to use, a secret key, the project on the path, then `settings` (by the
    names of their environment variables)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SMTP_URL": smtp_url,
        "SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": str(ROOT),
        **settings,
    }


def start_worker(
    environment: dict[str, str],
    log: Path,
    *,
    concurrency: int = 2,
    queues: str | None = None,
    through_cli: bool = False,
    name: str | None = None,
    on_host: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """`celery -A worker worker` (or, `through_cli`, `newsalerts worker`) in its own process
    group, logging to `log`; `queues` is passed as `-Q`, `name` (a node name) as `-n`.
    `on_host` is the prefix that runs it on another host (`tests.support.hosts.Host.command`):
    `ip netns exec` becomes the worker, so the process is still the worker's."""
    entry = ["alerts.cli", "worker"] if through_cli else ["celery", "-A", "worker", "worker"]
    return subprocess.Popen(
        [
            *on_host,
            sys.executable,
            "-m",
            *entry,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["-Q", queues] if queues else []),
            *(["-n", name] if name else []),
        ],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_beat(
    environment: dict[str, str], log: Path, *, schedule: Path, on_host: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    """`newsalerts beat` keeping its schedule in `schedule` (passed through to celery
    beat), in its own process group, logging to `log` (`on_host` as for `start_worker`).
    Stop it with `stop_worker`: on SIGTERM beat saves its schedule and exits, as it does
    under `docker stop`."""
    return subprocess.Popen(
        [*on_host, sys.executable, "-m", "alerts.cli", "beat", "--schedule", str(schedule)],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_worker(process)


def kill_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool children at once, as a crash or the OOM killer would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)
