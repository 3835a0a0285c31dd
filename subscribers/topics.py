"""The topic catalogue: topics are found or created by slug."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from subscribers.models import Topic

_NON_WORD = re.compile(r"[^a-z0-9]+")
MAX_SLUG_LENGTH = 100


def slugify(name: str) -> str:
    """'Élection 2026 — Results' -> 'election-2026-results'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return _NON_WORD.sub("-", ascii_name.lower()).strip("-")[:MAX_SLUG_LENGTH].strip("-")


def ensure_topics(session: Session, names: Iterable[str], *, public: bool = False) -> list[Topic]:
    """Return the topics for these names or slugs, creating the missing ones.

    A topic made here is hidden from the sign-up form unless `public`: one first seen in an
    import or an article waits for an editor (a topic that exists keeps what it was).
    Names that slugify to nothing (punctuation only) are ignored; duplicates collapse.
    """
    wanted: dict[str, str] = {}
    for name in names:
        slug = slugify(name)
        if slug and slug not in wanted:
            wanted[slug] = name.strip()
    if not wanted:
        return []
    existing = {
        topic.slug: topic for topic in session.scalars(select(Topic).where(Topic.slug.in_(wanted)))
    }
    for slug, name in wanted.items():
        if slug not in existing:
            topic = Topic(
                slug=slug, name=name if slugify(name) != name else _title(name), public=public
            )
            session.add(topic)
            existing[slug] = topic
    session.flush()
    return [existing[slug] for slug in wanted]


def find_topics(session: Session, slugs: Iterable[str]) -> tuple[list[Topic], list[str]]:
    """Return (known topics, unknown slugs) without creating anything."""
    wanted = list(dict.fromkeys(slugify(slug) for slug in slugs if slugify(slug)))
    found = {
        topic.slug: topic for topic in session.scalars(select(Topic).where(Topic.slug.in_(wanted)))
    }
    return [found[slug] for slug in wanted if slug in found], [s for s in wanted if s not in found]


def _title(slug: str) -> str:
    return slug.replace("-", " ").strip().capitalize()
