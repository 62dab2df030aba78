"""The report's SVG charts: parsed back as XML and measured, then printed by WeasyPrint and read
back with poppler to prove the CJK text really renders."""

from __future__ import annotations

import logging
import random
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import ReportError
from reports.charts import (
    PALETTE,
    STATE_COLOURS,
    ChartSeries,
    line_chart,
    state_bar,
)

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2026, 10, 1, tzinfo=UTC)
GRID = "#e6e6e6"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def series_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "data-series" in g.attrib]


def polyline_points(group: ET.Element) -> list[tuple[float, float]]:
    line = group.find(f"{SVG}polyline")
    assert line is not None
    return [(float(x), float(y)) for x, y in
            (pair.split(",") for pair in line.attrib["points"].split())]


def y_axis(root: ET.Element) -> dict[str, float]:
    """Tick label -> y of its grid line (labels sit at the left end of each grid line)."""
    grid = [el for el in root.iter(f"{SVG}line") if el.attrib.get("stroke") == GRID]
    labels = [el for el in root.iter(f"{SVG}text") if el.attrib.get("text-anchor") == "end"
              and el.attrib.get("fill") == "#757575"]
    return {label.text or "": float(line.attrib["y1"])
            for line, label in zip(grid, labels, strict=True)}


def plot_box(root: ET.Element) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) from the grid lines, which span the plot area."""
    grid = [el for el in root.iter(f"{SVG}line") if el.attrib.get("stroke") == GRID]
    ys = [float(el.attrib["y1"]) for el in grid]
    return (float(grid[0].attrib["x1"]), min(ys), float(grid[0].attrib["x2"]), max(ys))


def x_labels(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter(f"{SVG}text")
            if el.attrib.get("text-anchor") == "middle"]


def daily(label: str, values: list[float], start: datetime = START) -> ChartSeries:
    return ChartSeries(label, [(start + timedelta(days=i), v) for i, v in enumerate(values)])


# --- line chart ---------------------------------------------------------------------------


def test_svg_is_self_contained_and_sized_for_html_and_pdf() -> None:
    svg = line_chart([daily("db-01 /data", [40, 45, 50])], unit="%", width=500, height=200)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert (root.attrib["width"], root.attrib["height"]) == ("500", "200")
    assert root.attrib["viewBox"] == "0 0 500 200"
    assert "Noto Sans CJK SC" in root.attrib["font-family"]
    # WeasyPrint's renderer: presentation attributes only
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert not tags & {"style", "script", "foreignObject", "image", "use"}
    assert not any("class" in el.attrib or "style" in el.attrib for el in root.iter())
    assert not any(key.endswith("href") for el in root.iter() for key in el.attrib)


def test_one_line_per_series_with_markers_only_when_few_points() -> None:
    few = [daily(f"host-{i}", [10.0 * i + d for d in range(10)]) for i in range(3)]
    groups = series_groups(parse(line_chart(few, unit="%")))
    assert len(groups) == 3
    for group in groups:
        assert len(group.findall(f"{SVG}polyline")) == 1
        assert len(group.findall(f"{SVG}circle")) == 10

    many = [daily(f"host-{i}", [20.0 + i + (d % 7) for d in range(50)]) for i in range(2)]
    groups = series_groups(parse(line_chart(many, unit="%")))
    assert [len(g.findall(f"{SVG}polyline")) for g in groups] == [1, 1]
    assert [len(g.findall(f"{SVG}circle")) for g in groups] == [0, 0]
    colours = [line.attrib["stroke"] for g in groups for line in g.iter(f"{SVG}polyline")]
    assert colours == list(PALETTE[:2])


def test_points_sit_inside_the_plot_on_a_real_time_scale() -> None:
    offsets = [0.0, 1.0, 3.0, 10.0, 10.5, 30.0]  # uneven gaps: an index axis would be wrong
    values = [20.0, 35.0, 50.0, 65.0, 80.0, 95.0]
    points = [(START + timedelta(days=o), v) for o, v in zip(offsets, values, strict=True)]
    random.Random(3).shuffle(points)  # any order in, time order out
    root = parse(line_chart([ChartSeries("db-01 /data", points)], unit="%"))
    left, top, right, bottom = plot_box(root)
    coords = polyline_points(series_groups(root)[0])
    xs = [x for x, _ in coords]
    assert xs == sorted(xs)
    assert all(left <= x <= right and top <= y <= bottom for x, y in coords)
    assert xs[0] == pytest.approx(left, abs=0.1)
    assert xs[-1] == pytest.approx(right, abs=0.1)
    for (x, _), offset in zip(coords, offsets, strict=True):
        assert x == pytest.approx(left + offset / 30.0 * (right - left), abs=0.15)
    # y: linear between the tick lines (0 % at the bottom, 100 % at the top)
    axis = y_axis(root)
    for (_, y), value in zip(coords, values, strict=True):
        assert y == pytest.approx(axis["0%"] + value / 100 * (axis["100%"] - axis["0%"]), abs=0.15)


def test_percent_axis_has_round_ticks_and_stops_at_100() -> None:
    root = parse(line_chart([daily("a", [30, 60, 97])], unit="%", warn=80, crit=90))
    assert list(y_axis(root)) == ["0%", "25%", "50%", "75%", "100%"]
    # no crit: max(data) × 1.1 rounded up to a round number
    root = parse(line_chart([daily("a", [12, 30, 44])], unit="ms"))
    assert list(y_axis(root)) == ["0 ms", "10 ms", "20 ms", "30 ms", "40 ms", "50 ms"]
    root = parse(line_chart([daily("a", [1.1, 1.4, 1.2])], unit=""))
    labels = list(y_axis(root))
    assert labels[0] == "0"
    assert 1.4 < float(labels[-1]) <= 2
    # an explicit maximum wins; the data still fits
    root = parse(line_chart([daily("a", [10, 20])], unit="°C", y_max=80))
    assert list(y_axis(root))[-1] == "80°C"


def test_values_below_y_min_and_auto_y_min_stay_in_the_plot() -> None:
    for y_min in (0.0, None):
        root = parse(line_chart([daily("t", [-12.0, 4.0, 30.0])], unit="°C", y_min=y_min))
        _, top, _, bottom = plot_box(root)
        assert all(top <= y <= bottom for _, y in polyline_points(series_groups(root)[0]))


def test_threshold_lines_are_dashed_at_their_values() -> None:
    root = parse(line_chart([daily("db-01 /data", [50, 60, 70])], unit="%", warn=80, crit=90))
    axis = y_axis(root)
    dashed = {el.attrib["stroke"]: float(el.attrib["y1"]) for el in root.iter(f"{SVG}line")
              if "stroke-dasharray" in el.attrib}
    scale = axis["100%"] - axis["0%"]
    assert dashed[STATE_COLOURS["WARN"]] == pytest.approx(axis["0%"] + 0.8 * scale, abs=0.15)
    assert dashed[STATE_COLOURS["CRIT"]] == pytest.approx(axis["0%"] + 0.9 * scale, abs=0.15)
    assert {"80%", "90%"} <= set(texts(root))

    root = parse(line_chart([daily("db-01 /data", [50, 60])], unit="%", warn=80, crit=90,
                            warn_label="告警 80%", crit_label="严重 90%"))
    assert {"告警 80%", "严重 90%"} <= set(texts(root))
    root = parse(line_chart([daily("db-01 /data", [50, 60])], unit="%"))
    assert not [el for el in root.iter(f"{SVG}line") if "stroke-dasharray" in el.attrib]


@pytest.mark.parametrize("span", [
    timedelta(days=182), timedelta(days=30), timedelta(days=7), timedelta(days=3),
    timedelta(hours=10), timedelta(days=400), timedelta(minutes=40),
])
def test_four_to_six_time_labels_in_order(span: timedelta) -> None:
    points = [(START + span * i / 20, 50.0) for i in range(21)]
    root = parse(line_chart([ChartSeries("a", points)], unit="%",
                            date_format=lambda d: d.strftime("%Y-%m-%d %H:%M:%S")))
    labels = x_labels(root)
    assert 4 <= len(labels) <= 6
    assert labels == sorted(labels)
    assert len(set(labels)) == len(labels)
    assert all(START <= datetime.fromisoformat(lab).replace(tzinfo=UTC) <= START + span
               for lab in labels)


def test_default_dates_show_the_time_when_ticks_are_finer_than_a_day() -> None:
    week = parse(line_chart([daily("a", [1, 2, 3, 4, 5, 6, 7, 8])], unit="%"))
    assert x_labels(week)[0] == "10-01"
    hours = [(START + timedelta(hours=h), 5.0) for h in range(12)]
    assert x_labels(parse(line_chart([ChartSeries("a", hours)], unit="%")))[0] == "10-01 00:00"


def test_dates_are_placed_at_midnight_of_the_given_zone() -> None:
    # 16:00 UTC is midnight of the next day in Shanghai: there the first tick is the first point
    evenings = ChartSeries("a", [(START + timedelta(days=d, hours=16), 50.0) for d in range(8)])
    for zone, offset_hours in ((None, 8.0), (ZoneInfo("Asia/Shanghai"), 0.0)):
        root = parse(line_chart([evenings], unit="%", zone=zone))
        left, _, right, _ = plot_box(root)
        first = next(el for el in root.iter(f"{SVG}text") if el.text == "10-02")
        expected = left + offset_hours / (7 * 24) * (right - left)
        assert float(first.attrib["x"]) == pytest.approx(expected, abs=0.15)


def test_labels_are_escaped_text_never_markup() -> None:
    svg = line_chart([daily("<script>alert(1)</script>", [1, 2]), daily("R&D \"core\"", [3, 4]),
                      daily("bad\x00\x1bname", [5, 6])],
                     unit="%", title="<b>Disk</b> & more", empty_text="<none>")
    root = parse(svg)
    assert not list(root.iter(f"{SVG}script"))
    assert not list(root.iter("script"))
    labels = texts(root)
    assert "<script>alert(1)</script>" in labels
    assert 'R&D "core"' in labels
    assert "badname" in labels
    assert "<b>Disk</b> & more" in labels
    assert "<script>" not in str(svg)


def test_no_series_or_no_points_gives_the_empty_text_at_the_same_size() -> None:
    for series in ([], [ChartSeries("db-01", [])], [ChartSeries("x", [(START, float("nan"))])]):
        root = parse(line_chart(series, unit="%", width=600, height=220, empty_text="本期无数据"))
        assert (root.attrib["width"], root.attrib["height"]) == ("600", "220")
        assert "本期无数据" in texts(root)
        assert not list(root.iter(f"{SVG}polyline"))
        message = next(el for el in root.iter(f"{SVG}text") if el.text == "本期无数据")
        assert float(message.attrib["x"]) == 300
        assert message.attrib["text-anchor"] == "middle"


def test_a_single_point_still_shows() -> None:
    root = parse(line_chart([ChartSeries("db-01 /data", [(START, 42.0)])], unit="%"))
    left, _, right, _ = plot_box(root)
    group = series_groups(root)[0]
    assert group.find(f"{SVG}polyline") is None
    circles = group.findall(f"{SVG}circle")
    assert len(circles) == 1
    assert float(circles[0].attrib["cx"]) == pytest.approx((left + right) / 2, abs=0.1)
    assert x_labels(root) == ["10-01"]


def test_legend_lists_each_series_and_overflows_with_a_count() -> None:
    names = ["db-01 /data", "数据库-02 /var", "web-03 /"]
    root = parse(line_chart([daily(n, [1, 2]) for n in names], unit="%"))
    assert set(names) <= set(texts(root))

    crowded = [daily(f"very-long-device-name-{i:02d}.example.com /var/lib/data", [1, 2])
               for i in range(12)]
    root = parse(line_chart(crowded, unit="%", width=400, height=260))
    assert len(series_groups(root)) == 12  # every series is drawn
    shown = [t for t in texts(root) if t.startswith("very-long")]
    assert len(shown) < 12
    assert f"+{12 - len(shown)}" in texts(root)
    assert all(float(el.attrib["y"]) <= 260 for el in root.iter(f"{SVG}text"))
    more = next(el for el in root.iter(f"{SVG}text") if (el.text or "").startswith("+"))
    assert float(more.attrib["x"]) + 6 * len(more.text or "") <= 400


@given(
    values=st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1,
                    max_size=30),
    seconds=st.lists(st.integers(min_value=0, max_value=3 * 365 * 86400), min_size=1,
                     max_size=30),
    unit=st.sampled_from(["%", "°C", "MB", ""]),
    crit=st.none() | st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
def test_any_data_gives_well_formed_svg_with_every_point_in_the_plot(
        values: list[float], seconds: list[int], unit: str, crit: float | None) -> None:
    points = [(START + timedelta(seconds=s), v) for s, v in zip(seconds, values, strict=False)]
    root = parse(line_chart([ChartSeries("x", points)], unit=unit, crit=crit))
    left, top, right, bottom = plot_box(root)
    group = series_groups(root)[0]
    coords = ([(float(c.attrib["cx"]), float(c.attrib["cy"]))
               for c in group.findall(f"{SVG}circle")] if len(points) <= 12
              else polyline_points(group))
    assert len(coords) == len(points)
    assert all(left - 0.1 <= x <= right + 0.1 and top - 0.1 <= y <= bottom + 0.1
               for x, y in coords)
    assert 3 <= len(y_axis(root)) <= 7
    assert 1 <= len(x_labels(root)) <= 6


def test_five_series_of_200_points_render_in_well_under_10_ms() -> None:
    rng = random.Random(5)
    series = [ChartSeries(f"db-0{i} /data", [(START + timedelta(hours=6 * k),
                                              rng.uniform(20, 90)) for k in range(200)])
              for i in range(5)]
    line_chart(series, unit="%", warn=80, crit=90)
    best = min(_timed(lambda: line_chart(series, unit="%", warn=80, crit=90)) for _ in range(5))
    assert best < 0.010


def _timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


# --- state bar ----------------------------------------------------------------------------


def test_state_bar_segments_are_proportional_to_counts() -> None:
    counts = [("OK", 12, STATE_COLOURS["OK"]), ("WARN", 3, STATE_COLOURS["WARN"]),
              ("CRIT", 1, STATE_COLOURS["CRIT"]), ("UNKNOWN", 0, STATE_COLOURS["UNKNOWN"])]
    root = parse(state_bar(counts, width=640, height=28))
    rects = list(root.iter(f"{SVG}rect"))
    assert [r.attrib["fill"] for r in rects] == [STATE_COLOURS[s] for s in ("OK", "WARN", "CRIT")]
    widths = [float(r.attrib["width"]) for r in rects]
    assert widths == pytest.approx([480.0, 120.0, 40.0], abs=0.01)
    starts = [float(r.attrib["x"]) for r in rects]
    assert starts == pytest.approx([0.0, 480.0, 600.0], abs=0.01)
    # counts inside segments wide enough; dark text on amber, white on green
    labels = {el.text: el.attrib["fill"] for el in root.iter(f"{SVG}text")}
    assert labels["OK 12"] == "#ffffff"
    assert labels["WARN 3"] == "#212121"
    assert "1" in labels or "CRIT 1" in labels


def test_state_bar_leaves_out_text_that_does_not_fit() -> None:
    root = parse(state_bar([("正常", 99, STATE_COLOURS["OK"]), ("严重", 1, STATE_COLOURS["CRIT"])],
                           width=300))
    assert [el.text for el in root.iter(f"{SVG}text")] == ["正常 99"]
    assert len(list(root.iter(f"{SVG}rect"))) == 2


def test_state_bar_all_zero_is_an_empty_grey_bar() -> None:
    root = parse(state_bar([("OK", 0, STATE_COLOURS["OK"]), ("CRIT", 0, STATE_COLOURS["CRIT"])],
                           width=500, height=20))
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 1
    assert (rects[0].attrib["width"], rects[0].attrib["height"]) == ("500", "20")
    assert rects[0].attrib["fill"] not in STATE_COLOURS.values()
    assert parse(state_bar([])).find(f"{SVG}rect") is not None


def test_state_bar_escapes_labels_and_refuses_negative_counts() -> None:
    root = parse(state_bar([("<i>OK</i> & co", 5, STATE_COLOURS["OK"])]))
    assert [el.text for el in root.iter(f"{SVG}text")] == ["<i>OK</i> & co 5"]
    with pytest.raises(ReportError, match="negative"):
        state_bar([("OK", -1, STATE_COLOURS["OK"])])


# --- through WeasyPrint -------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_weasyprint_prints_the_chinese_legend_with_the_cjk_font(
        caplog: pytest.LogCaptureFixture) -> None:
    weasyprint = pytest.importorskip("weasyprint")
    chart = line_chart([daily("数据库-01 /data", [60, 65, 70, 74]),
                        daily("web-02 /var", [30, 31, 33, 32])],
                       unit="%", warn=80, crit=90, title="文件系统使用率")
    bar = state_bar([("正常", 7, STATE_COLOURS["OK"]), ("警告", 2, STATE_COLOURS["WARN"])])
    html = f'<!doctype html><html lang="zh-CN"><body>{chart}{bar}</body></html>'
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        pdf = weasyprint.HTML(string=html).write_pdf()
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("weasyprint")]
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    assert "数据库-01 /data" in text
    assert "文件系统使用率" in text
    assert "正常 7" in text
    assert "90%" in text
    fonts = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True, check=False)
    if fonts.returncode == 0:  # older poppler cannot read stdin; the text check stands alone
        assert "CJK" in fonts.stdout.decode()
