"""Spreadsheet import and export pages (/imports/): thin, over orders.services.imports and orders.exports."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orderdesk.roles import IMPORT_ROLES, role_required
from orders import exports
from orders.backlog import backlog_orders
from orders.filters import BacklogFilter
from orders.forms import ExportForm, ImportUploadForm
from orders.models import OrderImport
from orders.services.imports import ImportRefused, failed_rows_table, import_confirm, import_upload

import_staff = role_required(*IMPORT_ROLES)

RUNNING = (OrderImport.Status.CHECKING, OrderImport.Status.QUEUED, OrderImport.Status.RUNNING)


@import_staff
@require_http_methods(["GET", "POST"])
def imports_home(request):
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            record = import_upload(
                user=request.user, content=upload.read(), file_name=upload.name, sheet=form.cleaned_data["sheet"]
            )
        except ImportRefused as error:
            form.add_error("file", error.message)
        else:
            return redirect("imports:detail", pk=record.pk)
    return render(
        request,
        "orders/imports.html",
        {"form": form, "export_form": ExportForm(), "recent": OrderImport.objects.select_related("created_by")[:20]},
    )


@import_staff
@require_GET
def import_detail(request, pk: int):
    record = get_object_or_404(OrderImport.objects.select_related("created_by"), pk=pk)
    return render(request, "orders/import_detail.html", {"record": record, "running": record.status in RUNNING})


@import_staff
@require_GET
def import_progress(request, pk: int):
    """The progress bar, polled by htmx; the whole page again once the run has ended."""
    record = get_object_or_404(OrderImport, pk=pk)
    if record.status not in RUNNING:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(request, "orders/_import_progress.html", {"record": record, "running": True})


@import_staff
@require_POST
def import_confirm_view(request, pk: int):
    record = get_object_or_404(OrderImport, pk=pk)
    if not import_confirm(order_import=record):
        messages.info(request, _("This import has already finished."))
    return redirect("imports:detail", pk=record.pk)


@import_staff
@require_GET
def import_failed_rows(request, pk: int):
    record = get_object_or_404(OrderImport, pk=pk)
    rows = ([exports.neutralise(value) for value in row] for row in failed_rows_table(record, language=get_language()))
    response = StreamingHttpResponse(exports.csv_chunks(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="failed-rows-{record.pk}.csv"'
    return response


@import_staff
@require_GET
def import_template(request, extension: str):
    if extension not in ("csv", "xlsx"):
        raise Http404
    language = request.GET.get("lang") or get_language()
    rows = exports.template_rows(language)
    name = f"orderdesk-import-template-{'ja' if language.startswith('ja') else 'en'}.{extension}"
    if extension == "xlsx":
        return FileResponse(exports.xlsx_file(rows, title="orders"), as_attachment=True, filename=name)
    response = HttpResponse(b"".join(exports.csv_chunks(rows)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@import_staff
@require_GET
def orders_export(request):
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(request, "orders/imports.html", {"form": ImportUploadForm(), "export_form": form, "recent": OrderImport.objects.all()[:20]}, status=400)
    data = form.cleaned_data
    orders = exports.orders_for_export(statuses=data["status"], since=data["since"], until=data["until"])
    return exports.export_response(orders, prefix="orders", file_format=data["format"], encoding=data["encoding"])


@import_staff
@require_GET
def backlog_export(request):
    """The backlog as it is filtered in the page (the same query string)."""
    filterset = BacklogFilter(request.GET, queryset=backlog_orders(), user=request.user)
    filterset.is_valid()
    file_format = request.GET.get("format") if request.GET.get("format") in ("csv", "xlsx") else "csv"
    encoding = "cp932" if request.GET.get("encoding") == "cp932" else "utf-8"
    return exports.export_response(filterset.qs, prefix="backlog", file_format=file_format, encoding=encoding)
