"""Is each service answering? The database, Redis and every SMTP relay, with short timeouts.

`/readyz` and `newsalerts ops status` ask the same questions here. Each check
returns "ok" or "error: <why>" and never raises. A relay is checked the way a batch starts
talking to it — connect, read the greeting, EHLO — then QUIT, within a few seconds; a
`file://` transport is checked by writing into its folder. Relays are checked side by side,
so several slow relays cost one timeout, not one each.

The console, which refreshes every few seconds, and `/metrics`, scraped every few seconds,
never connect to a relay: a provider would see an EHLO from us each time, for nothing.
They judge a relay by what its recent messages met instead (`relay_activity`).
"""

from __future__ import annotations

import os
import smtplib
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import Engine, text

from alerts.config import Relay
from alerts.db import check_schema
from alerts.delivery.transports import tls_context
from alerts.errors import DatabaseNotReady
from alerts.ledger.counts import Count
from alerts.models import DeliveryStatus
from alerts.runtime import Runtime

OK = "ok"
TIMEOUT_SECONDS = 2.5


def check_services(
    runtime: Runtime, *, timeout: float = TIMEOUT_SECONDS, relays: bool = True
) -> dict[str, str]:
    """{"database": ..., "redis": ... (when REDIS_URL is set), "smtp:host:port": ...}."""
    checks = {"database": check_database(runtime.engine)}
    if runtime.settings.redis_url:
        checks["redis"] = check_redis(runtime.settings.redis_url, timeout=timeout)
    if relays:
        checks.update(check_relays(runtime.settings.relays, timeout=timeout))
    return checks


# How long messages must have been failing on a relay, with none accepted, before the
# console calls it failing (the same span as the "relay failing" alert in
# docs/prometheus-alerts.yml): one refused address is the reader's problem, not the relay's.
FAILING_FOR_SECONDS = 600


@dataclass(frozen=True)
class RelayActivity:
    """When a relay last accepted a message, and when a message last failed on it (Unix
    times, None until it has)."""

    last_sent: float | None = None
    last_failed: float | None = None

    def state(self) -> str:
        """ "ok", unless its messages have been failing for FAILING_FOR_SECONDS with none
        accepted ("error: ..."); "no message sent through it yet" before any."""
        if self.last_failed is None and self.last_sent is None:
            return "no message sent through it yet"
        if self.last_failed is None:
            return OK
        if self.last_sent is not None and self.last_failed - self.last_sent < FAILING_FOR_SECONDS:
            return OK
        at = datetime.fromtimestamp(self.last_failed, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if self.last_sent is None:
            return f"error: messages fail on it (the last at {at}) and it never accepted one"
        since = datetime.fromtimestamp(self.last_sent, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"error: messages fail on it (the last at {at}), none accepted since {since}"


def relay_activity(counts: Iterable[Count], relays: Sequence[str]) -> dict[str, RelayActivity]:
    """Each relay's activity from the ledger's running counts, without connecting to it.
    Rows that name no relay (written before the ledger did, or never attempted) count
    against the only relay, or "unknown" when there are several."""
    fallback = relays[0] if len(relays) == 1 else "unknown"
    sent: dict[str, float] = {}
    failed: dict[str, float] = {}
    for count in counts:
        if not count.entered or count.last_at is None:
            continue
        found = {DeliveryStatus.SENT: sent, DeliveryStatus.FAILED: failed}.get(count.status)
        if found is not None:
            relay = count.relay or fallback
            found[relay] = max(found.get(relay, 0.0), count.last_at)
    names = dict.fromkeys([*relays, *sent, *failed])
    return {name: RelayActivity(sent.get(name), failed.get(name)) for name in names}


def healthy(checks: dict[str, str]) -> bool:
    return all(state == OK for state in checks.values())


def check_database(engine: Engine) -> str:
    """Whether the database answers, and is at this version's schema (a process against
    an older one is not ready: its queries would fail)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # whatever the driver raises, it means "not answering"
        return _error(error)
    try:
        check_schema(engine)
    except DatabaseNotReady as error:
        return f"error: {error}"
    return OK


def check_redis(url: str, *, timeout: float = TIMEOUT_SECONDS) -> str:
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as error:
        return _error(error)
    finally:
        client.close()
    return OK


def check_relays(relays: Sequence[Relay], *, timeout: float = TIMEOUT_SECONDS) -> dict[str, str]:
    """{relay name: state}, in the order of `relays`."""
    with ThreadPoolExecutor(max_workers=max(len(relays), 1)) as pool:
        states = list(pool.map(lambda relay: check_relay(relay, timeout=timeout), relays))
    return {relay.name: state for relay, state in zip(relays, states, strict=True)}


def check_relay(relay: Relay, *, timeout: float = TIMEOUT_SECONDS) -> str:
    if relay.folder is not None:
        return _check_folder(relay.folder)
    try:
        client: smtplib.SMTP
        if relay.use_ssl:
            client = smtplib.SMTP_SSL(
                relay.host, relay.port, timeout=timeout, context=tls_context()
            )
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=timeout)
        try:
            code, reply = client.ehlo()
            if code != 250:
                return f"error: EHLO answered {code} {reply.decode(errors='replace')}"[:200]
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except (smtplib.SMTPException, OSError) as error:
        return _error(error)
    return OK


def _check_folder(folder: Path) -> str:
    """Can a message be written there? Into the folder, or, when it does not exist yet, into
    the nearest folder above it (the transport creates the rest on its first message)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=".readyz-")
        os.close(descriptor)
        os.unlink(name)
    except OSError as error:
        return _error(error)
    return OK


def _error(error: BaseException) -> str:
    lines = str(error).strip().splitlines() or [""]
    return f"error: {type(error).__name__}: {lines[0]}"[:200]
