"""Reading RSS 2.0, Atom and JSON Feed into articles, and fetching feeds over HTTP."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from alerts.demo.run import SAMPLE_FEED
from alerts.errors import FeedError
from alerts.feeds.articles import ArticleInput, identity_of
from alerts.feeds.reading import (
    IMAGE_DROPPED,
    MAX_FEED_BYTES,
    UNREADABLE_DATE,
    USER_AGENT,
    FetchResult,
    FetchStatus,
    Skip,
    fetch_feed,
    parse_feed,
)

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Example News</title><link>https://news.example.com/</link><description>d</description>
    <item>
      <title>Rates   held &amp; <b>steady</b></title>
      <link>https://news.example.com/business/rates-held</link>
      <guid isPermaLink="false">news.example.com/article/7</guid>
      <description><![CDATA[<p>Voted 6 to 3. <a href="javascript:alert(1)" onclick="x()">x</a>
        <script>alert(2)</script><em>More</em> at
        <a href="https://news.example.com/rates">rates</a>.</p>]]></description>
      <category domain="section">Business</category>
      <category>Interest rates</category>
      <category>AI regulation</category>
      <dc:creator>Tomasz Quell</dc:creator>
      <pubDate>Wed, 25 Nov 2026 08:15:00 +0100</pubDate>
      <media:content url="https://static.news.example.com/rates.jpg" medium="image"/>
    </item>
    <item>
      <title>Ferry link reopens</title>
      <link>https://news.example.com/world/ferry</link>
      <enclosure url="https://static.news.example.com/ferry.png" type="image/png" length="1"/>
    </item>
  </channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
  <title>Example News</title><id>urn:example-news</id><updated>2026-11-25T08:00:00Z</updated>
  <entry>
    <id>tag:news.example.com,2026:chips</id>
    <title type="html">Chip shortage idles &lt;em&gt;two&lt;/em&gt; plants</title>
    <link rel="alternate" href="https://news.example.com/tech/chips"/>
    <published>2026-11-25T02:00:00-05:00</published>
    <updated>2026-11-25T04:00:00-05:00</updated>
    <author><name>Dev Haldane</name></author>
    <category term="Tech" scheme="section"/>
    <category term="chip-shortage" label="Chip shortage"/>
    <summary type="html">&lt;p&gt;Production pauses for ten days.&lt;/p&gt;</summary>
    <media:thumbnail url="https://static.news.example.com/chips.jpg"/>
  </entry>
  <entry>
    <id>tag:news.example.com,2026:updated-only</id>
    <title>Only updated</title>
    <link href="https://news.example.com/science/updated"/>
    <updated>2026-11-24T23:30:00+00:00</updated>
    <content type="html">&lt;p&gt;From the content.&lt;/p&gt;</content>
  </entry>
</feed>
"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Example News",
    "items": [
        {
            "id": "news.example.com/article/9",
            "url": "https://news.example.com/sport/final-venue",
            "title": "Stadium confirmed as Champions Cup final venue",
            "content_html": '<p onmouseover="x()">The 52,000-seat ground won.</p>',
            "image": "https://static.news.example.com/stadium.jpg",
            "date_published": "2026-11-24T18:00:00+00:00",
            "authors": [{"name": "Jonah Ferreira-Wilde"}],
            "tags": ["Champions Cup", "Harbour City election"],
            "_newsalerts": {"section": "Sport"},
        },
        {
            "id": 10,
            "url": "https://news.example.com/world/summit",
            "title": "Summit agrees water deal",
            "summary": "Caps on <abstraction> for five years",
        },
    ],
}


def parse_text(text: str, source: str = "test-feed") -> list[ArticleInput]:
    return parse_feed(text.encode("utf-8"), source=source).articles


def test_rss_item_maps_every_field() -> None:
    first, second = parse_text(RSS)
    assert first.guid == "news.example.com/article/7"
    assert first.url == "https://news.example.com/business/rates-held"
    assert first.title == "Rates held & steady"
    assert first.section == "Business"
    assert first.topics == ("Interest rates", "AI regulation")
    assert first.topic_slugs == ["interest-rates", "ai-regulation"]
    assert first.author == "Tomasz Quell"
    assert first.image_url == "https://static.news.example.com/rates.jpg"
    assert first.published_at == datetime(2026, 11, 25, 7, 15, tzinfo=UTC)
    assert "<script>" not in first.summary and "alert" not in first.summary
    assert "onclick" not in first.summary and "javascript:" not in first.summary
    assert "<em>More</em>" in first.summary
    assert '<a href="https://news.example.com/rates" rel="noopener noreferrer">' in first.summary
    assert second.guid is None
    assert second.published_at is None
    assert second.section is None and second.topics == ()
    assert second.image_url == "https://static.news.example.com/ferry.png"


def test_atom_entry_maps_every_field() -> None:
    chips, updated_only = parse_text(ATOM)
    assert chips.guid == "tag:news.example.com,2026:chips"
    assert chips.url == "https://news.example.com/tech/chips"
    assert chips.title == "Chip shortage idles two plants"
    assert chips.section == "Tech"
    assert chips.topic_slugs == ["chip-shortage"]
    assert chips.author == "Dev Haldane"
    assert chips.summary == "<p>Production pauses for ten days.</p>"
    assert chips.image_url == "https://static.news.example.com/chips.jpg"
    assert chips.published_at == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)  # published, not updated
    assert updated_only.published_at == datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert updated_only.summary == "<p>From the content.</p>"


def test_json_feed_item_maps_every_field() -> None:
    venue, summit = parse_feed(json.dumps(JSON_FEED).encode(), source="json").articles
    assert venue.guid == "news.example.com/article/9"
    assert venue.title == "Stadium confirmed as Champions Cup final venue"
    assert venue.section == "Sport"
    assert venue.topic_slugs == ["champions-cup", "harbour-city-election"]
    assert venue.author == "Jonah Ferreira-Wilde"
    assert venue.image_url == "https://static.news.example.com/stadium.jpg"
    assert venue.summary == "<p>The 52,000-seat ground won.</p>"
    assert venue.published_at == datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert summit.guid == "10"
    assert summit.summary == "Caps on &lt;abstraction&gt; for five years"  # plain text, escaped
    assert summit.published_at is None


def test_json_feed_version_1_author_object() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1",
        "items": [
            {
                "id": "a",
                "url": "https://news.example.com/a",
                "title": "A",
                "author": {"name": "Ruth Okonkwo-Hale"},
                "date_published": "2026-11-25T10:00:00+02:00",
            }
        ],
    }
    (item,) = parse_feed(json.dumps(feed).encode(), source="json").articles
    assert item.author == "Ruth Okonkwo-Hale"
    assert item.published_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_an_empty_feed_is_not_an_error() -> None:
    empty = '<rss version="2.0"><channel><title>Quiet day</title></channel></rss>'
    assert parse_text(empty) == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ('<rss version="2.0"><channel>\n<item>\n<title>x</title </item>', r"line 3: not well"),
        (
            '<rss version="2.0"><channel><item><title>a</title><link>https://x.test/</link></item>',
            r"line 1: no element found",
        ),
        ("<html><body><p>Welcome</p></body></html>", "not an RSS, Atom or JSON feed"),
        ("Just some words", "not an RSS, Atom or JSON feed"),
        ('{"items": []}', "not a JSON Feed"),
        ('{"version": "https://jsonfeed.org/version/2", "items": []}', "unsupported JSON Feed"),
        ('{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        ('{"version": "https://jsonfeed.org/version/1.1"}', "no list of items"),
    ],
)
def test_malformed_documents_raise_feed_error_naming_the_source(data: str, reason: str) -> None:
    with pytest.raises(FeedError, match=reason) as caught:
        parse_text(data, source="https://news.example.com/feed.xml")
    assert caught.value.source == "https://news.example.com/feed.xml"
    assert str(caught.value).startswith("https://news.example.com/feed.xml: ")


def test_an_item_without_a_link_is_skipped_and_the_rest_kept() -> None:
    bad = RSS.replace("<link>https://news.example.com/world/ferry</link>", "")
    feed = parse_feed(bad.encode(), source="site")
    assert [item.title for item in feed.articles] == ["Rates held & steady"]
    assert feed.skipped == [Skip(2, "no link", "'Ferry link reopens': has no link")]


def test_an_item_without_a_title_takes_the_first_words_of_its_description() -> None:
    no_title = RSS.replace(
        "<title>Ferry link reopens</title>", "<description>Sailings resume.</description>"
    )
    feed = parse_feed(no_title.encode(), source="site")
    assert feed.skipped == []
    assert feed.articles[1].title == "Sailings resume."
    long = (
        "<rss version='2.0'><channel><title>t</title><item><description>"
        + "Sky watchers across the harbour will see a partial eclipse of the Sun on Saturday "
        + "morning, weather permitting</description>"
        + "<guid>https://news.example.com/2026/eclipse</guid></item></channel></rss>"
    )
    (item,) = parse_text(long)
    assert item.title == "Sky watchers across the harbour will see a partial eclipse of the Sun on…"
    assert item.url == "https://news.example.com/2026/eclipse"  # a permalink GUID is the link
    empty = RSS.replace("<title>Ferry link reopens</title>", "")
    assert parse_feed(empty.encode(), source="s").skipped[0].reason == "no title or description"


def test_a_relative_link_is_resolved_against_the_base_or_skipped_without_one() -> None:
    relative = RSS.replace("https://news.example.com/world/ferry", "../world/ferry")
    feed = parse_feed(relative.encode(), source="s")
    assert [skip.reason for skip in feed.skipped] == ["relative link"]
    based = parse_feed(relative.encode(), source="s", base="https://news.example.com/rss/all.xml")
    assert based.articles[1].url == "https://news.example.com/world/ferry"
    xml_base = relative.replace("<item>", '<item xml:base="https://other.example.com/a/b/">')
    assert parse_text(xml_base)[1].url == "https://other.example.com/a/world/ferry"


def test_an_items_identity_does_not_depend_on_the_url_the_feed_was_read_from() -> None:
    # A GUID that is not a URL ("ferry-2026") must not be resolved like a link: read from
    # http, then from https after the site moved, or from a file, it is the same story.
    guid = RSS.replace(
        "<title>Ferry link reopens</title>",
        "<title>Ferry link reopens</title><guid>ferry-2026</guid>",
        1,
    )
    reads = [
        parse_feed(guid.encode(), source="s", base=base).articles
        for base in (None, "http://news.example.com/rss", "https://news.example.com/feeds/all")
    ]
    assert {identity_of(articles[1]) for articles in reads} == {identity_of(reads[0][1])}
    assert reads[2][1].guid == "ferry-2026"


def test_relative_links_in_summaries_and_images_resolve_against_the_base() -> None:
    relative = RSS.replace(
        "<title>Ferry link reopens</title>",
        "<title>Ferry link reopens</title><description>&lt;p&gt;Read &lt;a"
        ' href="/timetables"&gt;the timetable&lt;/a&gt;.&lt;/p&gt;</description>'
        '<media:thumbnail url="/img/ferry.jpg"/>',
        1,
    )
    based = parse_feed(relative.encode(), source="s", base="https://news.example.com/rss/all.xml")
    ferry = based.articles[1]
    assert 'href="https://news.example.com/timetables"' in ferry.summary
    assert ferry.image_url == "https://news.example.com/img/ferry.jpg"
    alone = parse_feed(relative.encode(), source="s").articles[1]
    assert "href" not in alone.summary and "the timetable" in alone.summary
    assert alone.image_url == "https://static.news.example.com/ferry.png"  # the next one


MEDIA_RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Example News</title><link>https://news.example.com/</link><description>d</description>
    <item>
      <title>Harbour reopens</title>
      <link>https://news.example.com/harbour</link>
      <description>Ships are back.</description>
      <media:content url="https://img.example.com/harbour.jpg" medium="image"
                     width="1200" height="675">
        <media:title>Harbour</media:title>
        <media:description type="html">Boats at &lt;b&gt;dusk&lt;/b&gt; &amp; the pier
        </media:description>
      </media:content>
    </item>
    <item>
      <title>Ferry timetable</title>
      <link>https://news.example.com/ferry</link>
      <media:thumbnail url="https://img.example.com/ferry.jpg" width="640" height="100%"/>
      <media:title>The ferry at the quay</media:title>
    </item>
    <item>
      <title>Old camera</title>
      <link>https://news.example.com/camera</link>
      <media:content url="http://img.example.com/camera.jpg" medium="image"/>
    </item>
    <item>
      <title>Two pictures</title>
      <link>https://news.example.com/two</link>
      <media:content url="http://img.example.com/plain.jpg" medium="image"/>
      <media:thumbnail url="https://img.example.com/safe.jpg"/>
    </item>
    <item>
      <title>Signed in</title>
      <link>https://news.example.com/signed</link>
      <enclosure url="https://editor:secret@img.example.com/a.jpg" type="image/jpeg" length="1"/>
    </item>
  </channel>
</rss>
"""


