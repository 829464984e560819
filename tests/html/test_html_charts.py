"""The hand-drawn SVG charts: scales, ticks, bars, marks, lines and their gaps."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from bulkpatch.html.charts import (
    BOTTOM,
    HEIGHT,
    MARKS_TOP,
    LatencyPoint,
    RatePoint,
    clock,
    latency_chart,
    ms_label,
    nice_step,
    rate_chart,
    time_ticks,
    value_ticks,
)


def rate(x: float, r: float, target: float | None = 10.0, **flags: bool) -> RatePoint:
    return RatePoint(
        x,
        x + 1,
        r,
        target,
        flags.get("throttled", False),
        flags.get("server_error", False),
        flags.get("breaker", False),
    )


def paths(svg: str) -> dict[str, str]:
    root = ElementTree.fromstring(svg)
    return {p.get("class", ""): p.get("d", "") for p in root.iter("path")}


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ElementTree.fromstring(svg).iter("text")]


def test_steps_are_round_and_ticks_cover_the_top() -> None:
    assert nice_step(100, 5) == 20
    assert nice_step(7, 5) == 2
    assert nice_step(0.3, 3) == 0.1
    assert nice_step(83, 4) == 25
    assert value_ticks(83) == [0, 50, 100]
    assert value_ticks(105) == [0, 25, 50, 75, 100, 125]
    assert value_ticks(1) == [0, 0.5, 1.0]
    assert time_ticks(300) == [0, 60, 120, 180, 240, 300]
    assert time_ticks(30) == [0, 5, 10, 15, 20, 25, 30]


def test_clock_and_latency_labels_read_as_people_write_them() -> None:
    assert clock(0) == "0:00"
    assert clock(75) == "1:15"
    assert clock(3725) == "1:02:05"
    assert ms_label(250) == "250 ms"
    assert ms_label(1500) == "1.5 s"


def test_each_second_with_requests_is_one_bar_as_tall_as_its_rate() -> None:
    svg = rate_chart([rate(0, 100), rate(1, 0), rate(2, 50)], [(1, 0.0)], 3)
    bars = paths(svg)["bar"]
    assert bars.count("M") == 2  # the empty second draws nothing
    tops = [float(v) for v in re.findall(r"V([\d.]+)H", bars)]
    base = HEIGHT - BOTTOM
    full, half = (base - tops[0]), (base - tops[1])
    assert 0.75 * (base - MARKS_TOP) < full <= base - MARKS_TOP  # the top tick is above 100
    assert abs(half - full / 2) < 0.2


def test_seconds_with_429s_or_5xx_are_marked_and_the_breaker_shaded() -> None:
    points = [
        rate(0, 10),
        rate(1, 10, throttled=True),
        rate(2, 10, server_error=True),
        rate(3, 0, breaker=True),
        rate(4, 10, throttled=True, server_error=True),
    ]
    drawn = paths(rate_chart(points, [(1, 0.0)], 5))
    assert drawn["m429"].count("M") == 2
    assert drawn["m5xx"].count("M") == 2
    assert drawn["brk"].count("M") == 1


def test_the_target_line_breaks_where_the_rate_is_unlimited_or_no_second_was_sampled() -> None:
    points = [rate(0, 5), rate(1, 5), rate(2, 5, target=None), rate(3, 5), rate(9, 5)]
    target = paths(rate_chart(points, [(1, 0.0)], 10))["target"]
    assert target.count("M") == 3  # 0-2, 3-4, 9-10


def test_later_sessions_are_divided_and_named() -> None:
    svg = rate_chart([rate(0, 1), rate(1, 1)], [(1, 0.0), (3, 1.0)], 2)
    assert "session 3" in texts(svg)
    assert "session 1" not in texts(svg)
    assert len(list(ElementTree.fromstring(svg).iter("line"))) > 0


def test_latency_lines_break_where_a_second_had_no_answers_and_go_log_over_two_decades() -> None:
    points = [
        LatencyPoint(0, 1, 5, 20, 40),
        LatencyPoint(1, 2, None, None, None),
        LatencyPoint(2, 3, 6, 30, 2500),
    ]
    svg = latency_chart(points, [(1, 0.0)], 3)
    drawn = paths(svg)
    assert drawn["p99"].count("M") == 2
    assert [t for t in texts(svg) if t.endswith("s")][:4] == ["1 ms", "10 ms", "100 ms", "1 s"]
    linear = latency_chart([LatencyPoint(0, 1, 10, 20, 40)], [(1, 0.0)], 1)
    assert "0 ms" in texts(linear)


def test_charts_of_nothing_still_draw_axes_without_failing() -> None:
    for svg in (rate_chart([], [], 0), latency_chart([], [], 0)):
        root = ElementTree.fromstring(svg)
        assert root.tag == "svg"
        assert root.get("viewBox") == f"0 0 640 {HEIGHT}"
