"""When will the pile be gone: the ETA from crafted rollups, and completion times from their counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from control.dashboard import EtaState, backlog_eta, completion_percentile, eta_from_minutes
from control.models import OrderRollup
from control.rollups import COMPLETION_BOUNDS_SECONDS, floor_time

NOW = floor_time(timezone.now(), 60)


def minutes(*rows, open_at_end: int) -> list[OrderRollup]:
    """Minute rollups ending with the current minute: (received, completed, rejected, cancelled) per complete minute."""
    built = [
        OrderRollup(span=60, start=NOW - timedelta(minutes=len(rows) - index), received=received, completed=completed,
                    rejected=rejected, cancelled=cancelled, updated_at=NOW)
        for index, (received, completed, rejected, cancelled) in enumerate(rows)
    ]  # fmt: skip
    return [*built, OrderRollup(span=60, start=NOW, received=999, completed=0, open_at_end=open_at_end, updated_at=NOW)]


def test_clearing_faster_than_orders_arrive_gives_the_minutes_until_none_is_left():
    rows = minutes(*[(10, 25, 3, 2)] * 30, open_at_end=600)  # 10 in, 30 out a minute: 20 fewer each minute

    eta = eta_from_minutes(rows, window_minutes=30, current=NOW)

    assert eta.state == EtaState.CLEARING
    assert (eta.received, eta.cleared, eta.open_orders) == (300, 900, 600)
    assert eta.net_per_minute == 20
    assert eta.minutes_left == pytest.approx(30)
    assert eta.clears_at == NOW + timedelta(minutes=30)


def test_intake_outrunning_clearance_is_not_clearing():
    eta = eta_from_minutes(minutes(*[(40, 25, 0, 0)] * 30, open_at_end=5000), window_minutes=30, current=NOW)

    assert eta.state == EtaState.NOT_CLEARING
    assert eta.minutes_left is None and eta.clears_at is None
    assert (eta.intake_per_minute, eta.clearance_per_minute) == (40, 25)


def test_as_many_in_as_out_is_not_clearing_either():
    eta = backlog_eta(open_orders=120, received=300, cleared=300, window_minutes=30, as_of=NOW)
    assert eta.state == EtaState.NOT_CLEARING


def test_nothing_moving_with_failed_orders_open_is_not_clearing():
    eta = backlog_eta(open_orders=3, received=0, cleared=0, window_minutes=30, as_of=NOW)
    assert eta.state == EtaState.NOT_CLEARING


def test_nothing_open_is_clear_whatever_the_rates():
    eta = backlog_eta(open_orders=0, received=50, cleared=10, window_minutes=30, as_of=NOW)
    assert eta.state == EtaState.CLEAR and eta.minutes_left is None


def test_only_the_complete_minutes_of_the_window_count():
    # 60 minutes of history; the window is the last 30 complete ones; the current minute's 999 is left out.
    rows = minutes(*([(100, 0, 0, 0)] * 30 + [(0, 10, 0, 0)] * 30), open_at_end=50)

    eta = eta_from_minutes(rows, window_minutes=30, current=NOW)

    assert (eta.received, eta.cleared) == (0, 300)
    assert eta.minutes_left == pytest.approx(5)


def test_completion_percentiles_interpolate_inside_the_bucket():
    counts = [0] * (len(COMPLETION_BOUNDS_SECONDS) + 1)
    counts[0] = 50  # under 10 s
    counts[2] = 50  # 30–60 s
    assert completion_percentile(counts, 0.5) == pytest.approx(10)
    assert completion_percentile(counts, 0.95) == pytest.approx(30 + 30 * 45 / 50)
    assert completion_percentile([0] * len(counts), 0.5) is None


def test_a_percentile_past_the_last_bound_is_given_as_that_bound():
    counts = [0] * (len(COMPLETION_BOUNDS_SECONDS) + 1)
    counts[-1] = 10
    assert completion_percentile(counts, 0.95) == COMPLETION_BOUNDS_SECONDS[-1]