def test_an_image_keeps_its_description_and_the_size_its_element_states() -> None:
    feed = parse_feed(MEDIA_RSS.encode(), source="media")
    harbour, ferry, _, two, _ = feed.articles
    assert harbour.image_url == "https://img.example.com/harbour.jpg"
    assert harbour.image_alt == "Boats at dusk & the pier"  # the description, as plain text
    assert (harbour.image_width, harbour.image_height) == (1200, 675)
    assert harbour.summary == "Ships are back."
    # A title when there is no description; no size when one side is not in pixels.
    assert ferry.image_alt == "The ferry at the quay"
    assert (ferry.image_width, ferry.image_height) == (None, None)
    assert two.image_url == "https://img.example.com/safe.jpg"  # the https one, not the first
    assert two.image_alt is None


def test_an_image_that_is_not_https_is_dropped_and_its_item_kept_with_a_note() -> None:
    feed = parse_feed(MEDIA_RSS.encode(), source="media")
    titles = [article.title for article in feed.articles]
    assert titles == [
        "Harbour reopens", "Ferry timetable", "Old camera", "Two pictures", "Signed in"
    ]  # fmt: skip
    camera, signed = feed.articles[2], feed.articles[4]
    assert camera.image_url is None and signed.image_url is None
    assert feed.notes.count(IMAGE_DROPPED) == 2  # not for the item that had an https one
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {"id": "1", "url": "https://news.example.com/1", "title": "Plain",
             "image": "http://img.example.com/1.jpg"},
            {"id": "2", "url": "https://news.example.com/2", "title": "Banner",
             "image": "http://img.example.com/2.jpg", "banner_image": "https://img.example.com/2b.jpg"},
        ],
    }  # fmt: skip
    parsed = parse_feed(json.dumps(feed).encode(), source="json")
    plain, banner = parsed.articles
    assert plain.image_url is None
    assert banner.image_url == "https://img.example.com/2b.jpg"
    assert banner.image_alt is None  # JSON Feed states none: the digest uses the headline
    assert parsed.notes == [IMAGE_DROPPED]


