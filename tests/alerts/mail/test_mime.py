"""Message bytes: a render encoded once, each reader's values spliced into the encoded body.

Whatever the readers' values (long links, non-ASCII, characters quoted-printable must
escape), the bytes decode to exactly that reader's personalised text and HTML, and every
line stays within the limits of RFC 5322 and RFC 2045.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.planning import plan_digests
from alerts.mail.digest import (
    DigestComposer,
    DigestSpec,
    digest_context,
    time_label,
    time_marker,
)
from alerts.mail.mime import EncodedEmail, build_message, encode_email
from alerts.mail.rendering import (
    ReaderMarkers,
    ReaderParts,
    RenderedEmail,
    RenderMarkers,
    default_renderer,
)
from alerts.models import DEFAULT_SUBJECT, Article, Cadence, Delivery, Edition
from tests.support.builders import articles, reader

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
MARKERS = (ReaderMarkers.email, ReaderMarkers.unsubscribe_url, ReaderMarkers.preferences_url)
LONG_UNICODE = ReaderParts(
    email="jörg.müller-lüdenscheidt@exämple.de",
    unsubscribe_url="https://nachrichten.example.de/abbestellen/größe-" + "ä" * 40 + "x" * 160
    + "?a=1&b=2&c=<3>",
    preferences_url="https://nachrichten.example.de/einstellungen/" + "=3D" * 30 + "%%20" + ". ",
)  # fmt: skip
PLAIN = ReaderParts(
    email="ada@example.com",
    unsubscribe_url="https://news.example.com/unsubscribe/abc",
    preferences_url="https://news.example.com/preferences/def",
)


def _message(data: bytes) -> EmailMessage:
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _decoded(data: bytes) -> tuple[str, str]:
    message = _message(data)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def _assert_wire_safe(data: bytes) -> None:
    """7-bit, CRLF only, headers within 998 characters, encoded body lines within 76."""
    assert data.isascii()
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    too_long = [line for line in body.split(b"\r\n") if len(line) > 76]
    assert too_long == []


def _build(email: RenderedEmail | EncodedEmail, who: ReaderParts) -> bytes:
    return build_message(
        sender="Example News <alerts@example.com>",
        recipient="reader@example.com",
        email=email,
        reader=who,
        message_id="<digest.1.abc@example.com>",
        date=NOW,
        headers=[("List-Unsubscribe", "<https://news.example.com/unsubscribe/abc>")],
    )


def _digest() -> RenderedEmail:
    """The real digest templates, CSS inlined, times filled for one zone, readers not yet."""
    stories = [
        Article(
            id=number,
            url=f"https://news.example.com/{number}/" + "long-slug-" * 12,
            title=f"Story {number}: Z\u00fcrich\u2019s \u201cquoted\u201d headline = news & more",
            summary_html="<p>" + "A summary sentence with an = sign and é. " * 8 + "</p>",
            section="World",
            published_at=NOW - timedelta(hours=number),
            updated_at=NOW,
        )
        for number in range(1, 6)
    ]
    edition = Edition(
        slug="daily", name="Daily briefing", cadence=Cadence.DAILY,
        subject_template=DEFAULT_SUBJECT, intro="", click_tracking=False, open_tracking=False,
        updated_at=NOW,
    )  # fmt: skip
    context = digest_context(
        stories,
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        spec=DigestSpec(edition, None, NOW.date()),
        topic_names=("Économie", "Chip shortage"),
    )
    rendered = default_renderer().render("digest", context)
    labels = {
        time_marker(story.id): time_label(story, timezone="Europe/Paris", local_date=NOW.date())
        for story in stories
    }
    return rendered.replace_all(labels)


@pytest.mark.parametrize("who", [LONG_UNICODE, PLAIN], ids=["long-unicode", "plain"])
def test_an_encoded_digest_decodes_to_each_readers_own_text_and_html(who: ReaderParts) -> None:
    rendered = _digest()
    encoded = encode_email(rendered)
    assert len(encoded.slots) >= 4  # the address and links, in both parts

    data = _build(encoded, who)

    _assert_wire_safe(data)
    expected = rendered.personalise(who)
    assert _decoded(data) == (expected.text, expected.html)
    assert "%%NEWSALERTS" not in data.decode("ascii")


def test_one_encoding_serves_many_readers_and_shares_its_bytes() -> None:
    encoded = encode_email(_digest())
    first, second = _build(encoded, PLAIN), _build(encoded, LONG_UNICODE)
    assert _decoded(first) != _decoded(second)
    # Everything but the reader's values is the render's own bytes, unchanged.
    for piece in encoded.pieces:
        assert piece in first and piece in second


def test_a_render_without_reader_markers_needs_no_reader() -> None:
    personalised = _digest().personalise(PLAIN)
    data = build_message(
        sender="alerts@example.com",
        recipient="ada@example.com",
        email=personalised,
        message_id="<x@example.com>",
        date=NOW,
        headers=[],
    )
    assert _decoded(data) == (personalised.text, personalised.html)


def test_a_render_with_reader_markers_refuses_to_go_out_unfilled() -> None:
    with pytest.raises(ValueError, match="no value for %%NEWSALERTS_READER"):
        build_message(
            sender="alerts@example.com",
            recipient="ada@example.com",
            email=_digest(),
            message_id="<x@example.com>",
            date=NOW,
            headers=[],
        )


def test_lines_ending_in_whitespace_stay_within_76_characters() -> None:
    # binascii.b2a_qp writes "=20"/"=09" past the 76th column on such lines.
    text = "x" * 74 + " \n" + "é" * 24 + "\t\n" + "y" * 75 + " "
    rendered = RenderedEmail(subject="s", text=text, html=text)
    data = _build(rendered, PLAIN)
    _assert_wire_safe(data)
    assert _decoded(data) == (text, text)


def test_a_marker_where_the_encoder_would_break_the_line() -> None:
    marks = RenderMarkers.fresh()
    text = "x" * 70 + marks.unsubscribe_url + "y" * 70 + marks.email + "\n"
    rendered = RenderedEmail(subject="s", text=text, html="<p>" + text + "</p>", markers=marks)
    data = _build(rendered, LONG_UNICODE)
    _assert_wire_safe(data)
    expected = rendered.personalise(LONG_UNICODE)
    assert _decoded(data) == (expected.text, expected.html)


_chars = st.characters(exclude_categories=("Cs",), exclude_characters="\r")
_no_breaks = st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")
_values = st.text(_no_breaks, max_size=120)


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(st.text(_chars, max_size=200), min_size=1, max_size=6),
    markers=st.lists(st.sampled_from(MARKERS), min_size=5, max_size=5),
    email=_values,
    unsubscribe=_values,
    preferences=_values,
)
def test_any_text_and_any_reader_values_survive_the_splice(
    segments: list[str], markers: list[str], email: str, unsubscribe: str, preferences: str
) -> None:
    marks = RenderMarkers.fresh()
    body = segments[0] + "".join(
        marks.of(m) + s for m, s in zip(markers, segments[1:], strict=False)
    )
    rendered = RenderedEmail(subject="s", text=body, html=body, markers=marks)
    who = ReaderParts(email=email, unsubscribe_url=unsubscribe, preferences_url=preferences)

    data = _build(encode_email(rendered), who)

    _assert_wire_safe(data)
    expected = rendered.personalise(who)
    assert _decoded(data) == (expected.text, expected.html)
    assert marks.nonce not in data.decode("ascii")


def test_composed_digests_share_one_encoding_across_zones_with_each_readers_times_and_links(
    session: Session, settings: Settings
) -> None:
    long_base = "https://news.example.com/" + "n%C3%BCtzliche-nachrichten/" * 6
    settings = settings.model_copy(update={"base_url": long_base.rstrip("/")})
    zones = {"ada@example.com": "Europe/Paris", "bram@example.com": "America/Los_Angeles"}
    for address, zone in zones.items():
        reader(session, address, topics=("Chip shortage",), timezone=zone)
    articles(session, NOW, ("chips", ("Chip shortage",), timedelta(hours=2)))  # 06:00 UTC
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    deliveries = session.scalars(select(Delivery).order_by(Delivery.id)).all()

    messages = [composer.compose(delivery).data for delivery in deliveries]

    boundaries = {re.search(rb'boundary="([^"]+)"', data).group(1) for data in messages}  # type: ignore[union-attr]
    assert len(boundaries) == 1  # one encoded body, spliced for each reader
    texts = {}
    for delivery, data in zip(deliveries, messages, strict=True):
        _assert_wire_safe(data)
        subscriber = delivery.subscriber
        links = composer.reader_parts(
            subscriber.id, subscriber.email, link_key=subscriber.link_key,
            edition=delivery.edition,  # a digest's unsubscribe link is its edition's
        )  # fmt: skip
        expected = composer.render_for(
            subscriber, delivery.article_ids, composer.spec_for(delivery)
        )
        texts[subscriber.email], _ = _decoded(data)
        assert _decoded(data) == (expected.text, expected.html)
        assert len(links.unsubscribe_url) > 200 and links.unsubscribe_url in expected.text
        assert _message(data)["List-Unsubscribe"] == f"<{links.unsubscribe_url}>"
    assert "News · 07:00" in texts["ada@example.com"]
    assert "News · Tue 22:00" in texts["bram@example.com"]  # the day before, locally


def test_a_marker_nobody_fills_stays_as_written() -> None:
    # A headline may contain anything, names of our values included: only the render's own
    # markers of named values are slots.
    marks = RenderMarkers.fresh()
    text = (
        f"Story about %%NEWSALERTS_SOMETHING%% and {ReaderMarkers.email} and "
        f"{marks.of('%%NEWSALERTS_SOMETHING%%')} for {marks.email}\n"
    )
    rendered = RenderedEmail(subject="s", text=text, html=text, markers=marks)
    encoded = encode_email(rendered, ["%%NEWSALERTS_TIME_1%%"])
    assert [slot.marker for slot in encoded.slots] == [ReaderMarkers.email] * 2
    data = _build(encoded, PLAIN)
    expected = rendered.personalise(PLAIN)
    assert _decoded(data) == (expected.text, expected.html)
    assert expected.text.startswith(
        f"Story about %%NEWSALERTS_SOMETHING%% and {ReaderMarkers.email} and "
        f"{marks.of('%%NEWSALERTS_SOMETHING%%')} for ada@example.com"
    )
