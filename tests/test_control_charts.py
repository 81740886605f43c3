"""The dashboard's charts, drawn on the server: axes in whole steps, gaps as breaks, labels where the hours are."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from control.charts import every_three_hours, line_chart, nice_ceiling


@pytest.mark.parametrize("peak, top", [(0, 4), (3, 4), (13, 16), (50, 60), (99, 100), (1234, 1600)])
def test_the_y_axis_ends_on_a_value_with_four_whole_steps(peak, top):
    assert nice_ceiling(peak) == top


def chart(values):
    start = timezone.make_aware(datetime(2026, 12, 1, 0, 0), timezone.get_current_timezone())
    starts = [start + timedelta(hours=index) for index in range(len(values))]
    return line_chart(title="t", unit="orders", starts=starts, series=[("open", "Open", values)], tick_every=every_three_hours)


def test_a_gap_breaks_the_line_and_a_lonely_point_is_a_dot():
    line = chart([1, 2, None, 4, None, 6, 7]).lines[0]
    assert line.path.count("M") == 3
    assert " h0" in line.path.split("M")[2]  # the 4, alone between two gaps
    assert line.latest == 7 and line.total == 20


def test_ticks_at_every_third_hour_and_the_grid_at_whole_steps():
    drawn = chart([0, 10, 20, 30, 40, 50, 41])
    assert [tick.label for tick in drawn.x_ticks] == ["00:00", "03:00", "06:00"]
    assert [tick.label for tick in drawn.y_ticks] == ["0", "15", "30", "45", "60"]
    assert not drawn.empty
    assert chart([0, 0, 0]).empty
