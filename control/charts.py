"""Line charts drawn on the server as SVG: the geometry here, the markup in control/_chart.html.

Nothing to load in the browser and nothing from a CDN: a chart is a few
paths, its grid and its labels. A series may have gaps (None), where the line
breaks instead of dropping to zero.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

WIDTH, HEIGHT = 720, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 12, 26


@dataclass(frozen=True)
class Line:
    key: str  # CSS class of the line and its legend entry
    label: str
    path: str  # SVG path data
    area: str  # the same line closed down to the x axis, filled lightly; empty for a line alone
    latest: int | None  # the last value, for the legend
    total: int


@dataclass(frozen=True)
class Tick:
    position: str  # SVG coordinate, already written out
    label: str
    anchor: str = "middle"  # text-anchor: a label at the right edge ends there instead of running over it


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    empty: bool
    y_label_x: int  # where the y axis's labels end
    x_label_y: int  # the baseline of the x axis's labels


def nice_ceiling(value: float) -> int:
    """The top of the y axis: four equal whole-number steps of 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10ⁿ, at or above `value`."""
    step_needed = max(value / 4, 1)
    magnitude = 10 ** math.floor(math.log10(step_needed))
    for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= step_needed and step == int(step):
            return int(step) * 4
    return int(10 * magnitude) * 4


def line_chart(
    *,
    title: str,
    unit: str,
    starts: Sequence[datetime],
    series: Sequence[tuple[str, str, Sequence[int | None]]],
    tick_every: Callable[[datetime], str | None],
    filled: Sequence[str] = (),
) -> Chart:
    """A chart of `series` ((key, label, values)) over the spans that begin at `starts`.

    `tick_every(start)` gives the x-axis label of a span, or None for no tick
    there. The series named in `filled` (without gaps) are drawn as areas under
    their line, so that a second line over them stays readable where the two meet.
    """
    count = max(len(starts), 1)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    peak = max((value for _key, _label, values in series for value in values if value is not None), default=0)
    top_value = nice_ceiling(peak)

    def x(index: int) -> float:
        return LEFT + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y(value: int) -> float:
        return TOP + plot_height * (1 - value / top_value)

    lines = []
    for key, label, values in series:
        commands, pen_down = [], False
        for index, value in enumerate(values):
            if value is None:
                pen_down = False
                continue
            alone = not pen_down and (index + 1 == len(values) or values[index + 1] is None)
            # A point with no neighbour is drawn as a dot (a zero-length line with round caps).
            commands.append(f"{'L' if pen_down else 'M'}{x(index):.1f},{y(value):.1f}{' h0' if alone else ''}")
            pen_down = True
        known = [value for value in values if value is not None]
        area = ""
        if key in filled and commands and len(known) == len(values):
            baseline = f"{y(0):.1f}"
            points = " L".join(command[1:].removesuffix(" h0") for command in commands)
            area = f"M{x(0):.1f},{baseline} L{points} L{x(len(values) - 1):.1f},{baseline} Z"
        lines.append(
            Line(key=key, label=label, path=" ".join(commands), area=area, latest=known[-1] if known else None, total=sum(known))
        )
    y_ticks = [Tick(position=f"{y(top_value * step / 4):.1f}", label=f"{top_value * step // 4:,}") for step in range(5)]
    x_ticks = []
    first_local = timezone.localtime(starts[0]) if starts else None
    step = starts[1] - starts[0] if len(starts) > 1 else None
    for index in range(len(starts)):
        # Wall-clock steps from the first span: Japan keeps no summer time, and this is a thousand times cheaper.
        label = tick_every(first_local + index * step if step else first_local)
        if label is not None:
            anchor = "end" if x(index) > WIDTH - RIGHT - 20 else "middle"
            x_ticks.append(Tick(position=f"{x(index):.1f}", label=label, anchor=anchor))
    return Chart(
        title=title, unit=unit, width=WIDTH, height=HEIGHT, plot_left=LEFT, plot_right=WIDTH - RIGHT,
        plot_top=TOP, plot_bottom=HEIGHT - BOTTOM, lines=lines, y_ticks=y_ticks, x_ticks=x_ticks,
        empty=peak == 0, y_label_x=LEFT - 6, x_label_y=HEIGHT - BOTTOM + 17,
    )  # fmt: skip


def every_three_hours(local: datetime) -> str | None:
    return f"{local:%H}:00" if local.minute == 0 and local.hour % 3 == 0 else None


def every_five_days(local: datetime) -> str | None:
    return f"{local.month}/{local.day}" if local.hour == 0 and (local.toordinal() % 5 == 0) else None
