"""The brand: WCAG contrast as the guidelines define it, the text colour picked for any brand
colour (white only where it stays readable), and the masthead drawn with the colour and logo."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.mail.branding import (
    AA_NORMAL,
    DARK_INK,
    WHITE,
    brand_of,
    contrast_ratio,
    parse_hex_colour,
    relative_luminance,
    text_colour_on,
)
from tests.support.rendered import digest_html


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [
        ("#000000", "#ffffff", 21.0),
        ("#ffffff", "#ffffff", 1.0),
        ("#777777", "#ffffff", 4.48),  # the grey famous for just failing AA
        ("#767676", "#ffffff", 4.54),  # ... and its neighbour that passes
        ("#14213d", "#ffffff", 15.97),  # today's masthead
        ("#1f4fa3", "#ffffff", 7.76),  # link blue
        ("#f5d90a", "#ffffff", 1.42),
    ],
)
def test_contrast_ratio_is_wcags(first: str, second: str, ratio: float) -> None:
    assert contrast_ratio(parse_hex_colour(first), parse_hex_colour(second)) == pytest.approx(
        ratio, abs=0.01
    )
    # Symmetric: which colour is the text does not matter.
    assert contrast_ratio(parse_hex_colour(second), parse_hex_colour(first)) == pytest.approx(
        ratio, abs=0.01
    )


def test_relative_luminance_of_the_primaries() -> None:
    assert relative_luminance((255, 0, 0)) == pytest.approx(0.2126)
    assert relative_luminance((0, 255, 0)) == pytest.approx(0.7152)
    assert relative_luminance((0, 0, 255)) == pytest.approx(0.0722)


@pytest.mark.parametrize(
    ("brand", "text"),
    [
        ("#14213d", WHITE),  # navy, the default
        ("#8c1c13", WHITE),  # a newspaper red
        ("#767676", WHITE),  # white reaches 4.54:1, just enough
        ("#777777", DARK_INK),  # white reaches 4.48:1, not enough
        ("#f5d90a", DARK_INK),  # a yellow far too light for white text
        ("#fff", DARK_INK),
        ("#0A7", DARK_INK),  # #00aa77: white only 3.1:1
        ("#000", WHITE),
    ],
)
def test_text_on_a_brand_colour_is_white_only_where_white_meets_aa(brand: str, text: str) -> None:
    assert text_colour_on(brand) == text
    if text == WHITE or contrast_ratio(parse_hex_colour(brand), parse_hex_colour(WHITE)) < 3.5:
        ratio = contrast_ratio(parse_hex_colour(brand), parse_hex_colour(text))
        assert ratio >= AA_NORMAL, f"{text} on {brand}: {ratio:.2f}"


@pytest.mark.parametrize("written", ["14213d", "#12345", "#ggg", "navy", "", "#1234567"])
def test_a_colour_not_written_in_hex_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="#rgb or #rrggbb"):
        parse_hex_colour(written)


def test_the_digest_masthead_carries_the_brand_colour_and_logo(
    session: Session, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={
            "brand_color": "#f5d90a",
            "site_logo_url": "https://news.example.com/logo.png",
            "site_logo_width": 200,
            "site_logo_height": 48,
        }
    )
    html = digest_html(session, settings)
    masthead = html.partition('class="masthead"')[2].partition("</td>")[0]
    assert "background-color: #f5d90a" in masthead
    assert f"color: {DARK_INK}" in masthead
    assert (
        f'<img src="https://news.example.com/logo.png" alt="{settings.site_name}" '
        'width="200" height="48"'
    ) in masthead
    assert brand_of(settings).text_colour == DARK_INK


def test_without_a_logo_the_masthead_is_the_sites_name_on_navy(
    session: Session, settings: Settings
) -> None:
    html = digest_html(session, settings)
    masthead = html.partition('class="masthead"')[2].partition("</td>")[0]
    assert "background-color: #14213d" in masthead and "<img" not in masthead
    assert f">{settings.site_name}</a>" in masthead