def test_json_item_without_url_is_skipped() -> None:
    feed = json.loads(json.dumps(JSON_FEED))
    del feed["items"][1]["url"]
    parsed = parse_feed(json.dumps(feed).encode(), source="json")
    assert [item.guid for item in parsed.articles] == ["news.example.com/article/9"]
    assert parsed.skipped == [Skip(2, "no link", "'Summit agrees water deal': has no link")]
    feed["items"][1]["url"] = "/world/summit"
    based = parse_feed(json.dumps(feed).encode(), source="j", base="https://news.example.com/f")
    assert based.articles[1].url == "https://news.example.com/world/summit"


def test_an_unreadable_date_falls_back_to_first_seen_and_says_so() -> None:
    bad = RSS.replace("Wed, 25 Nov 2026 08:15:00 +0100", "Seg, 24 Set 2018 10:00:00 +0000")
    feed = parse_feed(bad.encode(), source="s")
    assert len(feed.articles) == 2
    assert feed.articles[0].published_at is None  # the store uses the time it first sees it
    assert feed.notes == [UNREADABLE_DATE]
    data = json.loads(json.dumps(JSON_FEED))
    data["items"][0]["date_published"] = "2026-11-24T18:00:00"
    parsed = parse_feed(json.dumps(data).encode(), source="json")
    assert parsed.articles[0].published_at is None
    assert parsed.notes == [UNREADABLE_DATE]


