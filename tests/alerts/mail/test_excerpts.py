"""Headlines and summaries cut to fit an email: at a word boundary, tags balanced, no bidi
controls, and a summary of megabytes read only as far as it is shown."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest

from alerts.mail.excerpts import (
    ELLIPSIS,
    MAX_TITLE_CHARS,
    cut_summary,
    cut_title,
    strip_bidi_controls,
)
from alerts.mail.rendering import html_to_text


class _Balance(HTMLParser):
    """Whether every element opened is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.ok = self.ok and bool(self.stack) and self.stack.pop() == tag


def balanced(fragment: str) -> bool:
    parser = _Balance()
    parser.feed(fragment)
    parser.close()
    return parser.ok and not parser.stack


def test_a_short_summary_is_kept_as_written() -> None:
    summary = '<p>Rates <a href="https://news.example.com/a?x=1&amp;y=2">rise</a> again.</p>'
    assert cut_summary(summary, 300) == summary


def test_a_long_summary_is_cut_at_a_word_boundary_with_its_tags_closed() -> None:
    summary = (
        "<p>The council met on <strong>Tuesday evening to <em>discuss the budget "
        "for next year</em></strong> and <a href='https://news.example.com/b'>more</a>.</p>"
        "<ul><li>one</li><li>two</li></ul>"
    )
    cut = cut_summary(summary, 40)
    text = html_to_text(cut)
    assert text.endswith(ELLIPSIS)
    assert len(text) <= 41
    # The words kept are whole: the cut falls between two of them.
    assert text[:-1].rstrip() == "The council met on Tuesday evening to"
    assert balanced(cut), cut
    assert cut.endswith("</em></strong></p>")


def test_entities_stay_escaped_and_a_single_long_word_is_cut_where_the_limit_falls() -> None:
    cut = cut_summary("<p>Fish &amp; chips &lt;script&gt; " + "x" * 500 + "</p>", 60)
    assert "&amp; chips &lt;script&gt;" in cut
    assert "<script>" not in cut
    assert len(html_to_text(cut)) == 61 and balanced(cut)


def test_zero_characters_means_headlines_only() -> None:
    assert cut_summary("<p>Anything at all.</p>", 0) == ""


def test_a_summary_of_twenty_megabytes_costs_what_a_short_one_does() -> None:
    huge = "<p>" + "live blog update " * 1_250_000 + "</p>"
    assert len(huge) > 20_000_000
    started = time.perf_counter()
    cut = cut_summary(huge, 300)
    elapsed = time.perf_counter() - started
    assert len(html_to_text(cut)) <= 301 and balanced(cut)
    assert elapsed < 0.5, elapsed


def test_markup_without_text_is_read_only_so_far() -> None:
    # Thousands of links whose text is tiny: the markup read is bounded, not the text.
    links = "".join(f'<a href="https://news.example.com/{n}">{n}</a> ' for n in range(50_000))
    cut = cut_summary(f"<p>{links}</p>", 300)
    assert len(cut) < 8_000 and balanced(cut)
    assert cut.endswith(f"{ELLIPSIS}</p>") or f"{ELLIPSIS}</a></p>" in cut


@pytest.mark.parametrize(
    "control", ["\u202e", "\u202d", "\u202a", "\u202b", "\u202c", "\u2066", "\u2067", "\u2068",
                "\u2069", "\u200e", "\u200f", "\u061c"],
)  # fmt: skip
def test_bidi_controls_are_taken_out_of_headlines(control: str) -> None:
    title = f"Invoice {control}fdp.exe{control} attached"
    assert control not in cut_title(title)
    assert strip_bidi_controls(title) == "Invoice fdp.exe attached"


def test_a_long_headline_is_capped_at_a_word_boundary() -> None:
    title = "Minister says " + "very " * 400 + "long things"
    cut = cut_title(title)
    assert len(cut) <= MAX_TITLE_CHARS + 1 and cut.endswith(f"very{ELLIPSIS}")
    assert cut_title("  A short\n headline ") == "A short headline"
