"""`newsalerts bench keywords`: it measures the real ingestion path and says so clearly."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.ops.keyword_bench import ARTICLES, run_keyword_bench, vocabulary
from tests.conftest import POSTGRES_ADMIN_URL


@pytest.mark.slow
def test_every_article_is_matched_and_the_readers_follow_three_keywords() -> None:
    result = run_keyword_bench(readers=2000, admin_url=POSTGRES_ADMIN_URL, say=lambda _: None)
    assert result.readers == 2000
    assert 5_900 <= result.reader_keywords <= 6_000  # a repeat draw is dropped
    assert result.matches >= ARTICLES  # each article names a phrase among the most followed
    assert result.reader_matches >= result.matches
    assert f"{ARTICLES:,} articles stored and matched" in "\n".join(result.lines())


def test_the_vocabulary_is_invented_and_distinct() -> None:
    phrases = vocabulary()
    assert len(phrases) == len(set(phrases)) > 50_000


def test_an_unreachable_database_server_is_one_clear_line() -> None:
    outcome = CliRunner().invoke(
        main,
        ["bench", "keywords", "--readers", "10", "--postgres", "postgresql://nobody@127.0.0.1:1/x"],
    )
    assert outcome.exit_code == 1
    assert "error: cannot create a database" in outcome.output
    assert "Traceback" not in outcome.output
