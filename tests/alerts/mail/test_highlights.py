"""Where a reader's keywords are highlighted in a headline."""

from __future__ import annotations

from alerts.mail.highlights import highlighted_html, highlighted_text, spans


def test_whole_words_are_marked_whatever_their_case_accents_and_ending() -> None:
    assert highlighted_text("Mortgage Rates rise", ["rate"]) == "Mortgage *Rates* rise"
    assert highlighted_text("ZURICH trams return", ["Zürich"]) == "*ZURICH* trams return"
    assert highlighted_text("Central  banks meet", ["Central Bank"]) == "*Central  banks* meet"


def test_a_word_inside_another_is_not_marked() -> None:
    assert spans("A fresh start", ["art"]) == [("A fresh start", False)]


def test_html_is_escaped_around_and_inside_the_marks() -> None:
    html = str(highlighted_html("<b>Central Bank</b> & co", ["central bank"]))
    assert html.startswith("&lt;b&gt;<mark style=")
    assert ">Central Bank</mark>&lt;/b&gt; &amp; co" in html
