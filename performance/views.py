"""Staff field pages (mobile-first, no JavaScript needed): my performance, results and appeals, claims, and for
branch managers the team leaderboard, drill-down, claim approvals and appeal decisions."""

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.org.scoping import scope_for, scope_queryset
from jikuai.web.decorators import staff_required
from performance import selectors
from performance.forms import AppealDecisionForm, AppealForm, ClaimDecisionForm, ClaimForm
from performance.models import Appeal, AttributionClaim, Indicator, PerformanceReport, SubjectResult
from performance.services import appeals as appeal_services
from performance.services import attribution as attribution_services
from performance.services.reports import report_read


def staff_member(view):
    """Staff login with a staff profile (request.user.staff)."""

    @staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        staff = getattr(request.user, "staff", None) if hasattr(request.user, "staff") else None
        if staff is None or not staff.is_active:
            raise PermissionDenied("需要员工身份 / a staff profile is required")
        request.staff = staff
        return view(request, *args, **kwargs)

    return wrapper


def is_manager(request) -> bool:
    return scope_for(request.user).level in ("branch", "institution", "all") and request.user.has_perm(
        "performance.view_subjectresult"
    )


@staff_member
def my_performance(request):
    staff = request.staff
    progress = selectors.progress_for_staff(staff)
    customers = loans = []
    if progress.start:
        customers = selectors.credited_customers(staff, start=progress.start, end=progress.end)
        loans = selectors.credited_loans(staff, start=progress.start, end=progress.end)
    results = list(selectors.results_for_staff(staff)[:6])
    return render(
        request,
        "performance/my_performance.html",
        {
            "staff": staff,
            "progress": progress,
            "customers": customers,
            "loans": loans,
            "results": results,
            "is_manager": is_manager(request),
        },
    )


def _result_for(request, result_id: int) -> SubjectResult:
    result = (
        SubjectResult.objects.select_related("period", "period__scheme", "period__scheme_version", "staff", "branch")
        .filter(pk=result_id, period__state__in=selectors.VISIBLE_STATES)
        .first()
    )
    if result is None:
        raise Http404
    if result.staff_id == request.staff.pk:
        return result
    if not scope_queryset(SubjectResult.objects.filter(pk=result.pk), request.user).exists():
        raise Http404
    return result


@staff_member
def result_detail(request, result_id: int):
    result = _result_for(request, result_id)
    own = result.staff_id == request.staff.pk
    lines = selectors.result_lines(result, explain=True)
    form = AppealForm(lines=[row["line"] for row in lines]) if own and result.period.appeal_window_open else None
    return render(
        request,
        "performance/result_detail.html",
        {
            "result": result,
            "lines": lines,
            "own": own,
            "form": form,
            "appeals": result.appeals.select_related("line__indicator").order_by("-submitted_at"),
            "reports": PerformanceReport.objects.filter(period=result.period, staff=result.staff) if result.staff_id else [],
            "award": getattr(result, "award", None) if hasattr(result, "award") else None,
        },
    )


