"""Roll the orders up now, further back than the periodic task does (the first run reaches back 30 days)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from control.rollups import orders_rollup


class Command(BaseCommand):
    help = "Recompute the dashboard's rollups of the last N days from the orders (default: what the periodic task does)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="recompute this many days back (e.g. 30 after importing old orders)")

    def handle(self, *args, days=None, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be 1 or more")
        since = timezone.now() - timedelta(days=days) if days else None
        result = orders_rollup(since=since)
        self.stdout.write(f"rolled up {result.minutes} minutes from {result.start:%Y-%m-%d %H:%M} UTC; {result.open_now} orders open")
