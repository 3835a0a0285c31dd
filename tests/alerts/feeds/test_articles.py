"""Article inputs (validation, sanitising, identity) and storing them without duplicates."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.errors import ArticleError
from alerts.feeds.articles import (
    ArticleInput,
    article_input_from_mapping,
    identity_hash,
    identity_of,
    sanitise_summary,
    upsert_articles,
)
from alerts.models import Article
from subscribers.models import Topic

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def article(**overrides: object) -> ArticleInput:
    fields: dict[str, object] = {
        "url": "https://news.example.com/business/rates-hold",
        "title": "Central Bank holds rates",
        "guid": "news.example.com/article/1",
        "summary": "<p>The committee voted 6 to 3.</p>",
        "section": "Business",
        "topics": ("Interest rates",),
        "author": "Tomasz Quell",
        "published_at": datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return ArticleInput(**fields)  # type: ignore[arg-type]


def count_articles(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Article)) or 0


# --- sanitising -----------------------------------------------------------------------------


def test_sanitise_summary_removes_scripts_handlers_styles_and_javascript_links() -> None:
    dirty = (
        '<p onclick="steal()" style="color:red">Rates <em>held</em>'
        "<script>alert(1)</script><style>p{}</style>"
        '<a href="javascript:alert(2)">bad</a> <a href="https://news.example.com/x">good</a>'
        ' <a href="mailto:desk@news.example.com">mail</a><img src="x.jpg" onerror="y()"></p>'
    )
    clean = sanitise_summary(dirty)
    assert clean == (
        '<p>Rates <em>held</em><a rel="noopener noreferrer">bad</a> '
        '<a href="https://news.example.com/x" rel="noopener noreferrer">good</a> '
        '<a href="mailto:desk@news.example.com" rel="noopener noreferrer">mail</a></p>'
    )


def test_sanitise_summary_keeps_lists_and_quotes() -> None:
    html = "<ul><li>one</li></ul><blockquote>“quoted”</blockquote><br><strong>s</strong>"
    assert sanitise_summary(html) == html


def test_title_is_plain_text_on_one_line() -> None:
    item = article(title="  Rates <b>held</b> &amp; \n  steady<script>x()</script> ")
    assert item.title == "Rates held & steady"


def test_summary_is_sanitised_when_the_input_is_built() -> None:
    assert article(summary='<p onclick="x()">Hi</p>').summary == "<p>Hi</p>"


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "/business/rates"}, "absolute http(s) URL"),
        ({"url": "ftp://news.example.com/x"}, "absolute http(s) URL"),
        ({"title": "  <b> </b> "}, "title is empty"),
        ({"published_at": datetime(2026, 11, 25, 8, 0)}, "UTC offset"),
        ({"image_url": "data:image/png;base64,AAAA"}, "image_url"),
        ({"section": "x" * 101}, "section is longer than 100"),
        ({"guid": "cms\x004711"}, "guid must not contain NUL"),
        ({"topics": ("Rates", "Ra\x00tes")}, "topics must not contain NUL"),
        ({"title": "Rates \ud800"}, "title is not valid Unicode"),
        ({"url": "https://news.example.com/\udfff"}, "url is not valid Unicode"),
        # A line break inside a URL would reach a redirect's Location header (a 500 there,
        # header splitting behind anything less careful) and every email's href.
        ({"url": "https://news.example.com/a\r\nSet-Cookie: x=1"}, "absolute http(s) URL"),
        ({"url": "https://news.example.com/a\nb"}, "absolute http(s) URL"),
        ({"url": "https://news.example.com/a\tb"}, "absolute http(s) URL"),
        ({"url": "https://news.example.com/a\x7fb"}, "absolute http(s) URL"),
        ({"url": "https://news.example.com/a\x9bb"}, "absolute http(s) URL"),
        ({"url": "https://news.example.com/\u202egnp.exe"}, "absolute http(s) URL"),
        ({"image_url": "https://news.example.com/a\r.jpg"}, "image_url"),
        (
            {"published_at": datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))},
            "published_at is out of range",
        ),
    ],
)
def test_invalid_inputs_raise_article_error(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(
        ArticleError, match=message.replace("(", r"\(").replace(")", r"\)")
    ) as error:
        article(**overrides)
    [field] = overrides
    assert error.value.field == field


def test_line_breaks_around_a_url_are_trimmed_not_refused() -> None:
    """Feeds often wrap a <link> in whitespace: only what is inside the URL is refused."""
    assert article(url="\n  https://news.example.com/a\r\n").url == "https://news.example.com/a"
    assert article(url="https://news.example.com/élection").url.endswith("/élection")


def test_topics_collapse_by_slug_and_drop_punctuation_only_names() -> None:
    item = article(topics=("Interest rates", "interest-rates", " !! ", "AI  regulation"))
    assert item.topics == ("Interest rates", "AI regulation")
    assert item.topic_slugs == ["interest-rates", "ai-regulation"]


def test_mapping_builds_a_full_input() -> None:
    item = article_input_from_mapping(
        {
            "url": "https://news.example.com/tech/ai-bill",
            "title": "AI bill clears second reading",
            "guid": "ai-bill-1",
            "summary": "<p>Cross-party <em>support</em></p>",
            "section": "Tech",
            "topics": ["ai-regulation"],
            "author": "Priya Ostrander",
            "image_url": "https://static.news.example.com/ai.jpg",
            "published_at": "2026-11-25T07:30:00+01:00",
            "breaking": True,
        }
    )
    assert item.published_at == datetime(2026, 11, 25, 6, 30, tzinfo=UTC)
    assert item.published_at.utcoffset() == timedelta(hours=1)
    assert (item.guid, item.section, item.topics, item.breaking) == (
        "ai-bill-1",
        "Tech",
        ("ai-regulation",),
        True,
    )


def test_mapping_defaults_optional_fields() -> None:
    item = article_input_from_mapping({"url": "https://news.example.com/a", "title": "A"})
    assert item == ArticleInput(url="https://news.example.com/a", title="A")
    assert (item.guid, item.summary, item.topics, item.published_at, item.breaking) == (
        None,
        "",
        (),
        None,
        False,
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "A"}, "url", "url is required"),
        ({"url": "https://news.example.com/a"}, "title", "title is required"),
        ({"url": "https://news.example.com/a", "title": ""}, "title", "title is empty"),
        ({"url": "news.example.com/a", "title": "A"}, "url", "absolute http"),
        (
            {"url": "https://n.example.com/a", "title": "A", "published_at": "2026-11-25T07:30"},
            "published_at",
            "needs a UTC offset",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "published_at": "yesterday"},
            "published_at",
            "not ISO 8601",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "topics": "Interest rates"},
            "topics",
            "topics must be a list of strings",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "topics": ["ok", 3]},
            "topics",
            "topics must be a list of strings",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "breaking": "yes"},
            "breaking",
            "breaking must",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "author": 7},
            "author",
            "author must be a string",
        ),
        (
            {"url": "https://n.example.com/a", "title": "A", "titel": "B"},
            "titel",
            "unknown field.*titel",
        ),
    ],
)
def test_mapping_errors_say_what_is_wrong_and_where(
    data: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ArticleError, match=message) as error:
        article_input_from_mapping(data)
    assert error.value.field == field


def test_identity_is_the_guid_else_the_url() -> None:
    with_guid = article(guid="news.example.com/article/1")
    without_guid = article(guid=None)
    assert identity_of(with_guid) == "news.example.com/article/1"
    assert identity_of(without_guid) == "https://news.example.com/business/rates-hold"
    expected = hashlib.sha256(b"news.example.com/article/1").hexdigest()
    assert identity_hash(with_guid) == expected
    assert identity_hash(article(guid="  news.example.com/article/1 ")) == expected


# --- storing --------------------------------------------------------------------------------


def test_upsert_creates_articles_with_topics_by_slug(session: Session) -> None:
    result = upsert_articles(
        session,
        [article(topics=("Interest rates", "AI regulation")), article(guid="2", topics=())],
        source="https://news.example.com/feed.xml",
        now=NOW,
    )
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    stored = session.scalars(select(Article).order_by(Article.id)).all()
    assert [a.guid for a in stored] == ["news.example.com/article/1", "2"]
    first = stored[0]
    assert [topic.slug for topic in first.topics] == ["ai-regulation", "interest-rates"]
    assert first.source == "https://news.example.com/feed.xml"
    assert (first.ingested_at, first.updated_at) == (NOW, NOW)
    assert first.summary_html == "<p>The committee voted 6 to 3.</p>"
    assert first.published_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert result.articles == stored


def test_reingest_unchanged_writes_nothing_new(session: Session) -> None:
    upsert_articles(session, [article()], source=None, now=NOW)
    later = NOW + timedelta(hours=1)
    result = upsert_articles(session, [article()], source=None, now=later)
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert count_articles(session) == 1
    assert session.scalars(select(Article)).one().updated_at == NOW


def test_changed_title_updates_the_same_article_by_guid(session: Session) -> None:
    upsert_articles(session, [article()], source=None, now=NOW)
    later = NOW + timedelta(hours=1)
    changed = article(
        title="Central Bank holds rates, signals cut", url="https://news.example.com/b"
    )
    result = upsert_articles(session, [changed], source=None, now=later)
    assert (result.created, result.updated) == (0, 1)
    stored = session.scalars(select(Article)).one()
    assert (stored.title, stored.url, stored.updated_at) == (
        "Central Bank holds rates, signals cut",
        "https://news.example.com/b",
        later,
    )
    assert stored.ingested_at == NOW


def test_without_guid_the_url_is_the_identity(session: Session) -> None:
    upsert_articles(session, [article(guid=None)], source=None, now=NOW)
    result = upsert_articles(session, [article(guid=None, title="New")], source=None, now=NOW)
    assert (result.created, result.updated) == (0, 1)
    other_url = article(guid=None, url="https://news.example.com/other")
    assert upsert_articles(session, [other_url], source=None, now=NOW).created == 1
    assert count_articles(session) == 2


def test_changed_topics_replace_the_old_ones(session: Session) -> None:
    upsert_articles(session, [article(topics=("Interest rates",))], source=None, now=NOW)
    result = upsert_articles(session, [article(topics=("chip-shortage",))], source=None, now=NOW)
    assert result.updated == 1
    stored = session.scalars(select(Article)).one()
    assert [topic.slug for topic in stored.topics] == ["chip-shortage"]
    assert session.scalar(select(Topic.name).where(Topic.slug == "chip-shortage")) == (
        "Chip shortage"
    )


def test_an_undated_item_keeps_its_first_date(session: Session) -> None:
    upsert_articles(session, [article(published_at=None)], source=None, now=NOW)
    later = NOW + timedelta(hours=5)
    result = upsert_articles(session, [article(published_at=None)], source=None, now=later)
    assert result.unchanged == 1
    assert session.scalars(select(Article)).one().published_at == NOW


def test_breaking_is_never_lowered_by_a_feed(session: Session) -> None:
    upsert_articles(session, [article(breaking=True)], source=None, now=NOW)
    result = upsert_articles(session, [article(breaking=False)], source=None, now=NOW)
    assert result.unchanged == 1
    assert session.scalars(select(Article)).one().breaking is True


def test_a_repeated_item_in_one_batch_is_stored_once(session: Session) -> None:
    result = upsert_articles(session, [article(), article(title="dup")], source=None, now=NOW)
    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    assert result.articles[0] is result.articles[1]
    assert session.scalars(select(Article)).one().title == "Central Bank holds rates"


def test_published_time_in_another_zone_is_the_same_instant(session: Session) -> None:
    upsert_articles(session, [article()], source=None, now=NOW)
    same_instant = datetime(2026, 11, 25, 3, 0, tzinfo=timezone(timedelta(hours=-5)))
    result = upsert_articles(session, [article(published_at=same_instant)], source=None, now=NOW)
    assert result.unchanged == 1
