"""Server-side SVG charts for the report: a time-series line chart and a stacked state bar.

The same markup is shown by browsers (HTML report) and by WeasyPrint's own SVG renderer (PDF),
so it sticks to what both draw alike: presentation attributes (``fill=``, ``stroke=``,
``font-size=`` ...), no ``<style>``, classes, scripts, external references or foreignObject.
Text positions are computed here (baseline offsets, estimated text widths) instead of relying
on ``dominant-baseline``, which WeasyPrint only approximates. Every text is XML-escaped.

The root ``<svg>`` has ``width``/``height`` and a ``viewBox``: the report's CSS may scale it
(``max-width: 100%; height: auto``) and the PDF prints it at its own size.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

from markupsafe import Markup, escape

from agent.errors import ReportError

#: the report's font stack: the CJK faces first so Chinese labels never fall back to boxes
DEFAULT_FONT = ("'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', "
                "'WenQuanYi Micro Hei', 'Microsoft YaHei', sans-serif")

#: the state colours of the whole report (badges, bars, chart thresholds)
STATE_COLOURS = {"OK": "#2e7d32", "WARN": "#f9a825", "CRIT": "#c62828", "UNKNOWN": "#6d6d6d"}

#: Okabe–Ito, minus its yellow (too pale for a thin line on white): colour-blind safe
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000",
           "#999999")

_FONT_SIZE = 10
_TITLE_SIZE = 12
_PAD = 8
_LEGEND_ROWS = 3
_MARKER_LIMIT = 12
#: below the plot: tick marks and date labels, then legend rows
_AXIS_BAND = 22
_ROW = 16
_THRESHOLD_SIZE = 9
_GRID = "#e6e6e6"
_AXIS = "#9e9e9e"
_INK = "#424242"
_MUTED = "#757575"
_EMPTY_BAR = "#e0e0e0"
#: the amber line is too pale for text: its label is drawn darker
_WARN_TEXT = "#9a6700"
# characters XML 1.0 forbids: dropped so odd device output cannot break the document
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ChartSeries:
    #: legend text, e.g. ``db-01 /data``
    label: str
    #: any order; sorted inside
    points: Sequence[tuple[datetime, float]]


# --- text helpers -------------------------------------------------------------------------


def _text(value: str) -> str:
    return str(escape(_XML_INVALID.sub("", value)))


def text_width(value: str, size: float) -> float:
    """Estimated width of ``value`` in px: CJK (wide) characters are square, Latin ~0.6 em."""
    wide = sum(1 for ch in value if unicodedata.east_asian_width(ch) in "WF")
    return (wide + 0.6 * (len(value) - wide)) * size


def _fit_text(value: str, size: float, room: float) -> str:
    if text_width(value, size) <= room:
        return value
    while value and text_width(value + "…", size) > room:
        value = value[:-1]
    return value + "…" if value else ""


def _num(value: float, decimals: int | None = None) -> str:
    if decimals is None:
        decimals = 0 if abs(value - round(value)) < 1e-9 else 1
    out = f"{value:.{decimals}f}"
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out == "-0" else out


def _with_unit(number: str, unit: str) -> str:
    # "25%", "40°C", but "512 MB"
    if not unit:
        return number
    return f"{number} {unit}" if unit[0].isalnum() else f"{number}{unit}"


def _markup(parts: Sequence[str]) -> Markup:
    # every text and attribute value in parts went through _text (escaped)
    return Markup("".join(parts))  # noqa: S704


def _svg_open(width: int, height: int, font_family: str, label: str | None) -> str:
    aria = f' aria-label="{_text(label)}"' if label else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"{aria} '
            f'font-family="{_text(font_family)}" font-size="{_FONT_SIZE}">')


# --- scales -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _YScale:
    low: float
    high: float
    ticks: list[float]
    decimals: int


def _decimals(step: float) -> int:
    for places in range(7):
        scaled = step * 10**places
        if abs(scaled - round(scaled)) < 1e-6:
            return places
    return 6


def _nice_steps(span: float) -> Iterator[float]:
    exponent = math.floor(math.log10(span / 8))
    while True:
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            yield mantissa * 10.0**exponent
        exponent += 1


def _choose_step(low: float, high: float, fixed_high: bool) -> tuple[float, float, float]:
    """(low, high, step) with 3–6 intervals and the tightest range; ties take a step that
    ends on ``high`` (a fixed top gets a label), then fewer ticks."""
    best: tuple[float, bool, int, float, float, float] | None = None
    for step in _nice_steps(high - low):
        start = math.floor(low / step + 1e-9) * step
        end = high if fixed_high else math.ceil(high / step - 1e-9) * step
        intervals = math.floor((end - start) / step + 1e-9)
        if intervals < 3:
            break
        if intervals <= 6:
            ragged = abs(start + intervals * step - end) > step * 1e-6
            candidate = (end - start, ragged, intervals, start, end, step)
            if best is None or candidate[:3] < best[:3]:
                best = candidate
    if best is None:  # a fixed range too narrow for three nice steps: two will do
        return low, high, (high - low) / 2
    return best[3], best[4], best[5]


def _y_scale(values: Sequence[float], limits: Sequence[float], unit: str,
             y_min: float | None, y_max: float | None) -> _YScale:
    data_low, data_high = min(values), max(values)
    if y_max is not None:
        high, fixed = max(y_max, data_high), y_max >= data_high
    else:
        top = max([data_high, *limits])
        high, fixed = top + abs(top) * 0.1, False
        if unit == "%" and data_high <= 100 < high:
            high, fixed = 100.0, True
    low = min(y_min, data_low) if y_min is not None else data_low - 0.05 * (high - data_low)
    # a flat or microscopic range would need unreadable tick labels: widen it
    least = max(1.0 if high == low else 0.01, 1e-3 * max(abs(low), abs(high)))
    if high - low < least:
        high, fixed = low + least, False
    low, high, step = _choose_step(low, high, fixed)
    ticks: list[float] = []
    value = low
    while value <= high + step * 1e-6:
        ticks.append(round(value, 9))
        value = low + step * len(ticks)
    return _YScale(low=low, high=high, ticks=ticks, decimals=_decimals(step))


def _as_utc(value: datetime) -> datetime:
    # the store keeps UTC; a naive time is taken to be UTC rather than the machine's zone
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _month_day(moment: datetime) -> str:
    return moment.strftime("%m-%d")


def _month_day_time(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M")


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


def _aligned(start: datetime, end: datetime, unit: str, count: int) -> list[datetime]:
    """Ticks on round boundaries (every ``count`` hours/days/months) within [start, end]."""
    zone: tzinfo = start.tzinfo or UTC
    ticks: list[datetime] = []
    if unit == "hour":
        tick = start.replace(minute=0, second=0, microsecond=0)
        while tick < start or tick.hour % count:
            tick += timedelta(hours=1)
        while tick <= end:
            ticks.append(tick)
            tick += timedelta(hours=count)
    elif unit == "day":
        day = start.date()
        if datetime.combine(day, time(), zone) < start:
            day += timedelta(days=1)
        while (tick := datetime.combine(day, time(), zone)) <= end:
            ticks.append(tick)
            day += timedelta(days=count)
    else:
        tick = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        while tick < start or (tick.month - 1) % count:
            tick = _add_months(tick, 1)
        while tick <= end:
            ticks.append(tick)
            tick = _add_months(tick, count)
    return ticks


_TIME_STEPS: tuple[tuple[str, int, float], ...] = (
    *(("hour", n, n * 3600.0) for n in (1, 2, 3, 4, 6, 12)),
    *(("day", n, n * 86400.0) for n in (1, 2, 3, 4, 5, 7, 10, 14)),
    *(("month", n, n * 30.44 * 86400.0) for n in (1, 2, 3, 4, 6, 12)),
)


def _x_ticks(start: datetime, end: datetime) -> tuple[list[datetime], bool]:
    """4–6 ticks on round times where possible; the flag says they are finer than a day."""
    span = (end - start).total_seconds()
    best: tuple[int, list[datetime], bool] | None = None
    for unit, count, seconds in _TIME_STEPS:
        if not 2.5 <= span / seconds <= 7.5:
            continue
        ticks = _aligned(start, end, unit, count)
        if 4 <= len(ticks) <= 6 and (best is None or abs(len(ticks) - 5) < best[0]):
            best = (abs(len(ticks) - 5), ticks, unit == "hour")
    if best is not None:
        return best[1], best[2]
    # spans with no round fit (minutes, decades): five evenly spaced ticks
    return [start + (end - start) * i / 4 for i in range(5)], span < 4 * 86400


# --- line chart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class _Legend:
    #: (series index, x, row, text)
    items: list[tuple[int, float, int, str]]
    rows: int
    #: (x, row, "+N") when N series did not fit
    more: tuple[float, int, str] | None = None


_SWATCH = 18.0


def _layout_legend(labels: Sequence[str], left: float, room: float) -> _Legend:
    gap = 14.0
    items: list[tuple[int, float, int, str]] = []
    x, row = left, 0
    for index, label in enumerate(labels):
        text = _fit_text(label, _FONT_SIZE, room - _SWATCH)
        need = _SWATCH + text_width(text, _FONT_SIZE)
        if x > left and x + need > left + room:
            x, row = left, row + 1
        if row >= _LEGEND_ROWS:
            return _overflowing(items, left + room, len(labels) - index)
        items.append((index, x, row, text))
        x += need + gap
    return _Legend(items, row + 1 if items else 0)


def _overflowing(items: list[tuple[int, float, int, str]], limit: float,
                 hidden: int) -> _Legend:
    """The last row ends in "+N" (the series left out): its last label is shortened to make
    room, or gives its place to "+N" when too little of it would be left."""
    index, x, row, text = items[-1]
    more = f"+{hidden}"
    room = limit - x - _SWATCH - 6 - text_width(more, _FONT_SIZE)
    short = _fit_text(text, _FONT_SIZE, room)
    if len(short) >= 4:
        items[-1] = (index, x, row, short)
        return _Legend(items, _LEGEND_ROWS,
                       (x + _SWATCH + text_width(short, _FONT_SIZE) + 6, row, more))
    items.pop()
    return _Legend(items, _LEGEND_ROWS, (x, row, f"+{hidden + 1}"))


def _empty_chart(width: int, height: int, text: str, title: str | None,
                 font_family: str) -> Markup:
    parts = [_svg_open(width, height, font_family, title or text)]
    if title:
        parts.append(_title(title))
    parts.append(f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="none" '
                 f'stroke="{_GRID}"/>')
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2 + _FONT_SIZE * 0.35:.1f}" '
                 f'text-anchor="middle" fill="{_MUTED}" font-size="{_FONT_SIZE + 2}">'
                 f'{_text(text)}</text></svg>')
    return _markup(parts)


def _title(title: str) -> str:
    return (f'<text x="{_PAD}" y="{_PAD + _TITLE_SIZE * 0.85:.1f}" font-size="{_TITLE_SIZE}" '
            f'font-weight="bold" fill="{_INK}">{_text(title)}</text>')


def _threshold_line(box: _Box, y: float, colour: str) -> str:
    return (f'<line x1="{box.left:.1f}" y1="{y:.1f}" x2="{box.right:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="5 3"/>')


def _threshold_label(box: _Box, y: float, colour: str, label: str) -> str:
    # on a white backing, drawn after the series, so lines running through stay readable
    text_w = text_width(label, _THRESHOLD_SIZE)
    return (f'<rect x="{box.right - text_w - 4:.1f}" y="{y - _THRESHOLD_SIZE - 3:.1f}" '
            f'width="{text_w + 4:.1f}" height="{_THRESHOLD_SIZE + 1:.1f}" fill="#ffffff" '
            f'fill-opacity="0.85"/>'
            f'<text x="{box.right - 2:.1f}" y="{y - 3:.1f}" text-anchor="end" '
            f'font-size="{_THRESHOLD_SIZE}" fill="{colour}">{_text(label)}</text>')


def _series_markup(index: int, points: Sequence[tuple[float, float]], colour: str) -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    parts = [f'<g data-series="{index}">']
    if len(points) > 1:
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                     f'stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"/>')
    if len(points) <= _MARKER_LIMIT:
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}" '
                     f'stroke="#ffffff" stroke-width="0.8"/>' for x, y in points)
    parts.append("</g>")
    return "".join(parts)


@dataclass(frozen=True)
class _Plot:
    """Where data lands: the plot box and the two scales."""

    box: _Box
    scale: _YScale
    t0: float
    t_span: float

    def x(self, moment: datetime) -> float:
        if self.t_span == 0:  # one instant: centred
            return self.box.left + self.box.width / 2
        return self.box.left + (moment.timestamp() - self.t0) / self.t_span * self.box.width

    def y(self, value: float) -> float:
        fraction = (value - self.scale.low) / (self.scale.high - self.scale.low)
        return self.box.bottom - fraction * self.box.height


def _axes_markup(plot: _Plot, y_labels: Sequence[str], ticks: Sequence[datetime],
                 x_labels: Sequence[str]) -> str:
    box = plot.box
    parts: list[str] = []
    for value, label in zip(plot.scale.ticks, y_labels, strict=True):
        y = plot.y(value)
        parts.append(f'<line x1="{box.left:.1f}" y1="{y:.1f}" x2="{box.right:.1f}" '
                     f'y2="{y:.1f}" stroke="{_GRID}" stroke-width="1"/>'
                     f'<text x="{box.left - 6:.1f}" y="{y + _FONT_SIZE * 0.35:.1f}" '
                     f'text-anchor="end" fill="{_MUTED}">{_text(label)}</text>')
    parts.append(f'<line x1="{box.left:.1f}" y1="{box.bottom:.1f}" x2="{box.right:.1f}" '
                 f'y2="{box.bottom:.1f}" stroke="{_AXIS}" stroke-width="1"/>')
    for tick, label in zip(ticks, x_labels, strict=True):
        x = plot.x(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{box.bottom:.1f}" x2="{x:.1f}" '
                     f'y2="{box.bottom + 4:.1f}" stroke="{_AXIS}" stroke-width="1"/>'
                     f'<text x="{x:.1f}" y="{box.bottom + 6 + _FONT_SIZE * 0.85:.1f}" '
                     f'text-anchor="middle" fill="{_MUTED}">{_text(label)}</text>')
    return "".join(parts)


@dataclass(frozen=True)
class _Threshold:
    value: float
    colour: str
    ink: str
    label: str


def _thresholds(plot: _Plot, unit: str,
                given: Sequence[tuple[float | None, str, str, str | None]]) -> list[_Threshold]:
    """(value, line colour, text colour, label or None for "value unit") → those in range."""
    return [_Threshold(value, colour, ink,
                       label if label is not None else _with_unit(_num(value), unit))
            for value, colour, ink, label in given
            if value is not None and plot.scale.low <= value <= plot.scale.high]


def _sorted_series(series: Sequence[ChartSeries]) -> list[tuple[str, list[tuple[datetime, float]]]]:
    """Series with their finite points in time order; series without any are left out."""
    out = []
    for item in series:
        points = sorted(((_as_utc(when), float(value)) for when, value in item.points
                         if math.isfinite(value)), key=lambda point: point[0])
        if points:
            out.append((item.label, points))
    return out


def line_chart(series: Sequence[ChartSeries], *, unit: str, warn: float | None = None,
               crit: float | None = None, y_min: float | None = 0, y_max: float | None = None,
               width: int = 640, height: int = 240, empty_text: str = "No data",
               date_format: Callable[[datetime], str] = _month_day,
               title: str | None = None, warn_label: str | None = None,
               crit_label: str | None = None, font_family: str = DEFAULT_FONT,
               zone: tzinfo | None = None) -> Markup:
    """Values over time, one line per series, with dashed warn/crit lines and a legend.

    The x axis is a real time scale; its dates are in ``zone`` (default: the zone of the
    first series' times; naive times are UTC), so pass the report's time zone.
    ``y_max`` defaults to a round number above the data and ``crit`` (percent stops at 100).
    ``warn_label``/``crit_label`` replace the threshold labels (default: value and unit).
    With the default ``date_format``, ticks finer than a day also show the time.
    """
    drawn = _sorted_series(series)
    if not drawn:
        return _empty_chart(width, height, empty_text, title, font_family)
    zone = zone or drawn[0][1][-1][0].tzinfo or UTC
    start = min(points[0][0] for _, points in drawn).astimezone(zone)
    end = max(points[-1][0] for _, points in drawn).astimezone(zone)
    ticks, fine = ([start], False) if start == end else _x_ticks(start, end)
    fmt = _month_day_time if fine and date_format is _month_day else date_format
    limits = [v for v in (warn, crit) if v is not None]
    scale = _y_scale([v for _, points in drawn for _, v in points], limits, unit, y_min, y_max)
    y_labels = [_with_unit(_num(v, scale.decimals), unit) for v in scale.ticks]
    x_labels = [fmt(tick) for tick in ticks]

    # room for the y labels, and for half of the first date label centred on the left edge
    left = _PAD + max(max(text_width(t, _FONT_SIZE) for t in y_labels) + 6,
                      text_width(x_labels[0], _FONT_SIZE) / 2)
    right = width - max(_PAD + 4.0, text_width(x_labels[-1], _FONT_SIZE) / 2 + 2)
    top = _PAD + (_TITLE_SIZE + 8 if title else 4)
    legend = _layout_legend([label for label, _ in drawn], left, right - left)
    bottom = max(height - _PAD - _AXIS_BAND - legend.rows * _ROW, top + 20)
    plot = _Plot(_Box(left, top, right, bottom), scale, start.timestamp(),
                 end.timestamp() - start.timestamp())

    parts = [_svg_open(width, height, font_family, title)]
    if title:
        parts.append(_title(title))
    parts.append(_axes_markup(plot, y_labels, ticks, x_labels))
    thresholds = _thresholds(plot, unit, (
        (warn, STATE_COLOURS["WARN"], _WARN_TEXT, warn_label),
        (crit, STATE_COLOURS["CRIT"], STATE_COLOURS["CRIT"], crit_label)))
    parts.extend(_threshold_line(plot.box, plot.y(t.value), t.colour) for t in thresholds)
    for index, (_, points) in enumerate(drawn):
        parts.append(_series_markup(index, [(plot.x(w), plot.y(v)) for w, v in points],
                                    PALETTE[index % len(PALETTE)]))
    parts.extend(_threshold_label(plot.box, plot.y(t.value), t.ink, t.label)
                 for t in thresholds)
    parts.append(_legend_markup(legend, bottom + _AXIS_BAND,
                                [len(points) <= _MARKER_LIMIT for _, points in drawn]))
    parts.append("</svg>")
    return _markup(parts)


def _legend_markup(legend: _Legend, top: float, markers: Sequence[bool]) -> str:
    parts: list[str] = []
    for index, x, row, text in legend.items:
        colour = PALETTE[index % len(PALETTE)]
        y = top + row * _ROW + _ROW / 2
        parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 14:.1f}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        if markers[index]:
            parts.append(f'<circle cx="{x + 7:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}"/>')
        parts.append(f'<text x="{x + _SWATCH:.1f}" y="{y + _FONT_SIZE * 0.35:.1f}" fill="{_INK}">'
                     f'{_text(text)}</text>')
    if legend.more is not None:
        x, row, more = legend.more
        y = top + row * _ROW + _ROW / 2
        parts.append(f'<text x="{x:.1f}" y="{y + _FONT_SIZE * 0.35:.1f}" '
                     f'fill="{_MUTED}">{more}</text>')
    return "".join(parts)


# --- state bar ----------------------------------------------------------------------------


def _luminance(colour: str) -> float:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
        return 0.0  # a named or short colour: assume dark, write white on it
    red, green, blue = (int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def state_bar(counts: Sequence[tuple[str, int, str]], *, width: int = 640, height: int = 28,
              font_family: str = DEFAULT_FONT) -> Markup:
    """One horizontal bar split by count, e.g. devices OK/WARN/CRIT/UNKNOWN: (label, count,
    colour). Counts are written inside segments wide enough for them; all zero → grey bar."""
    for label, count, _ in counts:
        if count < 0:
            raise ReportError(f"state bar segment {label!r} has a negative count ({count}); "
                              "counts must be 0 or more")
    total = sum(count for _, count, _ in counts)
    summary = ", ".join(f"{label} {count}" for label, count, _ in counts)
    parts = [_svg_open(width, height, font_family, summary)]
    if total == 0:
        parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" '
                     f'fill="{_EMPTY_BAR}"/></svg>')
        return _markup(parts)
    size = min(12.0, height * 0.5)
    done = 0
    for label, count, colour in counts:
        if count == 0:
            continue
        x = done / total * width
        done += count
        segment = done / total * width - x
        parts.append(f'<rect x="{x:.2f}" y="0" width="{segment:.2f}" height="{height}" '
                     f'fill="{_text(colour)}"><title>{_text(f"{label}: {count}")}</title></rect>')
        shown = next((t for t in (f"{label} {count}", str(count))
                      if text_width(t, size) + 8 <= segment), None)
        if shown is not None:
            ink = "#212121" if _luminance(colour) > 0.55 else "#ffffff"
            parts.append(f'<text x="{x + segment / 2:.2f}" y="{height / 2 + size * 0.35:.1f}" '
                         f'text-anchor="middle" font-size="{_num(size)}" fill="{ink}">'
                         f'{_text(shown)}</text>')
    parts.append("</svg>")
    return _markup(parts)
