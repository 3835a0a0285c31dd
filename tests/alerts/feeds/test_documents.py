"""What readers forgive in a feed's XML, repaired before parsing (alerts.feeds.documents)."""

from __future__ import annotations

import pytest

from alerts.errors import FeedError
from alerts.feeds.documents import readable_xml
from alerts.feeds.reading import parse_feed

DECLARED = b'<?xml version="1.0" encoding="utf-8"?>\n'


def _rss(title: bytes, declaration: bytes = DECLARED) -> bytes:
    return declaration + (
        b'<rss version="2.0"><channel><title>t</title><item><title>'
        + title
        + b"</title><link>https://news.example.com/a</link></item></channel></rss>"
    )


def test_leading_blank_lines_and_a_bom_are_dropped_and_counted_for_error_lines() -> None:
    readable = readable_xml(b"\xef\xbb\xbf\r\n\n  " + _rss(b"x"))
    assert readable.data.startswith(b"<?xml") and readable.lines_dropped == 2
    broken = b"\n\n" + DECLARED + b"<rss version='2.0'><channel>\n<item></channel></rss>"
    with pytest.raises(FeedError, match="line 5: mismatched tag"):  # the publisher's line 5
        parse_feed(broken, source="s")


def test_text_that_is_not_markup_keeps_its_leading_space() -> None:
    assert readable_xml(b"  just words").data == b"  just words"


def test_html_entities_become_characters_but_xml_and_declared_ones_stay() -> None:
    readable = readable_xml(_rss(b"Caf&eacute; &amp; &nbsp;bar &unknownthing;"))
    assert b"Caf&#233; &amp; &#160;bar &unknownthing;" in readable.data
    assert readable.notes == ("HTML entities read as characters",)
    declared = b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY eacute "e">]>\n' + _rss(
        b"Caf&eacute;", declaration=b""
    )
    assert b"Caf&eacute;" in readable_xml(declared).data
    cdata = readable_xml(_rss(b"<![CDATA[Caf&eacute;]]>"))
    assert b"<![CDATA[Caf&eacute;]]>" in cdata.data and cdata.notes == ()


def test_bytes_invalid_in_the_declared_charset_are_replaced_and_reported() -> None:
    (item,) = parse_feed(_rss(b"Caf\xc3\xa9 \xff \xe2\x82\xac"), source="s").articles
    assert item.title == "Caf\u00e9 \ufffd \u20ac"  # not read as Windows-1252
    readable = readable_xml(_rss(b"Caf\xc3\xa9 \xff"))
    assert readable.notes == ("bytes not valid utf-8 replaced with U+FFFD",)


def test_the_http_charset_wins_over_the_declaration_and_the_result_is_utf8() -> None:
    latin = _rss(b"Caf\xe9", declaration=b'<?xml version="1.0" encoding="utf-8"?>\n')
    readable = readable_xml(latin, content_type="application/rss+xml; charset=ISO-8859-1")
    assert readable.notes == ()
    assert readable.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert "Caf\u00e9".encode() in readable.data
    (item,) = parse_feed(latin, source="s", content_type="text/xml; charset=iso-8859-1").articles
    assert item.title == "Caf\u00e9"


def test_utf16_and_unknown_charsets_are_left_to_the_parser() -> None:
    utf16 = _rss(b"x", declaration=b'<?xml version="1.0" encoding="utf-16"?>\n').decode()
    data = utf16.encode("utf-16")
    assert readable_xml(data).data == data
    (item,) = parse_feed(data, source="s").articles
    assert item.title == "x"
    unknown = _rss(b"x", declaration=b'<?xml version="1.0" encoding="x-no-such"?>\n')
    assert readable_xml(unknown).data == unknown
