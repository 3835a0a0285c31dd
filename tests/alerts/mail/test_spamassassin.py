"""SpamAssassin, with its stock rules and no network, finds nothing to hold against our
emails: a digest (also one built from a hostile feed), a breaking alert and a sign-up
confirmation each score 0 or less.

Every email used to score 0.7 for HTML_FONT_LOW_CONTRAST: the hidden preheader was
coloured like the background, which is how spam hides text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.breaking import create_alert, plan_alert
from alerts.digests.planning import plan_digests
from alerts.mail.digest import DigestComposer
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import default_renderer
from alerts.models import Article, Delivery
from tests.alerts.mail.test_hostile_feed import NOW, hostile_digest  # noqa: F401 (a fixture)
from tests.support.builders import articles, reader

pytestmark = pytest.mark.skipif(
    shutil.which("spamassassin") is None,
    reason="SpamAssassin is not installed (apt-get install spamassassin; .ci/run installs it)",
)
_SCORE = re.compile(r"^X-Spam-Status: \w+, score=(-?[0-9.]+)", re.MULTILINE)


def spam_score(data: bytes, home: Path) -> tuple[float, str]:
    """SpamAssassin's score for a message, local tests only, and its report."""
    run = subprocess.run(
        ["spamassassin", "--local", "--test-mode"],
        input=data,
        capture_output=True,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    output = run.stdout.decode(errors="replace")
    found = _SCORE.search(output)
    assert found is not None, output[:2000]
    report = output.partition("Content analysis details:")[2]
    return float(found.group(1)), report


def _clean(score: float, report: str) -> None:
    assert score <= 0, report


def test_a_digest_scores_nothing(session: Session, settings: Settings, tmp_path: Path) -> None:
    reader(session, "ada@example.com", topics=("Economy",))
    stories = [(f"story-{n}", ("Economy",), timedelta(minutes=20 * n)) for n in range(1, 8)]
    articles(session, NOW, *stories)
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    delivery = session.scalars(select(Delivery)).one()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    _clean(*spam_score(composer.compose(delivery).data, tmp_path))


def test_a_hostile_feeds_digest_scores_nothing(
    hostile_digest: tuple[bytes, float],  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    data, _ = hostile_digest
    _clean(*spam_score(data, tmp_path))


def test_a_breaking_alert_scores_nothing(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    reader(session, "ada@example.com", topics=("Economy",)).breaking_alerts = True
    articles(session, NOW, ("rates", ("Economy",), timedelta(minutes=5)))
    session.commit()
    article = session.scalars(select(Article)).one()
    alert = create_alert(session, article_id=article.id, created_by="cli", now=NOW)
    plan_alert(session, alert, now=NOW, per_day=3)
    session.commit()
    delivery = session.scalars(select(Delivery)).one()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    _clean(*spam_score(composer.compose(delivery).data, tmp_path))


def test_a_confirmation_scores_nothing(
    session: Session, settings: Settings, tmp_path: Path
) -> None:
    subscriber = reader(session, "ada@example.com", confirmed=False)
    session.commit()
    notice = compose_notice(
        Notice.CONFIRM, subscriber, settings=settings, renderer=default_renderer()
    )
    _clean(*spam_score(notice.data, tmp_path))
