"""Server-rendered SVG charts: no script, no external asset, readable by screen readers
(`role="img"`, `<title>`, `<desc>`, a `<title>` on every mark) and printable. Every mark
can carry a link down to the items behind it.

Functions return markup strings; every piece of text they embed is escaped here."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

# Okabe-Ito colours (distinguishable with colour-blindness), fixed for the usual ecosystems so
# a colour means the same ecosystem on every page.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C6D1F",
           "#000000")
KNOWN_COLOURS = {
    "russia-state": "#D55E00", "russia": "#E69F00", "china-state": "#CC79A7",
    "china": "#8C6D1F", "ukraine": "#0072B2", "west": "#009E73", "us": "#56B4E9",
    "unknown": "#767676",
}


def colour(series: str) -> str:
    """A stable colour per ecosystem (or any series name)."""
    if series in KNOWN_COLOURS:
        return KNOWN_COLOURS[series]
    digest = hashlib.sha1(series.encode("utf-8")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _attr(value: object) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True)
class Point:
    period: date  # start of the period
    series: str
    value: float


@dataclass(frozen=True)
class Marker:
    at: date
    series: str
    label: str
    href: str | None = None


def period_start(value: date | datetime, unit: str) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def next_period(day: date, unit: str) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def fill_periods(first: date, last: date, unit: str, cap: int = 2000) -> list[date]:
    """Every period from `first` to `last` (so time runs evenly along the axis)."""
    out: list[date] = []
    day = period_start(first, unit)
    while day <= last and len(out) < cap:
        out.append(day)
        day = next_period(day, unit)
    return out


def period_label(day: date, unit: str) -> str:
    if unit == "month":
        return day.strftime("%Y-%m")
    if unit == "week":
        return f"week of {day.isoformat()}"
    return day.isoformat()


def stacked_bars(
    points: Sequence[Point],
    *,
    unit: str,
    title: str,
    description: str,
    value_name: str = "items",
    link: Callable[[date, str], str] | None = None,
    markers: Sequence[Marker] = (),
    width: int = 760,
    height: int = 260,
    chart_id: str = "chart",
) -> str:
    """Bars per period, stacked by series (ecosystem), with optional first-seen markers."""
    if not points:
        return ""
    periods = fill_periods(min(p.period for p in points), max(p.period for p in points), unit)
    series = sorted({p.series for p in points})
    values: dict[tuple[date, str], float] = {}
    for p in points:
        key = (period_start(p.period, unit), p.series)
        values[key] = values.get(key, 0.0) + p.value
    totals = [sum(values.get((d, s), 0.0) for s in series) for d in periods]
    top = max(max(totals), 1.0)
    left, right, upper, lower = 44, 12, 34, 40
    plot_w, plot_h = width - left - right, height - upper - lower
    step = plot_w / max(len(periods), 1)
    bar_w = max(step * 0.82, 1.0)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'id="{_attr(chart_id)}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    # legend
    x = left
    for s in series:
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour(s)}"/>'
                   f'<text x="{x + 16}" y="16" class="legend">{escape(s)}</text>')
        x += 24 + 7 * len(s)
    # axes and grid
    for k in range(3):
        value = top * k / 2
        y = upper + plot_h - plot_h * k / 2
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'class="grid"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
                   f'{value:.0f}</text>')
    every = max(1, len(periods) // 8)
    for k, day in enumerate(periods):
        if k % every == 0:
            cx = left + step * k + bar_w / 2
            out.append(f'<text x="{cx:.1f}" y="{height - lower + 16}" class="tick" '
                       f'text-anchor="middle">{escape(_short(day, unit))}</text>')
    # bars
    for k, day in enumerate(periods):
        y = upper + plot_h
        for s in series:
            value = values.get((day, s), 0.0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            label = f"{s}: {value:g} {value_name}, {period_label(day, unit)}"
            rect = (f'<rect x="{left + step * k:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                    f'height="{max(h, 0.5):.1f}" fill="{colour(s)}" '
                    f'data-series="{_attr(s)}" data-period="{day.isoformat()}">'
                    f'<title>{escape(label)}</title></rect>')
            if link is not None:
                rect = (f'<a href="{_attr(link(day, s))}" aria-label="{_attr(label)}">'
                        f'{rect}</a>')
            out.append(rect)
    # first-seen markers
    if markers and periods:
        span = (next_period(periods[-1], unit) - periods[0]).days or 1
        for n, m in enumerate(markers):
            cx = left + plot_w * (m.at - periods[0]).days / span
            cx = min(max(cx, left), width - right)
            tip = f"{m.label}"
            mark = (f'<g class="marker" data-series="{_attr(m.series)}">'
                    f'<title>{escape(tip)}</title>'
                    f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{upper - 4}" '
                    f'y2="{upper + plot_h}" stroke="{colour(m.series)}" stroke-width="2" '
                    'stroke-dasharray="4 3"/>'
                    f'<path d="M{cx - 6:.1f},{upper - 12 + 3 * (n % 3)} '
                    f'h12 l-6,8 z" fill="{colour(m.series)}"/></g>')
            if m.href:
                mark = f'<a href="{_attr(m.href)}" aria-label="{_attr(tip)}">{mark}</a>'
            out.append(mark)
    out.append(f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{upper + plot_h}" '
               'class="axis"/></svg>')
    return "".join(out)


def _short(day: date, unit: str) -> str:
    return day.strftime("%Y-%m") if unit == "month" else day.strftime("%m-%d")


def heat(value: float, top: float) -> str:
    """Background of a matrix cell: white to dark blue with the value (text on it: `ink`)."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    r = round(255 - share * (255 - 8))
    g = round(255 - share * (255 - 48))
    b = round(255 - share * (255 - 107))
    return f"#{r:02x}{g:02x}{b:02x}"


def _luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG 2) of `#rrggbb`."""
    channels = []
    for k in (1, 3, 5):
        c = int(hex_colour[k:k + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two `#rrggbb` colours (1 to 21)."""
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def ink(background: str) -> str:
    """Black or white, whichever reads better on `background` (always at least 4.5:1)."""
    return max(("#000000", "#ffffff"), key=lambda c: contrast(c, background))
