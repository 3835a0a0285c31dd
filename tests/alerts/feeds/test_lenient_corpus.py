"""The lenient corpus: feeds written for this test (tests/fixtures/lenient_feeds/) that each
reproduce one way real news feeds break the rules, ingested through `ingest_source` into a
real store. `expected.json` says, for each, the titles kept (in order), what was skipped and
noted, counted by reason, or the error a document that is no feed at all must raise."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.errors import FeedError
from alerts.feeds.ingest import ingest_source, tally
from alerts.models import Article

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "lenient_feeds"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CORPUS / "expected.json").read_text("utf-8"))
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_every_file_of_the_corpus_has_an_expectation() -> None:
    files = {path.name for path in CORPUS.iterdir()} - {"expected.json"}
    described = {case.get("file", name) for name, case in EXPECTED.items()}
    assert files == described


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_lenient_corpus_keeps_and_skips_as_expected(session: Session, name: str) -> None:
    case = EXPECTED[name]
    path = CORPUS / case.get("file", name)
    if "error" in case:
        with pytest.raises(FeedError, match=re.escape(case["error"])):
            ingest_source(session, str(path), now=NOW, base=case.get("base"))
        return
    result = ingest_source(session, str(path), now=NOW, base=case.get("base"))
    assert tally(result.skipped) == case["skipped"]
    assert tally(result.notes) == case["notes"]
    assert result.created == len(case["kept"])
    stored = list(session.execute(select(Article.title, Article.url).order_by(Article.id)))
    assert [title for title, _ in stored] == case["kept"]
    if "urls" in case:
        assert [url for _, url in stored] == case["urls"]
    if case["skipped"]:
        assert result.describe().endswith(f" skipped: {result.problems()}")
