"""The console's numbers as the page shows them, computed once for the HTML and the JSON.

Every figure on /ops that changes while a send runs has a key here; the page marks its
element with `data-figure="<key>"` and the script copies `figures[key]` into it every few
seconds. What changes the page's shape (a send starting or ending, a worker appearing, a
service failing) changes `layout`, and the script then reloads the whole page.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from alerts.ops.status import OpsStatus


def duration(seconds: float | None) -> str:
    """ "45 s", "12 min", "3 h 05 min", "2 d 4 h"; "—" when there is nothing to measure."""
    if seconds is None:
        return "—"
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s" if whole < 600 else f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def number(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() or value >= 100 else f"{value:,.1f}"


def percent(share: float) -> str:
    if share == 0:
        return "0 %"
    return f"{share * 100:.2f} %" if share < 0.1 else f"{share * 100:.1f} %"


def last_answer(worker: dict[str, Any], now: float) -> str:
    """When a worker last answered the broadcast: "now" while it answers, else how long ago.

    Celery's own heartbeats are events, which only an event consumer (Flower) hears; the
    answer to `inspect` is the heartbeat the console can afford."""
    if worker["answering"]:
        return "now"
    return f"{duration(now - worker['last_seen'])} ago"


def figures(status: OpsStatus) -> dict[str, str]:
    found: dict[str, str] = {
        "health": "Healthy" if status.healthy else "Unhealthy",
        "updated": f"{status.now:%H:%M:%S} UTC",
        "oldest_pending": duration(status.oldest_pending_seconds),
        "unacked": number(status.unacked),
        "tasks_in": _per_second(status.tasks_in_per_second),
        "tasks_out": _per_second(status.tasks_out_per_second),
    }
    for queue in status.queues or []:
        found[f"queue.{queue['name']}.waiting"] = number(queue["waiting"])
        found[f"queue.{queue['name']}.oldest"] = duration(queue["oldest_waiting_seconds"])
    for worker in status.workers or []:
        prefix = f"worker.{worker['name']}"
        found[f"{prefix}.running"] = number(worker["running"])
        found[f"{prefix}.processed"] = number(worker["processed"])
        found[f"{prefix}.last_seen"] = last_answer(worker, status.now.timestamp())
    for state, count in status.deliveries.items():
        found[f"deliveries.{state}"] = number(count)
    for send in status.sends:
        prefix = f"send.{send['kind']}-{send['id']}"
        for part in ("sent", "pending", "sending", "failed", "suppressed", "total"):
            found[f"{prefix}.{part}"] = number(send[part])
        found[f"{prefix}.done"] = percent(_done(send))
        found[f"{prefix}.rate"] = f"{number(send['per_minute'])}/min"
        found[f"{prefix}.eta"] = _eta(send)
        found[f"{prefix}.oldest"] = duration(send["oldest_pending_seconds"])
    for index, group in enumerate(status.failures):
        found[f"failure.{index}.count"] = number(group["count"])
    return found


def bars(status: OpsStatus) -> dict[str, dict[str, str]]:
    """Each send's progress bar: the width of each segment, as CSS percentages."""
    found = {}
    for send in status.sends:
        total = send["total"] or 1
        found[f"{send['kind']}-{send['id']}"] = {
            part: f"{send[part] * 100 / total:.2f}%"
            for part in ("sent", "failed", "suppressed", "sending")
        }
    return found


def layout(status: OpsStatus) -> str:
    """A fingerprint of what the page shows as rows and states, not as numbers."""
    shape: list[Any] = [
        sorted(status.services.items()),
        status.problems,
        [(send["kind"], send["id"], send["status"]) for send in status.sends],
        [(w["name"], w["answering"], w["stalled"]) for w in status.workers or []],
        [(q["name"]) for q in status.queues or []],
        [(g["reply_code"], g["domain"], g["kind"]) for g in status.failures[:5]],
        sorted(status.deliveries),
    ]
    return hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()[:16]


def _per_second(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}/s"


def _done(send: dict[str, Any]) -> float:
    total = send["total"]
    settled = send["sent"] + send["failed"] + send["suppressed"] + send["cancelled"]
    return settled / total if total else 1.0


def _eta(send: dict[str, Any]) -> str:
    if send["status"] == "paused":
        return "paused"
    minutes = send["minutes_left"]
    if minutes is None:
        return "not moving"
    return "done" if minutes == 0 else f"in {duration(minutes * 60)}"
