"""Small bar charts drawn on the server as inline SVG: no script, no library, no CDN.

Each chart names itself for screen readers (`role="img"`, a title and a description);
pages put the same numbers in a table next to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 34, 8, 20, 30
BAR = "#1f4fa3"
MUTED = "#5b5b55"
GRID = "#d0d0ca"


def _nice_ceiling(value: float) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100, ... at least `value` (the axis top; its
    half, the middle grid line, is a whole number too)."""
    step = 1
    while True:
        for factor in (2, 4, 10):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    description: str,
    label_every: int = 1,
) -> Markup:
    """A vertical bar chart of (label, value) pairs; every `label_every`-th bar counting
    back from the last is labelled on the axis, and values are written on the bars when
    there are few of them."""
    key = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"
    top = _nice_ceiling(max([value for _, value in bars] + [1]))
    plot_width, plot_height = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_width / max(len(bars), 1)
    bar_width = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="{key}-title {key}-desc">',
        f'<title id="{key}-title">{escape(title)}</title>',
        f'<desc id="{key}-desc">{escape(description)}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_height * (1 - fraction)
        parts.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        amount = top * fraction
        text = f"{amount:g}" if amount != int(amount) else f"{int(amount)}"
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{MUTED}">{text}</text>'
        )
    for index, (label, value) in enumerate(bars):
        x = _LEFT + slot * index + (slot - bar_width) / 2
        height = plot_height * value / top
        y = _TOP + plot_height - height
        centre = x + bar_width / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}" '
            f'fill="{BAR}"><title>{escape(label)}: {value:g}</title></rect>'
        )
        if len(bars) <= 16 and value:
            parts.append(
                f'<text x="{centre:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="12" fill="#1d1d1b">{value:g}</text>'
            )
        if (len(bars) - 1 - index) % label_every == 0:  # the latest bar is labelled
            # A label under a narrow last bar would run off the edge: end it there.
            last = index == len(bars) - 1 and bar_width < 30
            anchor, at = ("end", x + bar_width) if last else ("middle", centre)
            parts.append(
                f'<text x="{at:.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="{anchor}" '
                f'font-size="12" fill="{MUTED}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
