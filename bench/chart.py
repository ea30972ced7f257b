"""A small SVG line chart: panels side by side, each with its series over the same x values.

Hand-rolled so that the chart the bench writes (docs/bench/cost-curves.svg) needs no plotting
library, fonts, scripts or network: a white page of lines and text that GitHub shows as an
image. Axes are linear or logarithmic; a series drawn dashed is a bound rather than a
measurement, and may leave out the points where it does not apply (None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

FONT = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"  # the viewer's own: no web font
COLORS = ("#1f6feb", "#d1242f", "#8250df", "#1a7f37", "#bc4c00", "#57606a")

PANEL_WIDTH = 470
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 62, 18, 34, 270  # within a panel
LEGEND_TOP, LEGEND_LINE = PLOT_BOTTOM + 52, 17
HEADER = 64  # the chart's title and subtitle above the panels
CHAR_WIDTH = 6.6  # a 12 px sans-serif character, on average: enough to lay out the legend


@dataclass
class Series:
    name: str
    values: list[float | None]  # one per x value; None: no point there
    dashed: bool = False  # a bound, not a measurement
    color: str = ""


@dataclass
class Panel:
    title: str
    unit: str  # shown after the tick labels' axis, e.g. "s" or "MB"
    series: list[Series] = field(default_factory=list)
    log_y: bool = False
    log_x: bool = True


def render(*, title: str, subtitle: str, x_values: list[float], x_label: str, panels: list[Panel],
           columns: int = 2) -> str:
    """The whole chart as an SVG document."""
    rows = math.ceil(len(panels) / columns)
    legend_lines = max(len({y for _, y in _legend_layout(panel)}) for panel in panels)
    panel_height = LEGEND_TOP + (legend_lines - 1) * LEGEND_LINE + 26
    width, height = columns * PANEL_WIDTH + 20, HEADER + rows * panel_height + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family={quoteattr(FONT)} font-size="12" fill="#24292f">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="20" y="28" font-size="18" font-weight="600">{escape(title)}</text>',
        f'<text x="20" y="50" font-size="13" fill="#57606a">{escape(subtitle)}</text>',
    ]
    for index, panel in enumerate(panels):
        left = 10 + (index % columns) * PANEL_WIDTH
        top = HEADER + (index // columns) * panel_height
        parts.append(_panel(panel, left=left, top=top, x_values=x_values, x_label=x_label))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(panel: Panel, *, left: float, top: float, x_values: list[float], x_label: str) -> str:
    plot_width = PANEL_WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = PLOT_BOTTOM - PLOT_TOP
    x_scale = _Scale(0 if not panel.log_x else min(x_values), max(x_values), log=panel.log_x)
    values = [v for series in panel.series for v in series.values if v is not None]
    y_ticks = _log_ticks(min(values), max(values)) if panel.log_y else _linear_ticks(max(values))
    y_scale = _Scale(y_ticks[0], y_ticks[-1], log=panel.log_y)

    def x_at(value: float) -> float:
        return round(PLOT_LEFT + x_scale.fraction(value) * plot_width, 1)

    def y_at(value: float) -> float:
        return round(PLOT_BOTTOM - y_scale.fraction(value) * plot_height, 1)

    scale = '<tspan font-weight="400" fill="#57606a"> (log scale)</tspan>' if panel.log_y else ""
    out = [f'<g class="panel" transform="translate({left},{top})" data-title={quoteattr(panel.title)}>',
           f'<text x="{PLOT_LEFT}" y="20" font-size="14" font-weight="600">{escape(panel.title)}{scale}</text>']
    for tick in y_ticks:
        y = y_at(tick)
        out.append(f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT + plot_width}" y1="{y}" y2="{y}" stroke="#d0d7de" stroke-width="1"/>')
        out.append(f'<text x="{PLOT_LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(_number(tick, panel.unit))}</text>')
    for value in x_values:
        x = x_at(value)
        out.append(f'<line x1="{x}" x2="{x}" y1="{PLOT_TOP}" y2="{PLOT_BOTTOM}" stroke="#eaeef2" stroke-width="1"/>')
        out.append(f'<text x="{x}" y="{PLOT_BOTTOM + 16}" text-anchor="middle" class="x-tick">{escape(_number(value, ""))}</text>')
    out.append(f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT + plot_width}" y1="{PLOT_BOTTOM}" y2="{PLOT_BOTTOM}" stroke="#57606a"/>')
    out.append(f'<line x1="{PLOT_LEFT}" x2="{PLOT_LEFT}" y1="{PLOT_TOP}" y2="{PLOT_BOTTOM}" stroke="#57606a"/>')
    x_note = f"{x_label} (log scale)" if panel.log_x else x_label
    out.append(f'<text x="{PLOT_LEFT + plot_width / 2}" y="{PLOT_BOTTOM + 32}" text-anchor="middle" fill="#57606a">{escape(x_note)}</text>')

    # Bounds first, wide and pale, so a measurement that meets its bound is drawn on top of it.
    order = sorted(range(len(panel.series)), key=lambda number: not panel.series[number].dashed)
    for number in order:
        series = panel.series[number]
        color = _color(series, number)
        style = ' stroke-width="3" stroke-dasharray="7 5" stroke-opacity="0.75"' if series.dashed else ' stroke-width="2"'
        drawn = [(x, v) for x, v in zip(x_values, series.values) if v is not None]
        out.append(f'<g class="series" data-series={quoteattr(series.name)} data-dashed="{str(series.dashed).lower()}">')
        out.append(f'<polyline fill="none" stroke="{color}"{style} '
                   f'points="{" ".join(f"{x_at(x)},{y_at(v)}" for x, v in drawn)}"/>')
        if not series.dashed:
            for x, value in drawn:
                label = f"{series.name}, {_number(x, '', exact=True)} {x_label}: {_number(value, panel.unit, exact=True)}"
                out.append(f'<circle cx="{x_at(x)}" cy="{y_at(value)}" r="3.5" fill="{color}"><title>{escape(label)}</title></circle>')
        out.append("</g>")
    for number, (legend_x, legend_y) in enumerate(_legend_layout(panel)):
        series = panel.series[number]
        dash = ' stroke-dasharray="7 5"' if series.dashed else ""
        out.append(f'<line x1="{legend_x}" x2="{legend_x + 24}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
                   f'stroke="{_color(series, number)}" stroke-width="2"{dash}/>')
        out.append(f'<text x="{legend_x + 30}" y="{legend_y}" class="legend">{escape(series.name)}</text>')
    out.append("</g>")
    return "\n".join(out)


def _color(series: Series, number: int) -> str:
    return series.color or COLORS[number % len(COLORS)]


def _legend_layout(panel: Panel) -> list[tuple[float, float]]:
    """Where each series' legend entry goes: in rows under the plot, wrapped at the panel's edge."""
    places = []
    x, y = PLOT_LEFT, LEGEND_TOP
    for series in panel.series:
        width = 30 + len(series.name) * CHAR_WIDTH + 16
        if x + width > PANEL_WIDTH - 10 and x > PLOT_LEFT:
            x, y = PLOT_LEFT, y + LEGEND_LINE
        places.append((x, y))
        x += width
    return places


@dataclass
class _Scale:
    low: float
    high: float
    log: bool

    def fraction(self, value: float) -> float:
        if self.log:
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(max(value, self.low))
        else:
            low, high = self.low, self.high
        return 0.5 if high == low else (value - low) / (high - low)


def _linear_ticks(top: float) -> list[float]:
    """0 to a round number at or above `top`, in four to six round steps."""
    if top <= 0:
        return [0.0, 1.0]
    rough = top / 5
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def _log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 steps from the one at or below `low` to the one at or above `high`."""
    low = max(low, 1e-9)
    high = max(high, low)
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    candidates = [m * 10.0**e for e in exponents for m in (1, 2, 5)]
    first = max(c for c in candidates if c <= low * (1 + 1e-9))
    last = min(c for c in candidates if c >= high * (1 - 1e-9))
    ticks = [c for c in candidates if first <= c <= last]
    return ticks if len(ticks) > 1 else [ticks[0], ticks[0] * 2]


def _number(value: float, unit: str, *, exact: bool = False) -> str:
    """1,000 → "1k", 2,500 → "2.5k"; a tick in seconds or MB keeps its unit."""
    if not exact and value >= 1000 and value % 100 == 0:
        text = f"{value / 1000:g}k"
    elif exact and value >= 1000:
        text = f"{value:,.0f}"
    elif value == int(value):
        text = f"{int(value)}"
    else:
        text = f"{value:.2f}".rstrip("0").rstrip(".") if value < 10 else f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()
