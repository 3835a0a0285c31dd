"""What readers follow: the most-followed keywords, for editors looking for new topics.

Each phrase is shown normalised (as the catalogue holds it), with how many readers follow
it and how many of the stories published since a moment (the start of the desk's day)
mention it. A phrase followed by fewer than MIN_FOLLOWERS readers is left out: a reader's
own name, typed as a keyword, is nobody else's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.models import Article, KeywordMatch
from subscribers.models import Keyword, ReaderKeyword

MIN_FOLLOWERS = 2
SHOWN = 20


@dataclass(frozen=True)
class FollowedKeyword:
    phrase: str
    followers: int
    matched_today: int


def most_followed_keywords(
    session: Session, *, since: datetime, limit: int = SHOWN
) -> list[FollowedKeyword]:
    """The `limit` phrases with the most followers (two at least), most followed first,
    with the number of stories published since `since` that matched each."""
    followers = (
        select(ReaderKeyword.keyword_id, func.count().label("followers"))
        .group_by(ReaderKeyword.keyword_id)
        .having(func.count() >= MIN_FOLLOWERS)
        .subquery()
    )
    top = session.execute(
        select(Keyword.id, Keyword.phrase, followers.c.followers)
        .join(followers, followers.c.keyword_id == Keyword.id)
        .order_by(followers.c.followers.desc(), Keyword.phrase)
        .limit(limit)
    ).all()
    if not top:
        return []
    today = dict(
        session.execute(
            select(KeywordMatch.keyword_id, func.count())
            .join(Article, Article.id == KeywordMatch.article_id)
            .where(KeywordMatch.keyword_id.in_([row.id for row in top]))
            .where(Article.published_at >= since)
            .group_by(KeywordMatch.keyword_id)
        ).all()
    )
    return [
        FollowedKeyword(row.phrase, int(row.followers), int(today.get(row.id, 0))) for row in top
    ]


__all__ = ["MIN_FOLLOWERS", "FollowedKeyword", "most_followed_keywords"]
