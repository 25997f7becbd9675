"""Charts as inline SVG, drawn by hand: bar, stacked bar, line and horizontal bar charts with axes, a title, a legend
and a `<title>` tooltip on every mark. No JavaScript, fonts or images from elsewhere, so a page holding them opens
offline and the same numbers always give the same bytes.

Every mark (bar or point) carries its numbers as attributes (`data-series`, `data-label`, `data-value`), so a test
or a person reading the source can check a chart against its table.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
HEIGHT = 300
MARGIN_LEFT = 70
MARGIN_RIGHT = 20
MARGIN_TOP = 44
MARGIN_BOTTOM = 58
AXIS_COLOUR = "#5b6474"
GRID_COLOUR = "#e3e6ec"
# Colour-blind-safe (Okabe-Ito) colours, in the order series take them unless they name one.
PALETTE = ("#0072b2", "#e69f00", "#d55e00", "#009e73", "#cc79a7", "#56b4e9")


@dataclass(frozen=True)
class Series:
    """One named row of values, one per label; None where the value is unknown (no mark is drawn)."""

    name: str
    values: Sequence[float | int | None]
    colour: str | None = None


def format_value(value: float | int | None, percent: bool = False) -> str:
    """A number as a person reads it: thousands separated, at most two decimals (one for a percentage)."""
    if value is None:
        return "unknown"
    if percent:
        return f"{100 * value:,.1f}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round axis values from 0 to at least `maximum`: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 2.5, 5, 10) if factor * power >= raw)
    ticks = [0.0]
    while ticks[-1] < maximum:
        ticks.append(ticks[-1] + step)
    return ticks


def _colours(series: Sequence[Series]) -> list[str]:
    return [item.colour or PALETTE[index % len(PALETTE)] for index, item in enumerate(series)]


def _open(title: str, width: int, height: int, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN_LEFT}" y="22" font-size="15" font-weight="bold" fill="#1d2330">{escape(title)}</text>',
    ]


def _legend(series: Sequence[Series], colours: list[str], width: int) -> list[str]:
    if len(series) < 2:
        return []
    parts = []
    x = width - MARGIN_RIGHT
    for item, colour in reversed(list(zip(series, colours, strict=True))):
        x -= 14 + 7 * len(item.name) + 16
        parts.append(f'<rect x="{x}" y="28" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="37" fill="#1d2330">{escape(item.name)}</text>')
    return parts


def _value_axis(ticks: list[float], top: float, bottom: float, left: float, right: float, percent: bool) -> list[str]:
    parts = []
    for tick in ticks:
        y = bottom - (bottom - top) * tick / ticks[-1]
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">'
            f"{escape(format_value(tick, percent))}</text>"
        )
    parts.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS_COLOUR}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{AXIS_COLOUR}"/>')
    return parts


def _category_labels(labels: Sequence[str], left: float, step: float, bottom: float, axis_title: str) -> list[str]:
    # at most ~16 labels fit under the axis; the others stay in the marks' tooltips and the table
    every = max(1, math.ceil(len(labels) / 16))
    parts = []
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = left + step * (index + 0.5)
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{AXIS_COLOUR}">{escape(label)}</text>'
        )
    middle = left + step * len(labels) / 2
    parts.append(
        f'<text x="{middle:.1f}" y="{bottom + 38}" text-anchor="middle" fill="{AXIS_COLOUR}">{escape(axis_title)}</text>'
    )
    return parts


def _mark_data(series: str, label: str, value: float | int | None, percent: bool) -> tuple[str, str]:
    """The attributes and the tooltip of one mark."""
    shown = format_value(value, percent)
    return (
        f'class="mark" data-series="{escape(series)}" data-label="{escape(label)}" data-value="{"" if value is None else value}"'
    ), f"<title>{escape(label)}: {escape(series)} {escape(shown)}</title>"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    axis_title: str,
    stacked: bool = True,
    percent: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Vertical bars, one group per label: the series stacked on each other (or side by side); a label whose values
    are all unknown gets a dashed column with a "?" instead of no bar."""
    colours = _colours(series)
    left, right, top, bottom = MARGIN_LEFT, width - MARGIN_RIGHT, MARGIN_TOP, height - MARGIN_BOTTOM
    totals = [sum(item.values[index] or 0 for item in series) for index in range(len(labels))]
    largest = max(totals if stacked else [value or 0 for item in series for value in item.values], default=0)
    ticks = nice_ticks(largest)
    scale = (bottom - top) / ticks[-1]
    step = (right - left) / max(1, len(labels))
    parts = _open(title, width, height, "bar")
    parts += _legend(series, colours, width)
    parts += _value_axis(ticks, top, bottom, left, right, percent)
    bar_width = step * 0.7 if stacked else step * 0.7 / max(1, len(series))
    for index, label in enumerate(labels):
        base = bottom
        for position, (item, colour) in enumerate(zip(series, colours, strict=True)):
            value = item.values[index]
            attributes, tooltip = _mark_data(item.name, label, value, percent)
            bar_height = (value or 0) * scale
            x = left + step * index + step * 0.15 + (0 if stacked else position * bar_width)
            y = base - bar_height
            parts.append(
                f'<rect {attributes} x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{bar_height:.1f}" '
                f'fill="{colour}">{tooltip}</rect>'
            )
            if stacked:
                base = y
        if all(item.values[index] is None for item in series):
            # unknown is not zero: a pale dashed column with a "?" marks the label, so no one reads an empty slot as 0
            x = left + step * index + step * 0.15
            parts.append(
                f'<g class="unknown" data-label="{escape(label)}"><title>{escape(label)}: unknown</title>'
                f'<rect x="{x:.1f}" y="{top}" width="{step * 0.7:.1f}" height="{bottom - top}" fill="#f4f6f9" '
                f'stroke="{AXIS_COLOUR}" stroke-dasharray="4 3"/>'
                f'<text x="{x + step * 0.35:.1f}" y="{bottom - 8}" text-anchor="middle" fill="{AXIS_COLOUR}">?</text></g>'
            )
    parts += _category_labels(labels, left, step, bottom, axis_title)
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    axis_title: str,
    percent: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """A line per series through its known values, with a dot (and tooltip) on each; an unknown value breaks the
    line."""
    colours = _colours(series)
    left, right, top, bottom = MARGIN_LEFT, width - MARGIN_RIGHT, MARGIN_TOP, height - MARGIN_BOTTOM
    largest = max((value for item in series for value in item.values if value is not None), default=0)
    ticks = nice_ticks(largest)
    scale = (bottom - top) / ticks[-1]
    step = (right - left) / max(1, len(labels))
    parts = _open(title, width, height, "line")
    parts += _legend(series, colours, width)
    parts += _value_axis(ticks, top, bottom, left, right, percent)
    for item, colour in zip(series, colours, strict=True):
        points = [(left + step * (index + 0.5), labels[index], value) for index, value in enumerate(item.values)]
        runs: list[list[tuple[float, float]]] = [[]]
        for x, _, value in points:
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x, bottom - value * scale))
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(run))
                parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for x, label, value in points:
            if value is None:
                continue
            attributes, tooltip = _mark_data(item.name, label, value, percent)
            parts.append(
                f'<circle {attributes} cx="{x:.1f}" cy="{bottom - value * scale:.1f}" r="4" fill="{colour}">'
                f"{tooltip}</circle>"
            )
    parts += _category_labels(labels, left, step, bottom, axis_title)
    parts.append("</svg>")
    return "\n".join(parts)


def horizontal_bar_chart(
    title: str, labels: Sequence[str], values: Sequence[int | float], series_name: str, width: int = WIDTH
) -> str:
    """One horizontal bar per label, largest first as given, with its value at the bar's end."""
    row = 24
    label_width = 240
    height = MARGIN_TOP + row * max(1, len(labels)) + 20
    left, right = label_width, width - MARGIN_RIGHT - 60
    largest = max(values, default=0) or 1
    parts = _open(title, width, height, "horizontal-bar")
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + row * index
        bar_width = (right - left) * value / largest
        shown = label if len(label) <= 34 else label[:33] + "…"
        attributes, tooltip = _mark_data(series_name, label, value, False)
        parts.append(
            f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" fill="#1d2330">{escape(shown)}</text>'
            f'<rect {attributes} x="{left}" y="{y + 3}" width="{bar_width:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[0]}">{tooltip}</rect>'
            f'<text x="{left + bar_width + 6:.1f}" y="{y + 15}" fill="{AXIS_COLOUR}">{escape(format_value(value))}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{MARGIN_TOP}" x2="{left}" y2="{height - 20}" stroke="{AXIS_COLOUR}"/>')
    parts.append("</svg>")
    return "\n".join(parts)
