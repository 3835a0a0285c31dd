"""Following a tracked link and loading the open pixel: where to send the reader, what to record.

A click goes where the ledger says the article at that position of that reader's digest
is — never to a URL taken from the request. Mail security scanners (Microsoft Safe Links,
Proofpoint, Mimecast, ...) fetch every link of a message as it arrives; their fetches are
redirected like anyone's but not recorded, so the counts are readers, not robots. What
counts as a scanner:

- a HEAD request (browsers follow links with GET; scanners often probe with HEAD);
- a User-Agent naming a known scanner, a script or a headless browser (SCANNER_AGENTS);
- a click within SCANNER_GRACE of the message leaving: nobody reads that fast, but a
  scanner at the receiving end fetches while the message is being delivered.

Every human click is stored (a reader may come back to a story); reports count clicks
and unique readers. Clicks and opens are recorded only while the edition has click or
open tracking switched on, and they hang off the delivery, so they go with the reader
when the reader is erased.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts.models import Article, Click, Delivery, Edition, Issue
from subscribers.database import MAX_ROW_ID

# Nobody opens a message and clicks within this time of it leaving; a scanner does.
SCANNER_GRACE = timedelta(seconds=10)
# Lower-case fragments of User-Agent headers sent by link scanners, scripts and headless
# browsers. Human browsers (and mail apps' in-app browsers) send none of them.
SCANNER_AGENTS = (
    "bingpreview",  # Microsoft Defender for Office 365 Safe Links
    "safelinks",
    "microsoft office",  # Office apps pre-fetching links
    "proofpoint",
    "mimecast",
    "barracuda",
    "forcepoint",
    "trendmicro",
    "symantec",
    "sophos",
    "fortiguard",
    "cisco",  # Cisco Secure Email (IronPort)
    "ironport",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww-perl",
    "curl/",
    "wget/",
    "headlesschrome",
    "phantomjs",
    "slimerjs",
    "crawler",
    "spider",
    "preview",
)
# Robots name themselves "...bot/2.1" or "bot"; a phone's model may end in it ("CUBOT P30").
_BOT = re.compile(r"\bbot\b|bot/|bot-|facebookexternalhit|whatsapp|telegram")
_MAX_POSITION = 1000


def scanner_reason(
    *, method: str, user_agent: str | None, sent_at: datetime | None, now: datetime
) -> str | None:
    """Why a hit looks like a machine rather than a reader ("head", "agent", "too soon"),
    or None for a reader."""
    if method.upper() == "HEAD":
        return "head"
    agent = (user_agent or "").lower()
    if not agent.strip() or any(fragment in agent for fragment in SCANNER_AGENTS):
        return "agent"
    if _BOT.search(agent):
        return "agent"
    if sent_at is not None and now < sent_at + SCANNER_GRACE:
        return "too soon"
    return None


@dataclass(frozen=True)
class FollowedClick:
    """Where a tracked link leads, and whether the hit was recorded as a reader's click."""

    url: str
    recorded: bool
    scanner: str | None = None


def _delivery(session: Session, delivery_id: int) -> Delivery | None:
    if not 0 < delivery_id <= MAX_ROW_ID:
        return None
    return session.get(Delivery, delivery_id)


def _tracks(session: Session, delivery: Delivery, *, clicks: bool) -> bool:
    """Whether the delivery's edition tracks clicks (or opens) now; alerts track neither."""
    if delivery.issue_id is None:
        return False
    issue = session.get(Issue, delivery.issue_id)
    if issue is None:
        return False
    edition: Edition = issue.edition
    return edition.click_tracking if clicks else edition.open_tracking


def follow_click(
    session: Session,
    *,
    delivery_id: int,
    position: int,
    method: str,
    user_agent: str | None,
    now: datetime,
) -> FollowedClick | None:
    """The article behind position `position` (1-based) of delivery `delivery_id`, and a
    Click recorded for it unless the hit looks like a scanner. None when there is no
    such delivery, position or article. Flushes; the caller commits."""
    delivery = _delivery(session, delivery_id)
    if delivery is None or not 1 <= position <= min(len(delivery.article_ids), _MAX_POSITION):
        return None
    article_id = delivery.article_ids[position - 1]
    article = session.get(Article, article_id)
    if article is None:
        return None
    scanner = scanner_reason(
        method=method, user_agent=user_agent, sent_at=delivery.sent_at, now=now
    )
    if scanner is not None or not _tracks(session, delivery, clicks=True):
        return FollowedClick(url=article.url, recorded=False, scanner=scanner)
    session.add(
        Click(
            delivery_id=delivery.id,
            issue_id=delivery.issue_id,
            article_id=article.id,
            position=position,
            clicked_at=now,
        )
    )
    session.flush()
    return FollowedClick(url=article.url, recorded=True)


def record_open(session: Session, *, delivery_id: int, method: str, now: datetime) -> bool:
    """Mark the delivery opened (the first time only) when its edition tracks opens.
    True if this call marked it. Flushes; the caller commits.

    Opens are unreliable: Apple Mail fetches every image on arrival (an "open" nobody
    read), and many readers block images (a read that is never counted).
    """
    if method.upper() == "HEAD":
        return False
    delivery = _delivery(session, delivery_id)
    if delivery is None or not _tracks(session, delivery, clicks=False):
        return False
    result = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.opened_at.is_(None))
        .values(opened_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
