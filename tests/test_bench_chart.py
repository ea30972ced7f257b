"""The bench's SVG chart (bench/chart.py): well-formed, every series drawn where its numbers say."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bench import chart

SVG = "{http://www.w3.org/2000/svg}"
USERS = [1_000, 10_000, 50_000, 100_000]


def render() -> ET.Element:
    text = chart.render(
        title="Cost curves, 2026-01-01, SQLite 3.40.1",
        subtitle="50 ms a request <fake> & more",
        x_values=USERS,
        x_label="users",
        panels=[
            chart.Panel("Requests", "", log_y=True, series=[
                chart.Series("first sync", [47, 423, 1496, 2812]),
                chart.Series("re-sync", [47, 415, 1451, 2722]),
                chart.Series("minimum", [47, 423, 1357, 2407], dashed=True),
            ]),
            chart.Panel("Peak RSS", "MB", log_x=False, series=[
                chart.Series("first sync", [74, 93, 160, 219]),
                chart.Series("300 MB target", [300.0] * 4, dashed=True),
                chart.Series("only some", [None, 80, None, 120]),
            ]),
        ],
    )
    return ET.fromstring(text)  # raises on XML that is not well-formed


def panel(root: ET.Element, title: str) -> ET.Element:
    return next(g for g in root.iter(f"{SVG}g") if g.get("data-title") == title)


def series(root: ET.Element, panel_title: str, name: str) -> list[tuple[float, float]]:
    group = next(g for g in panel(root, panel_title).iter(f"{SVG}g") if g.get("data-series") == name)
    points = group.find(f"{SVG}polyline").get("points").split()
    return [tuple(map(float, point.split(","))) for point in points]


def texts(element: ET.Element) -> list[str]:
    return ["".join(text.itertext()) for text in element.iter(f"{SVG}text")]


def test_the_chart_is_an_svg_on_white_with_its_title():
    root = render()
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}rect").get("fill") == "#ffffff"
    assert "Cost curves, 2026-01-01, SQLite 3.40.1" in texts(root)
    assert "50 ms a request <fake> & more" in texts(root)  # escaped, and read back as written


def test_each_panel_labels_its_axes_and_names_its_series():
    root = render()
    requests = texts(panel(root, "Requests"))
    assert {"1k", "10k", "50k", "100k"} <= set(requests)
    assert {"first sync", "re-sync", "minimum", "users (log scale)"} <= set(requests)
    memory = texts(panel(root, "Peak RSS"))
    assert {"0 MB", "100 MB", "200 MB", "300 MB", "users", "300 MB target", "only some"} <= set(memory)


def test_points_follow_the_numbers():
    root = render()
    first = series(root, "Requests", "first sync")
    assert len(first) == 4
    xs, ys = zip(*first)
    assert list(xs) == sorted(xs) and len(set(xs)) == 4  # left to right, by users
    assert list(ys) == sorted(ys, reverse=True)  # more requests, higher up (smaller y)
    # On a log scale 1k → 10k spans as much width as 10k → 100k.
    assert xs[1] - xs[0] == pytest.approx(xs[3] - xs[1], abs=0.2)
    # Equal numbers, equal places: the first sync meets its minimum at 1,000 and 10,000 users.
    assert first[:2] == series(root, "Requests", "minimum")[:2]


def test_a_linear_panel_places_values_in_proportion():
    root = render()
    rss = series(root, "Peak RSS", "first sync")
    target = series(root, "Peak RSS", "300 MB target")
    bottom = chart.PLOT_BOTTOM  # y of zero
    heights = [bottom - y for _, y in rss]
    assert heights[3] / heights[0] == pytest.approx(219 / 74, rel=0.01)
    assert [y for _, y in target] == [chart.PLOT_TOP] * 4  # 300 MB is the top tick


def test_bounds_are_dashed_and_missing_values_are_left_out():
    root = render()
    requests = panel(root, "Requests")
    dashed = {g.get("data-series") for g in requests.iter(f"{SVG}g") if g.get("data-dashed") == "true"}
    assert dashed == {"minimum"}
    minimum = next(g for g in requests.iter(f"{SVG}g") if g.get("data-series") == "minimum")
    assert minimum.find(f"{SVG}polyline").get("stroke-dasharray")
    assert not minimum.findall(f"{SVG}circle")  # a bound has no measured points
    assert len(series(root, "Peak RSS", "only some")) == 2
