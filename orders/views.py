"""The shared backlog pages. Thin: read through orders.backlog, write through orders.services."""

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from licensing.selectors import customer_subscriptions
from orderdesk.redirects import same_site_path
from orderdesk.roles import BACKLOG_ROLES, role_required
from orders.backlog import backlog_density_of, backlog_orders, backlog_page_values, claim_is_active, forget_backlog_counts, is_in_backlog, rows_for_viewer
from orders.credit import credit_exposure
from orders.duplicates import GONE_STATUSES, pair_is_gone_without
from orders.filters import BacklogFilter, count_chips
from orders.forms import ApproveForm, BulkForm, CancelForm, DensityForm, EditLinesForm, KeepOneForm, RejectForm
from orders.holds import order_hold_explanations
from orders.models import REASONS_APPROVED_WITHOUT_OVERRIDE, BacklogPreference, Order, OrderDocument
from orders.permissions import ActionRefused, NotPermitted, user_may_handle, user_may_take_over
from orders.services import claims, duplicates, review
from orders.services.documents import order_quote_document
from orders.services.preferences import backlog_density_set
from orders.services.transitions import Actor
from quotes.pdf import QuotePdfRenderer
from quotes.services.documents import as_draft

backlog_staff = role_required(*BACKLOG_ROLES)


@backlog_staff
@require_GET
def backlog(request):
    context = _backlog_context(request, request.GET)
    if request.htmx and request.htmx.target == "backlog-live":
        return render(request, "orders/_backlog_live.html", context)
    return render(request, "orders/backlog.html", context)


def _backlog_context(request, params, **extra) -> dict:
    """The backlog page for these filters (a GET's, or those a bulk form was sent from)."""
    now = timezone.now()
    filterset = BacklogFilter(params, queryset=backlog_orders(now=now), user=request.user, now=now)
    filterset.is_valid()
    counts = filterset.counts()
    paginator = Paginator(backlog_page_values(filterset.qs), settings.BACKLOG_PAGE_SIZE)
    # The total (a cached_property, set here): the counts at the top of the page hold it, so the list needs no COUNT(*).
    paginator.count = counts.total
    page = paginator.get_page(params.get("page"))
    page.object_list = rows_for_viewer(page.object_list, user=request.user, now=now, detail_base=reverse("orders:backlog"))
    rows_html = render_to_string("orders/_backlog_rows.html", {"rows": page.object_list}, using="jinja2")
    query = params.copy()
    query.pop("page", None)
    list_path = reverse("orders:backlog") + (f"?{query.urlencode()}" if query else "")
    return {
        "filter": filterset,
        "page": page,
        "rows_html": rows_html,
        "counts": counts,
        "chips": count_chips(filterset, counts, params),
        "density": _density(request),
        "densities": BacklogPreference.Density.choices,
        "refresh_seconds": settings.BACKLOG_REFRESH_SECONDS,
        "query_without_page": query.urlencode(),
        "list_path": list_path,
        "seen_at": now.isoformat(),
        "bulk_max": settings.BACKLOG_BULK_MAX_ORDERS,
        **extra,
    }


DENSITY_SESSION_KEY = "backlog_density"


def _density(request) -> str:
    """The user's row density, read once per session from their saved preference."""
    density = request.session.get(DENSITY_SESSION_KEY)
    if density not in BacklogPreference.Density.values:
        density = request.session[DENSITY_SESSION_KEY] = backlog_density_of(request.user)
    return density


@backlog_staff
@require_POST
def backlog_density(request):
    """Dense or comfortable rows, remembered for the user (on every device) and in this session."""
    form = DensityForm(request.POST)
    if form.is_valid():
        backlog_density_set(user=request.user, density=form.cleaned_data["density"])
        request.session[DENSITY_SESSION_KEY] = form.cleaned_data["density"]
    else:
        messages.error(request, _("Choose dense or comfortable rows."))
    return redirect(_back_to_list(request))


# The orders this user passed over with Next lately (kept in the session): Next offers them last.
PASSED_OVER_SESSION_KEY = "backlog_passed_over"
PASSED_OVER_KEPT = 100


@backlog_staff
@require_POST
def backlog_next(request):
    """Next: back to the order the user holds, or the next one; on a held order's page it passes that one over."""
    skip = Order.objects.filter(number=request.POST.get("skip", "")[:20], claimed_by=request.user).first()
    return _next_order(request, skip=skip)


def _next_order(request, *, skip: Order | None = None):
    passed_over = request.session.get(PASSED_OVER_SESSION_KEY, [])
    result = claims.order_next(user=request.user, skip=skip, passed_over=passed_over)
    if skip is not None:
        request.session[PASSED_OVER_SESSION_KEY] = [skip.pk, *[pk for pk in passed_over if pk != skip.pk]][:PASSED_OVER_KEPT]
    forget_backlog_counts(user=request.user)
    if result.order is None:
        messages.info(request, _("Nothing left for you: every order you may handle is claimed or done."))
        return redirect("orders:backlog")
    if result.returned:
        messages.info(
            request,
            _("You are still working on order %(number)s: decide it, or press Next here to pass it over.")
            % {"number": result.order.number},
        )
    return redirect("orders:detail", number=result.order.number)


