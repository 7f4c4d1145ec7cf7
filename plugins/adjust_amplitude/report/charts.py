"""Inline SVG charts: no scripts, no fonts or files from the network, sharp on screen and paper.

Every label is escaped: network names come from ad networks.
"""

from __future__ import annotations

import datetime as dt
import math

from adjust_amplitude.report.content import Entry, TrendPoint
from adjust_amplitude.report.escaping import escape

WIDTH = 720
INK = "#1f2933"
GRID = "#d9dee3"
BLUE = "#2563eb"
ORANGE = "#d9480f"
PALE_ORANGE = "#f5b99a"
MUTED = "#6b7280"


def fmt_int(value: float) -> str:
    return f"{int(round(value)):,}"


def nice_ceiling(value: float) -> float:
    """A round axis maximum at or above value: 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def short_day(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%b')}"


def _svg(height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="inherit" font-size="13">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _day_axis(points: list[TrendPoint], left: int, step: float, baseline: int) -> list[str]:
    every = max(1, math.ceil(len(points) / 10))
    out = []
    for i, p in enumerate(points):
        if (len(points) - 1 - i) % every == 0:  # counted back from the newest day, which is always labelled
            x = left + step * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{baseline + 16}" text-anchor="middle" fill="{MUTED}">{escape(short_day(p.day))}</text>')
    return out


def _y_grid(left: int, right: int, top: int, bottom: int, ticks: list[tuple[float, str]]) -> list[str]:
    out = []
    for fraction, text in ticks:
        y = bottom - (bottom - top) * fraction
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{escape(text)}</text>')
    return out


def match_rate_chart(points: list[TrendPoint]) -> str:
    height, left, right, top, bottom = 210, 56, WIDTH - 12, 12, 180
    label = "Match rate by Adjust day"
    if not points:
        return _svg(60, label, [f'<text x="{left}" y="30" fill="{MUTED}">No Adjust days to show yet.</text>'])
    step = (right - left) / len(points)
    body = _y_grid(left, right, top, bottom, [(f, f"{f * 100:.0f}%") for f in (0, 0.25, 0.5, 0.75, 1)])
    segment: list[str] = []
    segments: list[list[str]] = []
    dots = []
    for i, p in enumerate(points):
        if p.match_rate is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        x = left + step * (i + 0.5)
        y = bottom - (bottom - top) * p.match_rate
        segment.append(f"{x:.1f},{y:.1f}")
        fill = "white" if p.open else BLUE
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{fill}" stroke="{BLUE}" stroke-width="1.5">'
            f"<title>{escape(p.day.isoformat())}: {p.match_rate * 100:.1f}%{' (windows still open)' if p.open else ''}</title></circle>"
        )
    if segment:
        segments.append(segment)
    body += [f'<polyline points="{" ".join(s)}" fill="none" stroke="{BLUE}" stroke-width="2"/>' for s in segments]
    body += dots + _day_axis(points, left, step, bottom)
    return _svg(height, label, body)


def unmatched_chart(points: list[TrendPoint]) -> str:
    height, left, right, top, bottom = 210, 56, WIDTH - 12, 12, 180
    label = "Unmatched rows by Adjust day"
    if not points:
        return _svg(60, label, [f'<text x="{left}" y="30" fill="{MUTED}">No Adjust days to show yet.</text>'])
    top_value = nice_ceiling(max(p.unmatched for p in points))
    step = (right - left) / len(points)
    body = _y_grid(left, right, top, bottom, [(f, fmt_int(top_value * f)) for f in (0, 0.5, 1)])
    for i, p in enumerate(points):
        if not p.unmatched:
            continue
        h = (bottom - top) * p.unmatched / top_value
        x = left + step * i + step * 0.15
        body.append(
            f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{PALE_ORANGE if p.open else ORANGE}"><title>{escape(p.day.isoformat())}: '
            f"{fmt_int(p.unmatched)} unmatched{' (windows still open)' if p.open else ''}</title></rect>"
        )
    body += _day_axis(points, left, step, bottom)
    return _svg(height, label, body)


def network_bar_chart(entries: list[Entry]) -> str:
    label = "Unmatched rows by network"
    rows = [e for e in entries if e.totals.unmatched > 0]
    if not rows:
        return _svg(40, label, [f'<text x="0" y="24" fill="{MUTED}">No unmatched rows in this report.</text>'])
    bar_h, gap, name_w, value_w = 20, 8, 210, 70
    height = len(rows) * (bar_h + gap) + gap
    top_value = max(e.totals.unmatched for e in rows)
    span = WIDTH - name_w - value_w
    body = []
    for i, e in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, span * e.totals.unmatched / top_value)
        name = e.label if len(e.label) <= 30 else e.label[:29] + "…"
        body += [
            f'<text x="{name_w - 8}" y="{y + 14}" text-anchor="end" fill="{INK}">{escape(name)}</text>',
            f'<rect x="{name_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{MUTED if e.others else ORANGE}">'
            f"<title>{escape(e.label)}: {fmt_int(e.totals.unmatched)} unmatched</title></rect>",
            f'<text x="{name_w + w + 6:.1f}" y="{y + 14}" fill="{INK}">{fmt_int(e.totals.unmatched)}</text>',
        ]
    return _svg(height, label, body)
