"""What /metrics reads at scrape time: the orders (from the last rollup), the queues and the workers.

Counters of orders come from the running totals of the newest minute rollup
(control.rollups), so a scrape reads one row instead of counting the orders;
they are at most a rollup interval behind, and
`orderdesk_rollup_last_run_timestamp_seconds` says how far. The queues are
read off the broker, the workers off their heartbeat rows.
"""

import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from control.models import OrderRollup
from orderdesk import machinery

FINAL_COUNTS = ("completed", "rejected", "cancelled")


class OrderdeskCollector:
    def collect(self):
        latest = OrderRollup.objects.filter(span=OrderRollup.Span.MINUTE).order_by("-start").first()
        yield from self._orders(latest)
        yield from self._queues()
        yield from self._workers()

    def _orders(self, latest: OrderRollup | None):
        totals = latest.totals if latest else {}
        received = CounterMetricFamily("orderdesk_orders_received", "Orders received, by source.", labels=["source"])
        finished = CounterMetricFamily(
            "orderdesk_orders_finished", "Orders that reached a final state, by source and status.", labels=["source", "status"]
        )
        failed = CounterMetricFamily("orderdesk_orders_failed", "Orders that went failed (technical error after retries), by source.", labels=["source"])
        for source, counts in sorted(totals.items()):
            received.add_metric([source], counts.get("received", 0))
            for status in FINAL_COUNTS:
                finished.add_metric([source, status], counts.get(status, 0))
            failed.add_metric([source], counts.get("failed", 0))
        yield from (received, finished, failed)
        yield GaugeMetricFamily("orderdesk_orders_open", "Orders not in a final state.", value=latest.open_at_end if latest else 0)
        backlog = (latest.backlog if latest else None) or {}
        yield GaugeMetricFamily("orderdesk_backlog_orders", "Orders waiting for a person (the backlog).", value=backlog.get("total", 0))
        by_state = GaugeMetricFamily("orderdesk_backlog_orders_by_state", "Backlog orders by state.", labels=["state"])
        for state in ("needs_review", "failed", "stuck", "unclaimed"):
            by_state.add_metric([state], backlog.get(state, 0))
        yield by_state
        by_reason = GaugeMetricFamily(
            "orderdesk_backlog_orders_with_reason", "Backlog orders with each review reason (an order with two counts under both).", labels=["reason"]
        )
        for reason, count in sorted((backlog.get("by_reason") or {}).items()):
            by_reason.add_metric([reason], count)
        yield by_reason
        by_age = GaugeMetricFamily("orderdesk_backlog_orders_by_age", "Backlog orders by age band (BACKLOG_SLA_*).", labels=["band"])
        for band, count in sorted((backlog.get("by_age") or {}).items()):
            by_age.add_metric([band], count)
        yield by_age
        yield GaugeMetricFamily(
            "orderdesk_rollup_last_run_timestamp_seconds",
            "When the order rollups were last written (Unix time); the order metrics are as of then.",
            value=latest.updated_at.timestamp() if latest else 0,
        )

    def _queues(self):
        up = GaugeMetricFamily("orderdesk_broker_up", "1 when the broker answered this scrape.")
        messages = GaugeMetricFamily("orderdesk_queue_messages", "Messages waiting in each Celery queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "orderdesk_queue_oldest_message_age_seconds", "How long the oldest waiting message of each queue has waited.", labels=["queue"]
        )
        try:
            states = machinery.queue_states()
        except machinery.BrokerUnreachable:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for state in states:
            messages.add_metric([state.name], state.messages)
            oldest.add_metric([state.name], state.oldest_age_seconds or 0)
        yield from (up, messages, oldest)

    def _workers(self):
        workers = machinery.worker_states()
        yield GaugeMetricFamily("orderdesk_workers_live", "Celery workers with a recent heartbeat.", value=sum(w.live for w in workers))
        beats = GaugeMetricFamily(
            "orderdesk_worker_last_heartbeat_timestamp_seconds", "Each worker's last heartbeat (Unix time).", labels=["worker"]
        )
        for worker in workers:
            beats.add_metric([worker.name], worker.seen_at.timestamp())
        yield beats
        yield GaugeMetricFamily("orderdesk_scrape_timestamp_seconds", "When this scrape was answered (Unix time).", value=time.time())
