"""`newsalerts bench keywords`: how fast new articles are matched against readers' keywords.

A throw-away database (PostgreSQL, or a SQLite file) gets N readers following 3 keywords
each, drawn with a long tail from an invented vocabulary of people, companies, places and
subjects (a few popular phrases followed by many readers, most by a few), written in bulk
by SQL. Then 1,000 invented articles, each mentioning a few of those names in its headline,
summary or body among ordinary words, are stored through the real ingestion path
(`upsert_articles`, 50 to a batch and a commit, as a feed poll stores them), which matches
them. It prints articles matched per second, the matches found (keyword, article) and per
reader, and this process's peak RSS (the database server's memory is not in it).
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from alerts.db import make_engine, make_session_factory, upgrade
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.feeds.keywords import index_keywords
from alerts.ops.bench import throwaway_database

Say = Callable[[str], None]
ARTICLES = 1000
KEYWORDS_EACH = 3
BATCH = 50
_FIRST = [
    "Ada",
    "Alma",
    "Bram",
    "Cleo",
    "Dara",
    "Eli",
    "Fenna",
    "Gus",
    "Hana",
    "Ivo",
    "Jana",
    "Kai",
    "Lena",
    "Milo",
    "Nia",
    "Oskar",
    "Pia",
    "Rafe",
    "Sana",
    "Theo",
    "Una",
    "Vik",
    "Wren",
    "Yara",
    "Zeno",
]
_SYLLABLES = [
    "ash",
    "bel",
    "cor",
    "dun",
    "el",
    "far",
    "gil",
    "hal",
    "ing",
    "jor",
    "kel",
    "lin",
    "mor",
    "nor",
    "ost",
    "pen",
    "quin",
    "ros",
    "sel",
    "tor",
]
_ENDS = ["by", "ton", "wick", "ford", "ley"]
# Invented surnames: Ashbelton, Corduwick ... two thousand of them.
_LAST = [f"{a.capitalize()}{b}{end}" for a in _SYLLABLES for b in _SYLLABLES for end in _ENDS]
_FIRM = [
    "Kestrel",
    "Harbour",
    "Northgate",
    "Bluefin",
    "Orchard",
    "Granite",
    "Larkspur",
    "Meridian",
    "Copperfield",
]
_TRADE = [
    "Mining",
    "Foods",
    "Energy",
    "Bank",
    "Airways",
    "Telecom",
    "Motors",
    "Pharma",
    "Holdings",
    "Shipping",
]
_PLACES = [
    "Kestrel Valley",
    "Harbour City",
    "Port Alder",
    "Lake Mirren",
    "Eastmoor",
    "Glenbrook",
    "Saltmarsh",
    "Highcross",
    "Ravensholm",
    "Old Quay",
    "Marrow Bay",
    "Fenwick Downs",
    "Ashby Cross",
    "Thornfield",
]
_SUBJECTS = [
    "Central Bank",
    "interest rates",
    "reservoir",
    "inflation",
    "housing market",
    "rail strike",
    "heatwave",
    "flood defences",
    "school meals",
    "bus fares",
    "wind farm",
    "hospital waiting lists",
    "chip shortage",
    "ferry service",
    "city council",
    "water bills",
    "minimum wage",
    "tram line",
    "drought",
    "bridge repairs",
    "election",
    "budget",
    "tax cuts",
    "fishing quotas",
    "port expansion",
]
_FILLER = [
    "the",
    "a",
    "of",
    "on",
    "in",
    "to",
    "and",
    "said",
    "after",
    "before",
    "new",
    "plan",
    "report",
    "week",
    "year",
    "officials",
    "residents",
    "council",
    "talks",
    "figures",
    "rise",
    "fall",
    "cost",
    "people",
    "local",
    "today",
    "meeting",
    "vote",
    "announced",
    "expected",
]


def vocabulary() -> list[str]:
    """The invented phrases readers follow: people, companies, places, subjects."""
    people = [f"{first} {last}" for first in _FIRST for last in _LAST]
    firms = [f"{firm} {trade}" for firm in (*_FIRM, *_LAST[:200]) for trade in _TRADE]
    places = [*_PLACES, *(f"{place} {kind}" for place in _PLACES for kind in ("port", "mayor"))]
    return [*_SUBJECTS, *places, *firms, *people]


def _article(number: int, phrases: list[str], rng: random.Random, now: datetime) -> ArticleInput:
    # Half of what a story names is among the most followed phrases, half from anywhere.
    popular = rng.sample(phrases[:300], rng.randint(1, 3))
    mentioned = popular + rng.sample(phrases, rng.randint(1, 3))
    rng.shuffle(mentioned)
    words = [rng.choice(_FILLER) for _ in range(140)]
    for phrase in mentioned[1:]:
        words.insert(rng.randrange(len(words)), phrase)
    return ArticleInput(
        url=f"https://news.example.com/bench/{number}",
        title=f"{mentioned[0]}: {' '.join(rng.choice(_FILLER) for _ in range(6))}",
        summary=f"<p>{' '.join(words[:40])}</p>",
        body=" ".join(words[40:]),
        published_at=now - timedelta(seconds=number),
    )


@dataclass
class KeywordBenchResult:
    readers: int
    reader_keywords: int
    phrases: int
    database: str
    index_seconds: float
    match_seconds: float
    matches: int
    reader_matches: int
    peak_rss_mb: float

    def lines(self) -> list[str]:
        return [
            f"{self.readers:,} readers following {self.reader_keywords:,} keywords "
            f"({self.phrases:,} distinct phrases) on {self.database}",
            f"indexing the phrases: {self.index_seconds:.1f} s",
            f"{ARTICLES:,} articles stored and matched in {self.match_seconds:.1f} s = "
            f"{ARTICLES / self.match_seconds:,.1f} articles/s",
            f"matches found: {self.matches:,} (keyword, article), "
            f"{self.reader_matches:,} (reader, article, keyword)",
            f"peak RSS of this process: {self.peak_rss_mb:.0f} MB",
        ]


def run_keyword_bench(
    *, readers: int, admin_url: str | None, say: Say, seed: int = 15
) -> KeywordBenchResult:
    """Match ARTICLES articles against `readers` readers' keywords; PostgreSQL at
    `admin_url`'s server, or SQLite when it is None."""
    rng = random.Random(seed)
    phrases = vocabulary()
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="newsalerts-keywords-") as folder,
        _database(admin_url, Path(folder)) as database_url,
    ):
        upgrade(database_url)
        engine = make_engine(database_url)
        try:
            with make_session_factory(engine)() as session:
                say(f"writing {readers:,} readers and their keywords ...")
                _readers(session, readers, phrases)
                session.commit()
                say("indexing the phrases ...")
                started = time.perf_counter()
                index_keywords(session, language="en")
                session.commit()
                index_seconds = time.perf_counter() - started
                items = [_article(n, phrases, rng, now) for n in range(ARTICLES)]
                say(f"storing and matching {ARTICLES:,} articles ...")
                started = time.perf_counter()
                for offset in range(0, ARTICLES, BATCH):
                    upsert_articles(
                        session, items[offset : offset + BATCH], source="bench", now=now,
                        language="en",
                    )  # fmt: skip
                    session.commit()
                match_seconds = time.perf_counter() - started
                counts = _counts(session)
        finally:
            engine.dispose()
    return KeywordBenchResult(
        readers=readers,
        reader_keywords=counts["reader_keywords"],
        phrases=counts["keywords"],
        database="PostgreSQL" if admin_url else "SQLite",
        index_seconds=index_seconds,
        match_seconds=match_seconds,
        matches=counts["matches"],
        reader_matches=counts["reader_matches"],
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _readers(session: Session, readers: int, phrases: list[str]) -> None:
    """The readers and their keywords, written by the database itself (a million rows
    through Python would measure Python). A reader's keywords are drawn with a cube of a
    uniform number: a long tail, the first phrases by far the most followed."""
    session.execute(
        text("INSERT INTO keywords (id, phrase, created_at) VALUES (:id, :phrase, :now)"),
        [
            {"id": number, "phrase": " ".join(phrase.casefold().split()), "now": datetime.now(UTC)}
            for number, phrase in enumerate(phrases, start=1)
        ],
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    series = (
        "generate_series(1, :readers) AS n"
        if postgres
        else "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s "
        "WHERE n < :readers) SELECT n FROM s)"
    )
    session.execute(
        text(
            "INSERT INTO subscribers (id, email, status, frequency, timezone, send_hour, "
            "created_at, status_changed_at, breaking_alerts) "
            f"SELECT n, 'reader' || n || '@example.com', 'active', 'daily', 'UTC', 7, "
            f":now, :now, false FROM {series}"
        ),
        {"readers": readers, "now": datetime.now(UTC)},
    )
    random_unit = "random()" if postgres else "((random() / 18446744073709551616.0) + 0.5)"
    # PostgreSQL's CAST rounds; SQLite's truncates (and has no floor() in every build).
    scaled = f"{len(phrases)} * u * u * u"
    draw = f"CAST({'floor(' + scaled + ')' if postgres else scaled} AS integer) + 1"
    session.execute(
        text(
            "INSERT INTO reader_keywords (subscriber_id, keyword_id, typed, position) "
            f"SELECT n, {draw}, 'typed', p FROM (SELECT n, p, {random_unit} AS u FROM {series}, "
            "(SELECT 0 AS p UNION ALL SELECT 1 UNION ALL SELECT 2) AS positions) AS drawn "
            "WHERE true ON CONFLICT DO NOTHING"
        ),
        {"readers": readers},
    )
    # The catalogue holds only what someone follows (subscribers.keywords.forget_unfollowed).
    session.execute(
        text(
            "DELETE FROM keywords WHERE NOT EXISTS "
            "(SELECT 1 FROM reader_keywords r WHERE r.keyword_id = keywords.id)"
        )
    )
    if postgres:
        session.execute(text("SELECT setval('subscribers_id_seq', :readers)"), {"readers": readers})
        session.execute(text("SELECT setval('keywords_id_seq', :n)"), {"n": len(phrases)})
        session.commit()
        session.execute(text("ANALYZE"))


def _counts(session: Session) -> dict[str, int]:
    queries = {
        "reader_keywords": "SELECT count(*) FROM reader_keywords",
        "keywords": "SELECT count(*) FROM keywords",
        "matches": "SELECT count(*) FROM keyword_matches",
        "reader_matches": "SELECT count(*) FROM keyword_matches JOIN reader_keywords "
        "USING (keyword_id)",
    }
    return {name: int(session.scalar(text(query)) or 0) for name, query in queries.items()}


@contextmanager
def _database(admin_url: str | None, folder: Path) -> Iterator[str]:
    if admin_url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    with throwaway_database(admin_url, prefix="newsalerts_keywords") as database_url:
        yield database_url


__all__ = ["ARTICLES", "KeywordBenchResult", "run_keyword_bench", "vocabulary"]
