"""The shared backlog pages. Thin: read through orders.backlog, write through orders.services."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from licensing.selectors import customer_subscriptions
from orderdesk.roles import BACKLOG_ROLES, role_required
from orders.backlog import backlog_counts, backlog_orders, backlog_page_values, claim_is_active, forget_backlog_counts, is_in_backlog, known_list_count, rows_for_viewer
from orders.credit import credit_exposure
from orders.duplicates import GONE_STATUSES, pair_is_gone_without
from orders.filters import BacklogFilter
from orders.forms import ApproveForm, BulkForm, CancelForm, EditLinesForm, KeepOneForm, RejectForm
from orders.models import Order, OrderDocument
from orders.permissions import ActionRefused, NotPermitted, user_may_handle
from orders.holds import order_hold_explanations
from orders.services import claims, duplicates, review
from orders.services.documents import order_quote_document
from orders.services.transitions import Actor
from quotes.pdf import QuotePdfRenderer

backlog_staff = role_required(*BACKLOG_ROLES)


@backlog_staff
@require_GET
def backlog(request):
    now = timezone.now()
    counts = backlog_counts(user=request.user, now=now)
    filterset = BacklogFilter(request.GET, queryset=backlog_orders(now=now), user=request.user)
    orders = filterset.qs
    paginator = Paginator(backlog_page_values(orders), settings.BACKLOG_PAGE_SIZE)
    # The total (a cached_property, set here): the counts at the top of the page already
    # hold it for most lists; else COUNT(*) the orders alone, without the rows' joins.
    known_count = known_list_count(counts, filterset.narrowing()) if filterset.is_valid() else None
    paginator.count = known_count if known_count is not None else orders.count()
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = rows_for_viewer(page.object_list, user=request.user, now=now, detail_base=reverse("orders:backlog"))
    context = {
        "filter": filterset,
        "page": page,
        "counts": counts,
        "refresh_seconds": settings.BACKLOG_REFRESH_SECONDS,
        "query_without_page": _query_without(request, "page"),
    }
    if request.htmx and request.htmx.target == "backlog-live":
        return render(request, "orders/_backlog_live.html", context)
    return render(request, "orders/backlog.html", context)


@backlog_staff
@require_POST
def backlog_next(request):
    order = claims.order_claim_next(user=request.user)
    forget_backlog_counts(user=request.user)
    if order is None:
        messages.info(request, _("Nothing left for you: every order you may handle is claimed or done."))
        return redirect("orders:backlog")
    return redirect("orders:detail", number=order.number)


@backlog_staff
@require_GET
def order_detail(request, number):
    order = get_object_or_404(Order.objects.select_related("customer", "claimed_by"), number=number)
    claims.order_claim_touch(order=order, user=request.user)
    may_handle = user_may_handle(request.user, order)
    context = {
        "order": order,
        "lines": order.lines.all(),
        "events": order.events.all(),
        "may_handle": may_handle,
        "lines_editable": may_handle and order.status == Order.Status.NEEDS_REVIEW,
        "in_backlog": is_in_backlog(order),
        "claim_active": claim_is_active(order),
        "approval_needs_reason": review.approval_needs_reason(order),
        "credit": credit_exposure(customer=order.customer, order=order),
        "subscriptions": customer_subscriptions(customer=order.customer),
        "document": OrderDocument.objects.filter(order=order, kind=OrderDocument.Kind.QUOTE).first(),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
        "cancel_form": CancelForm(),
        "edit_form": EditLinesForm(order=order),
        "cancellable": [str(status) for status in Order.CANCELLABLE_STATUSES],
        **_hold_context(order),
    }
    return render(request, "orders/order_detail.html", context)


def _hold_context(order: Order) -> dict:
    """What the order page shows of why the order waits: explanations, duplicate pair, last-of-pair confirmation."""
    duplicates = list(order.possible_duplicates.order_by("created_at"))
    return {
        "holds": order_hold_explanations(order=order),
        "duplicates": duplicates,
        "gone_statuses": [str(status) for status in GONE_STATUSES],
        "last_of_pair": bool(duplicates) and pair_is_gone_without(order),
    }


@backlog_staff
@require_GET
def order_quote_pdf(request, number):
    """The stored 御見積書 once the pipeline rendered it; before that, a preview rendered on the spot."""
    order = get_object_or_404(Order.objects.select_related("customer"), number=number)
    document = OrderDocument.objects.filter(order=order, kind=OrderDocument.Kind.QUOTE).first()
    if document is not None:
        return FileResponse(document.file.open("rb"), content_type=document.content_type, filename=f"{order.number}-quote.pdf")
    rendered = QuotePdfRenderer().render(order_quote_document(order=order))
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    response["Content-Disposition"] = f'inline; filename="{order.number}-quote-preview.pdf"'
    return response


def _order_action(form_class=None):
    """Decorator for the POST actions on one order: load it, validate the form, run the service, report."""

    def decorator(run):
        @backlog_staff
        @require_POST
        def view(request, number):
            order = get_object_or_404(Order.objects.select_related("customer", "claimed_by"), number=number)
            form = form_class(request.POST) if form_class else None
            if form is not None and not form.is_valid():
                for errors in form.errors.values():
                    for error in errors:
                        messages.error(request, error)
                return redirect("orders:detail", number=order.number)
            try:
                message, goto_backlog = run(request, order, form)
            except NotPermitted:
                raise
            except ActionRefused as refusal:
                messages.error(request, refusal.message)
                return redirect("orders:detail", number=order.number)
            forget_backlog_counts(user=request.user)
            messages.success(request, message)
            return redirect("orders:backlog") if goto_backlog else redirect("orders:detail", number=order.number)

        view.__name__ = run.__name__
        return view

    return decorator


@_order_action()
def order_claim(request, order, form):
    claims.order_claim(order=order, user=request.user)
    return _("You claimed order %(number)s.") % {"number": order.number}, False


@_order_action()
def order_release(request, order, form):
    claims.order_release(order=order, user=request.user)
    return _("Order %(number)s is back in the pile.") % {"number": order.number}, True


@_order_action(ApproveForm)
def order_approve(request, order, form):
    review.order_approve(order=order, actor=Actor.staff(request.user), override_reason=form.cleaned_data["override_reason"])
    return _("Order %(number)s approved; the pipeline provisions it now.") % {"number": order.number}, True


@_order_action(RejectForm)
def order_reject(request, order, form):
    review.order_reject(
        order=order,
        actor=Actor.staff(request.user),
        reason=form.cleaned_data["reason"],
        confirm_last_of_pair=form.cleaned_data["confirm_last_of_pair"],
    )
    return _("Order %(number)s rejected.") % {"number": order.number}, True


@_order_action()
def order_retry(request, order, form):
    review.order_retry(order=order, actor=Actor.staff(request.user))
    return _("Order %(number)s handed to the pipeline again.") % {"number": order.number}, True


@_order_action(CancelForm)
def order_cancel(request, order, form):
    review.order_cancel_by_staff(order=order, actor=Actor.staff(request.user), reason=form.cleaned_data["reason"])
    return _("Order %(number)s cancelled.") % {"number": order.number}, True


@_order_action(KeepOneForm)
def order_keep_one(request, order, form):
    """Keep one order of a suspected duplicate pair and reject the other, in one action."""
    numbers = {order.number, *order.possible_duplicates.values_list("number", flat=True)}
    keep_number, reject_number = form.cleaned_data["keep"], form.cleaned_data["reject"]
    if not {keep_number, reject_number} <= numbers or order.number not in {keep_number, reject_number}:
        raise ActionRefused(_("Choose this order and one of its possible duplicates."))
    pair = Order.objects.select_related("customer", "claimed_by").in_bulk([keep_number, reject_number], field_name="number")
    kept, rejected = duplicates.order_keep_one_of_pair(
        keep=pair[keep_number], reject=pair[reject_number], actor=Actor.staff(request.user), reason=form.cleaned_data["reason"]
    )
    message = _("Kept %(kept)s (%(status)s); rejected %(rejected)s as its duplicate.") % {
        "kept": kept.number,
        "status": kept.get_status_display(),
        "rejected": rejected.number,
    }
    return message, False


@backlog_staff
@require_POST
def order_edit(request, number):
    order = get_object_or_404(Order.objects.select_related("customer", "claimed_by"), number=number)
    form = EditLinesForm(request.POST, order=order)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                label = form.fields[field].label if field in form.fields else ""
                messages.error(request, f"{label}: {error}" if label else error)
        return redirect("orders:detail", number=order.number)
    try:
        review.order_edit_lines(order=order, actor=Actor.staff(request.user), changes=form.changes())
    except NotPermitted:
        raise
    except ActionRefused as refusal:
        messages.error(request, refusal.message)
    else:
        forget_backlog_counts(user=request.user)
        messages.success(request, _("Lines of order %(number)s saved; totals and reasons updated.") % {"number": order.number})
    return redirect("orders:detail", number=order.number)


@dataclass(frozen=True)
class BulkResult:
    number: str
    order_id: int
    ok: bool
    message: str


BULK_ACTIONS = {
    "approve": lambda order, actor, reason: review.order_approve(order=order, actor=actor, override_reason=reason),
    "reject": lambda order, actor, reason: review.order_reject(order=order, actor=actor, reason=reason),
    "retry": lambda order, actor, reason: review.order_retry(order=order, actor=actor),
}


@backlog_staff
@require_POST
def backlog_bulk(request):
    form = BulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(request.POST.get("next") or reverse("orders:backlog"))
    action = form.cleaned_data["action"]
    results = _run_bulk(request.user, action, form.cleaned_data["orders"], form.cleaned_data["reason"])
    forget_backlog_counts(user=request.user)
    context = {
        "action_label": dict(BulkForm.ACTIONS)[action],
        "results": results,
        "succeeded": sum(result.ok for result in results),
        "back": request.POST.get("next") or reverse("orders:backlog"),
    }
    return render(request, "orders/bulk_result.html", context)


def _run_bulk(user, action: str, order_ids: list[int], reason: str) -> list[BulkResult]:
    """Each order on its own: one refusal never stops the others."""
    actor = Actor.staff(user)
    found = Order.objects.select_related("customer", "claimed_by").in_bulk(order_ids)
    results = []
    for order_id in order_ids:
        order = found.get(order_id)
        if order is None:
            results.append(BulkResult(number=f"#{order_id}", order_id=order_id, ok=False, message=_("No such order.")))
            continue
        try:
            BULK_ACTIONS[action](order, actor, reason)
        except ActionRefused as refusal:
            results.append(BulkResult(number=order.number, order_id=order_id, ok=False, message=str(refusal.message)))
        else:
            results.append(BulkResult(number=order.number, order_id=order_id, ok=True, message=_("Done.")))
    return results


def _query_without(request, name: str) -> str:
    query = request.GET.copy()
    query.pop(name, None)
    return query.urlencode()
