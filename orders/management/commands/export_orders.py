"""manage.py export_orders [--format csv|xlsx] [--status …] [--since DATE] [--until DATE] [-o FILE]: the /imports/ export."""

import shutil
import sys
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from orders import exports
from orders.models import Order


class Command(BaseCommand):
    help = "Export orders (one row per line) as CSV or XLSX, formula-safe, as /imports/ does. CSV streams."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--encoding", choices=["utf-8", "cp932"], default="utf-8", help="CSV only (UTF-8 is written with a BOM).")
        parser.add_argument("--status", action="append", choices=Order.Status.values, default=[], help="Repeat for several.")
        parser.add_argument("--since", type=date.fromisoformat, help="Received on or after this day (Japan), YYYY-MM-DD.")
        parser.add_argument("--until", type=date.fromisoformat, help="Received on or before this day (Japan), YYYY-MM-DD.")
        parser.add_argument("--language", choices=["ja", "en"], default="ja", help="Headers and status names.")
        parser.add_argument("-o", "--output", help="The file to write (standard output when not given).")

    def handle(self, *args, format, encoding, status, since, until, language, output, **options):
        if since and until and since > until:
            raise CommandError("--until is before --since.")
        if format == "xlsx" and not output:
            raise CommandError("XLSX needs -o FILE.")
        orders = exports.orders_for_export(statuses=status, since=since, until=until)
        with translation.override(language):
            rows = exports.export_rows(orders, language=language)
            target = open(output, "wb") if output else sys.stdout.buffer  # noqa: SIM115
            try:
                if format == "xlsx":
                    shutil.copyfileobj(exports.xlsx_file(rows, title="orders"), target)
                else:
                    for chunk in exports.csv_chunks(rows, encoding=encoding):
                        target.write(chunk)
            finally:
                if output:
                    target.close()
                else:
                    target.flush()
