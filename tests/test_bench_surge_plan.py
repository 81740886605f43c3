"""bench/surge.py plans the surge it promises: reproducible from its seed, ordinary orders that are ordinary, anomalies of three kinds."""

from argparse import Namespace
from collections import Counter, defaultdict

import pytest

from bench.surge import ADDON_EXCESS, ORDINARY, OVER_CAP, RESUBMISSION, plan_surge
from orders.duplicates import normalize_po_number


def plan(seed=7, orders=900, customers=60, anomalies=0.05):
    args = Namespace(seed=seed, orders=orders, customers=customers, anomalies=anomalies, addon_customers=1 / 3, lost_responses=0.01, clients=4)
    return plan_surge(args, totals_of=lambda lines: sum(quantity * 5000 for _sku, quantity in lines))


def summary(surge):
    return [(s.customer, s.po_number, tuple(s.lines), s.kind, s.key, s.lose_first_response) for s in surge.submissions]


def test_the_same_seed_plans_the_same_surge_and_another_seed_another():
    assert summary(plan(seed=7)) == summary(plan(seed=7))
    assert plan(seed=7).credit_limits == plan(seed=7).credit_limits
    assert summary(plan(seed=7)) != summary(plan(seed=8))


def test_every_planned_order_is_sent_once_by_one_client_each_customer_in_its_own_order():
    surge = plan()
    sent = [submission for stream in surge.streams for submission in stream]

    assert sorted(s.key for s in sent) == sorted(s.key for s in surge.submissions)
    assert len({s.key for s in sent}) == 900
    clients_of = defaultdict(set)
    for index, stream in enumerate(surge.streams):
        for submission in stream:
            clients_of[submission.customer].add(index)
    assert all(len(clients) == 1 for clients in clients_of.values())


def test_ordinary_orders_never_repeat_a_customers_lines_and_add_on_seats_stay_within_half_the_base():
    surge = plan()
    seen = defaultdict(set)
    for submission in surge.submissions:
        if submission.kind != ORDINARY:
            continue
        lines = dict(submission.lines)
        assert lines["SRA-1Y"] <= 1000
        assert lines.get("RDA-1Y", 0) <= lines["SRA-1Y"] // 2
        assert frozenset(submission.lines) not in seen[submission.customer]
        seen[submission.customer].add(frozenset(submission.lines))
    customers_with_addons = {s.customer for s in surge.submissions if s.kind == ORDINARY and len(s.lines) == 2}
    assert len(customers_with_addons) == pytest.approx(20, abs=2)  # a third of 60, less those ordering single seats only


def test_anomalies_are_the_share_asked_for_in_three_kinds_each_certain_to_be_held():
    surge = plan()
    kinds = Counter(s.kind for s in surge.submissions)
    assert kinds[OVER_CAP] == kinds[ADDON_EXCESS] == kinds[RESUBMISSION] == 15
    base_seats = Counter()
    for s in surge.submissions:
        if s.kind == ORDINARY:
            base_seats[s.customer] += dict(s.lines)["SRA-1Y"]
    earlier = {(s.customer, s.po_number): s for s in surge.submissions if s.kind == ORDINARY}
    for s in surge.submissions:
        if s.kind == OVER_CAP:
            assert dict(s.lines)["SRA-1Y"] >= 5000
        elif s.kind == ADDON_EXCESS:
            assert dict(s.lines)["RDA-1Y"] > base_seats[s.customer]
        elif s.kind == RESUBMISSION:
            original = earlier[(s.customer, s.original_po)]
            assert s.lines == original.lines and s.po_number != original.po_number
            assert normalize_po_number(s.po_number) == normalize_po_number(original.po_number)
            assert surge.submissions.index(original) < surge.submissions.index(s)


def test_credit_limits_hold_each_customers_ordinary_orders():
    surge = plan()
    ordinary = Counter()
    for s in surge.submissions:
        if s.kind == ORDINARY:
            ordinary[s.customer] += sum(quantity * 5000 for _sku, quantity in s.lines)
    assert all(surge.credit_limits[customer] >= 1.3 * total for customer, total in ordinary.items())
