"""Simple bar charts as geometry for ``workflows/_bars.html`` (SVG drawn on the server, no JS).

A chart is a list of rows; each row has a label and one or more segments (a value and a class
name); segments of a row are stacked (``stacked=True``) or drawn as parallel bars.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LABEL_W, BAR_AREA_W, VALUE_W = 110, 210, 80
ROW_H, BAR_H, GAP = 26, 16, 4
COLUMN_W, COLUMN_GAP, COLUMN_AREA_H = 14, 4, 140


@dataclass
class Bar:
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


@dataclass
class Text:
    x: float
    y: float
    text: str
    css: str = ""
    anchor: str = "start"


@dataclass
class Chart:
    title: str
    width: float
    height: float
    bars: list[Bar] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    empty: bool = False


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def horizontal(
    title: str, rows: list[tuple[str, list[tuple[float, str, str]]]], *, stacked: bool = False, unit: str = ""
) -> Chart:
    """``rows``: ``(label, [(value, css class, what it is), ...])``."""
    totals = [
        sum(v for v, _c, _n in segs) if stacked else max((v for v, _c, _n in segs), default=0) for _l, segs in rows
    ]
    top = max(totals, default=0) or 1
    per_row = ROW_H if stacked else max(ROW_H, max((len(s) for _l, s in rows), default=1) * (BAR_H // 2 + GAP) + GAP)
    chart = Chart(title, LABEL_W + BAR_AREA_W + VALUE_W, max(1, len(rows)) * per_row + 4, empty=not rows)
    for i, (label, segments) in enumerate(rows):
        y = 2 + i * per_row
        chart.texts.append(Text(LABEL_W - 6, y + per_row / 2 + 4, label[:18], "wf-chart-label", "end"))
        x = LABEL_W
        for k, (value, css, name) in enumerate(segments):
            w = BAR_AREA_W * value / top
            if stacked:
                chart.bars.append(
                    Bar(x, y + (per_row - BAR_H) / 2, w, BAR_H, css, f"{label}, {name}: {_fmt(value)}{unit}")
                )
                x += w
            else:
                h = BAR_H // 2
                chart.bars.append(
                    Bar(LABEL_W, y + GAP + k * (h + GAP), w, h, css, f"{label}, {name}: {_fmt(value)}{unit}")
                )
        value_text = " / ".join(_fmt(v) for v, _c, _n in segments) if not stacked else _fmt(totals[i])
        chart.texts.append(Text(LABEL_W + BAR_AREA_W + 4, y + per_row / 2 + 4, value_text + unit, "wf-chart-value"))
    return chart


def columns(title: str, rows: list[tuple[str, float, float]]) -> Chart:
    """Vertical columns, one per row ``(label, value, second value stacked on top)`` (days)."""
    top = max((a + b for _l, a, b in rows), default=0) or 1
    step = COLUMN_W + COLUMN_GAP
    if len(rows) > 60:  # a long period: thinner columns, same overall width
        step = max(2.0, 60 * (COLUMN_W + COLUMN_GAP) / len(rows))
    width = max(200, len(rows) * step + 40)
    chart = Chart(title, width, COLUMN_AREA_H + 36, empty=not rows)
    base = COLUMN_AREA_H + 6
    chart.texts.append(Text(0, 12, f"max {_fmt(top)}", "wf-chart-value"))
    for i, (label, first, second) in enumerate(rows):
        x = 30 + i * step
        h1 = COLUMN_AREA_H * first / top
        h2 = COLUMN_AREA_H * second / top
        w = max(1.0, step - COLUMN_GAP if step > COLUMN_GAP + 1 else step * 0.8)
        chart.bars.append(Bar(x, base - h1, w, h1, "wf-chart-a", f"{label}: {_fmt(first)} decisions"))
        if second:
            chart.bars.append(Bar(x, base - h1 - h2, w, h2, "wf-chart-c", f"{label}: {_fmt(second)} timeouts"))
    if rows:
        chart.texts.append(Text(30, base + 16, rows[0][0], "wf-chart-label"))
        chart.texts.append(Text(width - 4, base + 16, rows[-1][0], "wf-chart-label", "end"))
    return chart