def test_a_field_no_column_can_hold_skips_the_item_with_that_fields_name() -> None:
    feed = json.loads(json.dumps(JSON_FEED))
    feed["items"][0]["title"] = "Null\u0000byte"
    parsed = parse_feed(json.dumps(feed).encode(), source="json")
    assert [skip.reason for skip in parsed.skipped] == ["bad title"]
    assert len(parsed.articles) == 1


def test_duplicate_guids_keep_the_first_and_report_the_others() -> None:
    twice = RSS.replace(
        "</channel>",
        "<item><title>Rates held (corrected)</title><link>https://news.example.com/b2</link>"
        "<guid>news.example.com/article/7</guid></item></channel>",
    )
    feed = parse_feed(twice.encode(), source="s")
    assert [item.title for item in feed.articles] == ["Rates held & steady", "Ferry link reopens"]
    assert feed.skipped == [Skip(3, "duplicate guid", "'Rates held (corrected)': same as item 1")]


def test_json_nested_too_deeply_is_a_clear_error() -> None:
    deep = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000
    deep += b"]" * 100_000 + b"}"
    with pytest.raises(FeedError, match="nested too deeply"):
        parse_feed(deep, source="deep.json")


def test_json_is_recognised_by_content_type_even_if_not_an_object() -> None:
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(b"[1, 2]", source="api", content_type="application/feed+json")


