"""manage.py import_orders FILE [--dry-run] [--sheet NAME] [--user NAME]: the /imports/ import, for scripts and cron."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from orders.services.imports import ImportRefused, Outcome, import_preview, import_run, import_start


class Command(BaseCommand):
    help = (
        "Import orders from a CSV or XLSX file, as /imports/ does (through the same order service). "
        "--dry-run prints every row's result and stores nothing. Exits with 1 when any row fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Preview only: print each row's result, store nothing.")
        parser.add_argument("--sheet", default="", help="The XLSX sheet to read (the first when not given).")
        parser.add_argument("--user", default="", help="The staff user recorded as the importer (else the actor is the command).")

    def handle(self, *args, file, dry_run, sheet, user, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"There is no file {file}.")
        content = path.read_bytes()
        importer = None
        if user:
            importer = get_user_model().objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"There is no user {user!r}.")
        try:
            if dry_run:
                preview = import_preview(content=content, file_name=path.name, sheet=sheet or None)
                for row in preview.rows:
                    where = f" [{row.column}]" if row.column else ""
                    self.stdout.write(f"row {row.row}: {row.outcome}{where} {row.message}".rstrip())
                self.stdout.write(
                    f"{len(preview.rows)} rows, {len(preview.groups)} orders: {preview.new_orders} new, "
                    f"{preview.skipped_orders} already imported, {preview.failed_orders} with errors (dry run: nothing stored)"
                )
                failed = preview.count(Outcome.ERROR)
            else:
                record, _preview = import_start(user=importer, content=content, file_name=path.name, sheet=sheet)
                import_run(import_id=record.pk)
                record.refresh_from_db()
                for row in record.failed_rows:
                    where = f" [{row['column']}]" if row["column"] else ""
                    self.stdout.write(f"row {row['row']}: error{where} {row['message']}")
                self.stdout.write(
                    f"import {record.pk}: {record.created_count} orders created, {record.skipped_count} skipped "
                    f"(already imported), {record.failed_count} failed"
                )
                failed = record.failed_count
        except ImportRefused as error:
            raise CommandError(error.message) from None
        if failed:
            raise CommandError(f"{failed} {'row' if dry_run else 'order'}(s) failed.", returncode=1)
