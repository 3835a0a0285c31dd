"""The wired-up parts one process needs: settings, database, renderer and mail transport."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from alerts.config import Settings, load_settings
from alerts.db import make_engine, make_session_factory
from alerts.delivery.liveness import NO_LIVENESS, Liveness, RedisLiveness
from alerts.delivery.notices import NoticeSender
from alerts.delivery.relays import relay_transport
from alerts.delivery.sending import RetryPolicy
from alerts.delivery.transports import Transport
from alerts.mail.composing import RenderCache
from alerts.mail.digest import DigestComposer
from alerts.mail.dkim import DkimSigner
from alerts.mail.envelope import sender_domain
from alerts.mail.rendering import EmailRenderer, default_renderer


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    transport: Transport
    renderer: EmailRenderer = field(default_factory=default_renderer)
    signer: DkimSigner | None = None
    render_cache: RenderCache = field(default_factory=RenderCache)
    # This process's proof of life while it sends (a heartbeat in Redis, when there is one).
    liveness: Liveness = NO_LIVENESS

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            transport=relay_transport(
                settings.smtp_url,
                per_second=settings.smtp_rate,
                redis_url=settings.redis_url,
                max_connections=settings.smtp_max_connections,
                helo_name=settings.smtp_helo_name,
            ),
            signer=dkim_signer(settings),
            liveness=RedisLiveness(settings.redis_url) if settings.redis_url else NO_LIVENESS,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session:
            yield session

    def composer(self, session: Session) -> DigestComposer:
        return DigestComposer(
            session,
            settings=self.settings,
            renderer=self.renderer,
            cache=self.render_cache,
            signer=self.signer,
        )

    def notice_sender(self) -> NoticeSender:
        """What sends this process's notices (confirmations) from the outbox, retrying a
        temporary refusal as the digests do (`retry_policy`), within the window from the
        notice's creation."""
        return NoticeSender(
            settings=self.settings,
            renderer=self.renderer,
            transport=self.transport,
            signer=self.signer,
            retry=self.retry_policy(),
        )

    def retry_policy(self) -> RetryPolicy:
        """How long and how often a temporary SMTP refusal is tried again (RETRY_* settings)."""
        settings = self.settings
        return RetryPolicy(
            window=timedelta(hours=settings.retry_window_hours),
            base=timedelta(seconds=settings.retry_base_seconds),
            cap=timedelta(seconds=settings.retry_max_delay_seconds),
        )

    def close(self) -> None:
        self.engine.dispose()


def dkim_signer(settings: Settings) -> DkimSigner | None:
    if not settings.dkim_private_key_file:
        return None
    domain = settings.dkim_domain or sender_domain(settings.mail_from)
    return DkimSigner.from_file(
        Path(settings.dkim_private_key_file), selector=settings.dkim_selector, domain=domain
    )


@lru_cache(maxsize=1)
def process_runtime() -> Runtime:
    """The runtime of a worker process, built once from the environment."""
    return Runtime.from_settings(load_settings())