@backlog_staff
@require_GET
def order_detail(request, number):
    order = get_object_or_404(Order.objects.select_related("customer", "claimed_by"), number=number)
    claims.order_claim_touch(order=order, user=request.user)
    may_handle = user_may_handle(request.user, order)
    claim_active = claim_is_active(order)
    held_by_other = claim_active and order.claimed_by_id != request.user.pk
    context = {
        "order": order,
        "lines": order.lines.select_related("product"),
        "events": order.events.all(),
        "may_handle": may_handle,
        # The role may, and nobody else holds it: the buttons are enabled.
        "may_act": may_handle and not held_by_other,
        "held_by_other": held_by_other,
        "may_take_over": held_by_other and may_handle and user_may_take_over(request.user),
        "lines_editable": may_handle and not held_by_other and order.status == Order.Status.NEEDS_REVIEW,
        "in_backlog": is_in_backlog(order),
        "claim_active": claim_active,
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
    """The stored 御見積書 once the pipeline rendered it; before that, a preview rendered on the spot, marked a draft."""
    order = get_object_or_404(Order.objects.select_related("customer"), number=number)
    document = OrderDocument.objects.filter(order=order, kind=OrderDocument.Kind.QUOTE).first()
    if document is not None:
        return FileResponse(document.file.open("rb"), content_type=document.content_type, filename=f"{order.number}-quote.pdf")
    rendered = QuotePdfRenderer().render(as_draft(order_quote_document(order=order)))
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
            if form is not None and form.cleaned_data.get("then") == "next":
                return _next_order(request)  # approve (reject) and next
            return redirect("orders:backlog") if goto_backlog else redirect("orders:detail", number=order.number)

        view.__name__ = run.__name__
        return view

    return decorator


@_order_action()
def order_claim(request, order, form):
    claims.order_claim(order=order, user=request.user)
    return _("You claimed order %(number)s.") % {"number": order.number}, False


@_order_action()
def order_take_over(request, order, form):
    claims.order_take_over(order=order, user=request.user)
    return _("You took over order %(number)s.") % {"number": order.number}, False


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
    """A bulk action, answered on the backlog page: each order's result, or the question what is missing."""
    form = BulkForm(request.POST)
    if not form.is_valid():
        problems = [error for errors in form.errors.values() for error in errors]
        if request.htmx:
            return _bulk_answer(request, problems=problems, asks_reason="reason" in form.errors)
        for problem in problems:
            messages.error(request, problem)
        return redirect(_back_to_list(request))
    data = form.cleaned_data
    order_ids, left_out = _bulk_orders(request, data)
    if data["action"] == "approve" and not data["reason"].strip():
        needing = _needing_an_override_reason(order_ids)
        if needing:
            question = ngettext(
                "%(n)d order is held for a reason approving overrides: give the reason for overriding it.",
                "%(n)d orders are held for reasons approving overrides: give the reason for overriding them.",
                len(needing),
            ) % {"n": len(needing)}
            return _bulk_answer(request, problems=[question], asks_reason=True, numbers=needing)
    results = _run_bulk(request.user, data["action"], order_ids, data["reason"])
    forget_backlog_counts(user=request.user)
    return _bulk_answer(request, action=data["action"], results=results, left_out=left_out)


def _bulk_orders(request, data) -> tuple[list[int], int]:
    """The orders a bulk action takes, oldest first, and how many matching ones it leaves for another run."""
    if data["scope"] == BulkForm.SELECTED:
        return data["orders"], 0
    now = timezone.now()
    filterset = BacklogFilter(QueryDict(data["query"]), queryset=backlog_orders(now=now), user=request.user, now=now)
    filterset.is_valid()
    matching = filterset.qs.filter(created_at__lte=data["seen_at"] or now).order_by("created_at", "id")
    order_ids = list(matching.values_list("pk", flat=True)[: settings.BACKLOG_BULK_MAX_ORDERS + 1])
    if len(order_ids) <= settings.BACKLOG_BULK_MAX_ORDERS:
        return order_ids, 0
    return order_ids[:-1], matching.count() - settings.BACKLOG_BULK_MAX_ORDERS


def _needing_an_override_reason(order_ids: list[int]) -> list[str]:
    """The numbers of the orders among these that approving would override a rule for."""
    waiting = Order.objects.filter(pk__in=order_ids, status=Order.Status.NEEDS_REVIEW).values_list("number", "review_reasons")
    return [number for number, reasons in waiting if set(reasons or []) - REASONS_APPROVED_WITHOUT_OVERRIDE]


def _bulk_answer(request, **answer):
    """The results (or the question) in the backlog page's results panel; without htmx, the whole page around it."""
    answer.setdefault("results", None)
    if answer["results"] is not None:
        answer["succeeded"] = sum(result.ok for result in answer["results"])
        answer["action_label"] = dict(BulkForm.ACTIONS)[answer["action"]]
    if request.htmx:
        response = render(request, "orders/_bulk_results.html", {"bulk": answer})
        if answer["results"]:
            response["HX-Trigger"] = "backlog-changed"  # the list and counts refresh at once
        return response
    back = _back_to_list(request)
    return render(request, "orders/backlog.html", _backlog_context(request, QueryDict(urlsplit(back).query), bulk=answer))


def _back_to_list(request) -> str:
    """The backlog list the bulk form was sent from, with its filters; only a path of this site."""
    return same_site_path(request, request.POST.get("next"), default=reverse("orders:backlog"))


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
