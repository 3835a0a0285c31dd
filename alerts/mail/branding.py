"""The publisher's brand on emails and reader pages: its colour, the text on it, its logo.

`BRAND_COLOR` paints the email masthead and the reader pages' header. Whatever colour a
publisher picks, the name and dateline on it must stay readable, so the text colour is not
a setting: `text_colour_on` picks white when white on the brand colour meets WCAG AA for
normal text (4.5:1), and the dark ink otherwise (a yellow such as #f5d90a gets dark text).
The contrast arithmetic is WCAG 2.x's relative luminance, written here as pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.config import Settings

WHITE = "#ffffff"
# The ink of body text in the light scheme: darkest of our colours, 16.6:1 on white.
DARK_INK = "#1d1d1b"
# WCAG 2.x AA: normal text, and large text (24 px, or 18.66 px bold).
AA_NORMAL = 4.5
AA_LARGE = 3.0


def parse_hex_colour(colour: str) -> tuple[int, int, int]:
    """(red, green, blue) from 0 to 255 of `#rgb` or `#rrggbb`; ValueError otherwise."""
    digits = colour.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    if len(digits) != 6 or not colour.strip().startswith("#"):
        raise ValueError(f"{colour!r} is not a colour written #rgb or #rrggbb")
    try:
        value = int(digits, 16)
    except ValueError:
        raise ValueError(f"{colour!r} is not a colour written #rgb or #rrggbb") from None
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def relative_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour (channels 0-255): 0 black, 1 white."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    """WCAG contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: str) -> str:
    """The text colour for `background` (#rgb or #rrggbb): white if it meets AA for normal
    text on it, else the dark ink.

    In one narrow band of mid tones (greys #777777 to #838383 and colours as bright) neither
    reaches 4.5:1; the ink still reaches 3:1, AA for the large masthead name, and the docs
    (email-compatibility.md) advise a darker or lighter colour there."""
    rgb = parse_hex_colour(background)
    if contrast_ratio(rgb, parse_hex_colour(WHITE)) >= AA_NORMAL:
        return WHITE
    return DARK_INK


@dataclass(frozen=True)
class Brand:
    """What a masthead is drawn with: the colour, the text on it and the optional logo."""

    colour: str
    text_colour: str
    logo_url: str | None
    logo_width: int
    logo_height: int


def brand_of(settings: Settings) -> Brand:
    """The brand of the settings' `BRAND_COLOR` and `SITE_LOGO_*` (validated at load)."""
    return Brand(
        colour=settings.brand_color,
        text_colour=text_colour_on(settings.brand_color),
        logo_url=settings.site_logo_url,
        logo_width=settings.site_logo_width,
        logo_height=settings.site_logo_height,
    )
