"""Is each service answering? The database, Redis and every SMTP relay, with short timeouts.

`/readyz`, the console and `newsalerts ops status` ask the same questions here. Each check
returns "ok" or "error: <why>" and never raises. A relay is checked the way a batch starts
talking to it — connect, read the greeting, EHLO — then QUIT, within a few seconds; a
`file://` transport is checked by writing into its folder. Relays are checked side by side,
so several slow relays cost one timeout, not one each.
"""

from __future__ import annotations

import os
import smtplib
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from sqlalchemy import Engine, text

from alerts.config import Relay
from alerts.delivery.transports import tls_context
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


def healthy(checks: dict[str, str]) -> bool:
    return all(state == OK for state in checks.values())


def check_database(engine: Engine) -> str:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # whatever the driver raises, it means "not answering"
        return _error(error)
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
