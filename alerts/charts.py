"""Charts drawn on the server as SVG: no script, no JavaScript library, nothing from a CDN.

Two kinds, one palette and one axis ceiling:

- `minute_chart`, the console's: messages sent (blue) and failed (red, stacked on top) in
  each minute of the last 24 hours, and the failure rate of each half hour (orange line,
  right-hand axis). Times are UTC.
- `bar_chart`, the results pages': a small vertical bar chart of (label, value) pairs.

Each chart names itself for screen readers (`role="img"`, a title and a description);
the results pages put the same numbers in a table next to theirs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from markupsafe import Markup, escape

SENT, FAILED, RATE, INK, GRID = "#1f4fa3", "#a4262c", "#b35c00", "#4a4a45", "#d0d0ca"
BAR, MUTED = SENT, "#5b5b55"
Scale = Callable[[float], float]


def nice_ceiling(value: float, steps: Sequence[float] = (1, 2, 2.5, 5)) -> float:
    """The smallest of `steps` x 10^n at or above `value` (1 for nothing): an axis top.

    Each step lies in [1, 10); the next power of ten closes every decade.
    """
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (*steps, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


# -- the console's minute chart ------------------------------------------------------------

RATE_MINUTES = 30
LEFT, RIGHT, TOP, BOTTOM = 60, 64, 34, 30


class MinuteCounts(Protocol):
    """Messages sent and failed in each minute of a window; index 0 is `start`
    (alerts.ops.console.MinuteSeries is one)."""

    @property
    def start(self) -> datetime: ...
    @property
    def sent(self) -> Sequence[int]: ...
    @property
    def failed(self) -> Sequence[int]: ...
    @property
    def total_sent(self) -> int: ...
    @property
    def total_failed(self) -> int: ...
    @property
    def failure_rate(self) -> float: ...


def minute_chart(series: MinuteCounts, *, width: int = 960, height: int = 260) -> str:
    """The chart as SVG text, for a page to embed or a view to serve as image/svg+xml."""
    minutes = len(series.sent)
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    base = TOP + plot_h
    stacked = [s + f for s, f in zip(series.sent, series.failed, strict=True)]
    top = nice_ceiling(max(stacked, default=0))
    rates = _rates(series)
    rate_top = max(nice_ceiling(max((r for r in rates if r is not None), default=0) * 100), 1.0)

    def x(minute: float) -> float:
        return LEFT + minute * plot_w / minutes

    def y(count: float) -> float:
        return base - count * plot_h / top

    summary = (
        f"{series.total_sent:,} sent and {series.total_failed:,} failed in the last 24 hours "
        f"(failure rate {series.failure_rate * 100:.2f} %), peak {max(stacked, default=0):,} "
        "a minute"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        'width="100%" role="img" aria-labelledby="t d" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" '
        'font-size="12">',
        '<title id="t">Messages a minute, last 24 hours (UTC)</title>',
        f'<desc id="d">{escape(summary)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for step in range(5):  # horizontal grid, left axis (messages a minute), right (rate)
        value = top * step / 4
        level = y(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{level:.1f}" y2="{level:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{level + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{_label(value)}</text>"
            f'<text x="{LEFT + plot_w + 6}" y="{level + 4:.1f}" fill="{RATE}">'
            f"{rate_top * step / 4:g} %</text>"
        )
    for minute in range(minutes):  # an hour mark every 3 hours
        moment = series.start + timedelta(minutes=minute)
        if moment.minute == 0 and moment.hour % 3 == 0:
            parts.append(
                f'<line x1="{x(minute):.1f}" x2="{x(minute):.1f}" y1="{base}" '
                f'y2="{base + 5}" stroke="{INK}"/>'
                f'<text x="{x(minute):.1f}" y="{base + 18}" text-anchor="middle" '
                f'fill="{INK}">{moment:%H:%M}</text>'
            )
    parts.append(_area(stacked, x, y, base, FAILED))
    parts.append(_area(series.sent, x, y, base, SENT))
    parts.append(_rate_line(rates, x, lambda r: base - r * 100 * plot_h / rate_top))
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{base}" y2="{base}" stroke="{INK}"/>')
    parts.append(_legend(LEFT, 16))
    if not any(stacked):
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
            f'font-size="15" fill="{INK}">No messages in the last 24 hours</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _rates(series: MinuteCounts) -> list[float | None]:
    """The failure rate of each RATE_MINUTES window (None where nothing was attempted)."""
    rates: list[float | None] = []
    for start in range(0, len(series.sent), RATE_MINUTES):
        sent = sum(series.sent[start : start + RATE_MINUTES])
        failed = sum(series.failed[start : start + RATE_MINUTES])
        rates.append(failed / (sent + failed) if sent + failed else None)
    return rates


def _area(values: Sequence[int], x: Scale, y: Scale, base: float, colour: str) -> str:
    if not any(values):
        return ""
    points = [f"M{x(0):.1f},{base}"]
    for minute, value in enumerate(values):
        level = y(value)
        points.append(f"L{x(minute):.1f},{level:.1f}L{x(minute + 1):.1f},{level:.1f}")
    points.append(f"L{x(len(values)):.1f},{base}Z")
    return f'<path d="{"".join(points)}" fill="{colour}"/>'


def _rate_line(rates: list[float | None], x: Scale, y: Scale) -> str:
    segments: list[list[str]] = []
    current: list[str] = []
    for index, rate in enumerate(rates):
        if rate is None:
            if current:
                segments.append(current)
            current = []
            continue
        current.append(f"{x((index + 0.5) * RATE_MINUTES):.1f},{y(rate):.1f}")
    if current:
        segments.append(current)
    return "".join(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{RATE}" '
        'stroke-width="2" stroke-dasharray="5 3"/>'
        + (
            f'<circle cx="{points[0].split(",")[0]}" cy="{points[0].split(",")[1]}" r="2.5" '
            f'fill="{RATE}"/>'
            if len(points) == 1
            else ""
        )
        for points in segments
    )


def _legend(left: float, baseline: float) -> str:
    items = [("sent", SENT, False), ("failed", FAILED, False), ("failure rate (½ h)", RATE, True)]
    out, offset = [], left
    for name, colour, dashed in items:
        if dashed:
            out.append(
                f'<line x1="{offset}" x2="{offset + 18}" y1="{baseline - 4}" '
                f'y2="{baseline - 4}" stroke="{colour}" stroke-width="2" '
                'stroke-dasharray="5 3"/>'
            )
        else:
            out.append(
                f'<rect x="{offset}" y="{baseline - 10}" width="12" height="12" fill="{colour}"/>'
            )
        out.append(f'<text x="{offset + 22}" y="{baseline}" fill="{INK}">{name}</text>')
        offset += 22 + 7.5 * len(name) + 18
    return "".join(out)


def _label(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


# -- the results pages' bar charts ---------------------------------------------------------

_BAR_LEFT, _BAR_RIGHT, _BAR_TOP, _BAR_BOTTOM = 34, 8, 20, 30


def _bar_ceiling(value: float) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100, ... at least `value` (the axis top; its
    half, the middle grid line, is a whole number too)."""
    return int(max(nice_ceiling(value, steps=(1, 2, 4)), 2))


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    description: str,
    label_every: int = 1,
    width: int = 480,
    height: int = 210,
) -> Markup:
    """A vertical bar chart of (label, value) pairs; every `label_every`-th bar counting
    back from the last is labelled on the axis, and values are written on the bars when
    there are few of them."""
    key = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"
    top = _bar_ceiling(max([value for _, value in bars] + [1]))
    plot_width = width - _BAR_LEFT - _BAR_RIGHT
    plot_height = height - _BAR_TOP - _BAR_BOTTOM
    slot = plot_width / max(len(bars), 1)
    bar_width = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-labelledby="{key}-title {key}-desc">',
        f'<title id="{key}-title">{escape(title)}</title>',
        f'<desc id="{key}-desc">{escape(description)}</desc>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _BAR_TOP + plot_height * (1 - fraction)
        parts.append(
            f'<line x1="{_BAR_LEFT}" y1="{y:.1f}" x2="{width - _BAR_RIGHT}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
        )
        amount = top * fraction
        text = f"{amount:g}" if amount != int(amount) else f"{int(amount)}"
        parts.append(
            f'<text x="{_BAR_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{MUTED}">{text}</text>'
        )
    for index, (label, value) in enumerate(bars):
        x = _BAR_LEFT + slot * index + (slot - bar_width) / 2
        bar_height = plot_height * value / top
        y = _BAR_TOP + plot_height - bar_height
        centre = x + bar_width / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
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
                f'<text x="{at:.1f}" y="{height - _BAR_BOTTOM + 16}" text-anchor="{anchor}" '
                f'font-size="12" fill="{MUTED}">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