@staff_member
@require_POST
def appeal_create(request, result_id: int):
    result = _result_for(request, result_id)
    lines = list(result.lines.select_related("indicator"))
    form = AppealForm(request.POST, request.FILES, lines=lines)
    if not form.is_valid():
        messages.error(request, _("申诉内容有误：") + "；".join(f"{k}: {'，'.join(v)}" for k, v in form.errors.items()))
        return redirect("performance:result", result_id=result.pk)
    data = form.cleaned_data
    try:
        appeal_services.appeal_submit(
            result_id=result.pk,
            actor=request.staff,
            reason=data["reason"],
            line_id=data["line"],
            evidence_text=data["evidence_text"],
            evidence_file=data["evidence_file"],
            requested_actual=data["requested_actual"],
            requested_target=data["requested_target"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("申诉已提交，等待处理。"))
    return redirect("performance:result", result_id=result.pk)


@staff_member
def line_drilldown(request, result_id: int, indicator_id: int):
    result = _result_for(request, result_id)
    indicator = get_object_or_404(Indicator, pk=indicator_id)
    if not result.lines.filter(indicator=indicator).exists():
        raise Http404
    facts = selectors.line_facts(result, indicator)
    return render(request, "performance/drilldown.html", {"result": result, "indicator": indicator, "facts": facts})


@staff_member
def team(request):
    if not is_manager(request):
        raise PermissionDenied("仅行长及以上可查看团队排名 / managers only")
    periods = list(selectors.periods_visible(request.user)[:24])
    period = None
    period_id = request.GET.get("period")
    if period_id and period_id.isdigit():
        period = next((p for p in periods if p.pk == int(period_id)), None)
    period = period or (periods[0] if periods else None)
    rows = list(selectors.leaderboard(request.user, period, peer_group=request.GET.get("group") or None)) if period else []
    groups = sorted({r.peer_group for r in rows})
    return render(request, "performance/team.html", {"periods": periods, "period": period, "rows": rows, "groups": groups})


@staff_member
def claims(request):
    manager = request.user.has_perm("performance.change_attributionclaim") and scope_for(request.user).level in (
        "branch",
        "institution",
        "all",
    )
    pending = list(selectors.claims_pending_for(request.user)) if manager else []
    mine = (
        AttributionClaim.objects.filter(shares__staff=request.staff)
        .select_related("customer")
        .distinct()
        .order_by("-requested_at")[:20]
    )
    form = ClaimForm(customers=selectors.customers_claimable_by(request.staff)[:200], institution_id=request.staff.institution_id)
    return render(request, "performance/claims.html", {"pending": pending, "mine": mine, "form": form, "manager": manager})


@staff_member
@require_POST
def claim_create(request):
    staff = request.staff
    customers = selectors.customers_claimable_by(staff)
    form = ClaimForm(request.POST, customers=customers[:200], institution_id=staff.institution_id)
    if not form.is_valid():
        messages.error(request, _("认领内容有误：") + "；".join(f"{'，'.join(v)}" for v in form.errors.values()))
        return redirect("performance:claims")
    data = form.cleaned_data
    customer = customers.filter(pk=data["customer"]).first()
    shares = [(staff, data["my_share"])]
    if data["partner"]:
        shares.append((data["partner"], data["partner_share"] or 0))
    try:
        attribution_services.claim_submit(customer=customer, shares=shares, actor=staff, reason=data["reason"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("认领已提交，等待行长审批。"))
    return redirect("performance:claims")


@staff_member
@require_POST
def claim_decide(request, claim_id: int):
    form = ClaimDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择处理结果"))
        return redirect("performance:claims")
    try:
        if form.cleaned_data["decision"] == "approve":
            attribution_services.claim_approve(claim_id=claim_id, actor=request.staff, note=form.cleaned_data["note"])
            messages.success(request, _("已批准认领。"))
        else:
            attribution_services.claim_reject(claim_id=claim_id, actor=request.staff, note=form.cleaned_data["note"])
            messages.success(request, _("已驳回认领。"))
    except AttributionClaim.DoesNotExist:
        raise Http404
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("performance:claims")


@staff_member
def appeals(request):
    if not request.user.has_perm("performance.change_appeal"):
        raise PermissionDenied("仅行长及以上可处理申诉 / managers only")
    pending = list(selectors.appeals_pending_for(request.user))
    return render(request, "performance/appeals.html", {"pending": pending, "form": AppealDecisionForm()})


@staff_member
@require_POST
def appeal_decide(request, appeal_id: int):
    form = AppealDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("处理内容有误：") + "；".join(f"{'，'.join(v)}" for v in form.errors.values()))
        return redirect("performance:appeals")
    data = form.cleaned_data
    try:
        appeal_services.appeal_decide(
            appeal_id=appeal_id,
            actor=request.staff,
            accept=data["decision"] == "accept",
            note=data["note"],
            corrected_actual=data["corrected_actual"],
            corrected_target=data["corrected_target"],
        )
    except Appeal.DoesNotExist:
        raise Http404
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("申诉已处理。"))
    return redirect("performance:appeals")


@staff_member
def report_download(request, report_id: int):
    report = PerformanceReport.objects.select_related("period").filter(pk=report_id).first()
    if report is None:
        raise Http404
    own = report.staff_id == request.staff.pk
    if not own and not scope_queryset(PerformanceReport.objects.filter(pk=report.pk), request.user).exists():
        raise Http404
    try:
        content = report_read(report)
    except ApplicationError as exc:
        return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="performance-{report.period.label}-{report.key}.pdf"'
    response["X-Content-SHA256"] = report.sha256
    return response