def test_bundled_sample_feed() -> None:
    items = parse_feed(SAMPLE_FEED.read_bytes(), source="sample").articles
    assert len(items) == 40
    assert len({item.url for item in items}) == 40
    sections = Counter(item.section for item in items)
    assert set(sections) == {"Business", "Politics", "Tech", "Science", "Sport", "World"}
    topics = Counter(slug for item in items for slug in item.topic_slugs)
    assert set(topics) == {
        "harbour-city-election",
        "northern-rail-strike",
        "battery-gigafactory",
        "drought-emergency",
        "chip-shortage",
        "champions-cup",
        "interest-rates",
        "ai-regulation",
    }
    assert all(1 <= len(item.topics) <= 2 for item in items)
    end = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    times = [item.published_at for item in items if item.published_at is not None]
    assert len(times) == 40
    assert all(end - timedelta(hours=30) <= time < end for time in times)
    assert 1 <= sum(time < end - timedelta(hours=24) for time in times) <= 6
    assert all("<script" not in item.summary and "onclick" not in item.summary for item in items)
    assert any("é" in (item.author or "") for item in items)
    assert any("€" in item.title for item in items)


# --- fetching (in-memory transport; tests/alerts/test_ingest.py uses a real server) ----------


def fetch_with(handler: httpx.MockTransport, **options: object) -> FetchResult:
    with httpx.Client(transport=handler) as client:
        return fetch_feed("https://news.example.com/feed.xml", client=client, **options)  # type: ignore[arg-type]


def test_fetch_sends_user_agent_and_validators_and_returns_new_ones() -> None:
    seen: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            content=RSS.encode(),
            headers={
                "ETag": '"v2"',
                "Last-Modified": "Wed, 25 Nov 2026 08:00:00 GMT",
                "Content-Type": "application/rss+xml",
            },
        )

    result = fetch_with(
        httpx.MockTransport(respond), etag='"v1"', last_modified="Tue, 24 Nov 2026 08:00:00 GMT"
    )
    assert seen[0].headers["User-Agent"] == USER_AGENT
    assert seen[0].headers["If-None-Match"] == '"v1"'
    assert seen[0].headers["If-Modified-Since"] == "Tue, 24 Nov 2026 08:00:00 GMT"
    assert result == FetchResult(
        FetchStatus.FETCHED,
        body=RSS.encode(),
        url="https://news.example.com/feed.xml",
        etag='"v2"',
        last_modified="Wed, 25 Nov 2026 08:00:00 GMT",
        content_type="application/rss+xml",
    )


def test_fetch_follows_redirects() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feed.xml":
            return httpx.Response(301, headers={"Location": "https://news.example.com/rss"})
        return httpx.Response(200, content=b"<rss/>")

    fetched = fetch_with(httpx.MockTransport(respond))
    assert fetched.body == b"<rss/>"
    assert fetched.url == "https://news.example.com/rss"  # the base of its relative links


def test_fetch_refuses_an_oversized_body() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * (MAX_FEED_BYTES + 1))

    with pytest.raises(FeedError, match="larger than 10 MB"):
        fetch_with(httpx.MockTransport(respond))


def test_fetch_server_error_is_a_feed_error() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with pytest.raises(FeedError, match=r"https://news\.example\.com/feed\.xml: HTTP 503"):
        fetch_with(httpx.MockTransport(respond))


def test_fetch_of_an_unresolvable_host_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="cannot connect") as caught:
        fetch_feed("http://no-such-host.invalid/feed.xml", timeout=5)
    assert caught.value.source == "http://no-such-host.invalid/feed.xml"


def test_untyped_media_content_counts_as_an_image_but_video_does_not() -> None:
    untyped = RSS.replace(' medium="image"', "")
    assert parse_text(untyped)[0].image_url == "https://static.news.example.com/rates.jpg"
    video = RSS.replace(' medium="image"', ' medium="video"')
    assert parse_text(video)[0].image_url is None
