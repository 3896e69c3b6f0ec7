"""Reviewer's workbench (人工审核工作台) for staff: my queues, claim next, one task with the customer's
masked data, KYC images, the automated decision's reasons and the household / white-list context, and
the decision form. Thin: each view calls one selector or service. Outside the scope → 404."""

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.web.decorators import staff_required
from lending.forms_review import ReviewDecisionForm
from lending.selectors_review import review_context_for_task, review_task_get_for_staff, review_workbench_for_staff, staff_of
from lending.services.review import review_claim, review_claim_next, review_decide, review_pass_up, review_release
from lending.views import _error_text

PERMISSION = "lending.view_reviewtask"
FORM_FIELDS = {"approved_amount": "approved_amount", "principal": "approved_amount", "annual_rate": "annual_rate_percent"}


def _reviewer(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def _task_url(task_id: int) -> str:
    return reverse("lending:review:task", args=[task_id])


@staff_required
@require_GET
def workbench(request):
    staff = _reviewer(request)
    return render(request, "lending/review/workbench.html", {"staff": staff, "bench": review_workbench_for_staff(staff=staff)})


@staff_required
@require_POST
def claim_next(request):
    staff = _reviewer(request)
    task = review_claim_next(staff=staff)
    if task is None:
        messages.info(request, _("您的队列中暂无待领取的任务。"))
        return HttpResponseRedirect(reverse("lending:review:workbench"))
    messages.success(request, _("已领取任务 #%(id)s。") % {"id": task.pk})
    return HttpResponseRedirect(_task_url(task.pk))


def _visible_task(request, task_id: int):
    task = review_task_get_for_staff(user=request.user, task_id=task_id)
    if task is None or task.application_id is None:
        raise Http404("未找到 / not found")
    return task


@staff_required
@require_GET
def task_detail(request, task_id: int):
    staff = _reviewer(request)
    task = _visible_task(request, task_id)
    context = review_context_for_task(task=task, staff=staff, user=request.user)
    initial = {"approved_amount": context.limit}
    if task.application.annual_rate is not None:
        initial["annual_rate_percent"] = (task.application.annual_rate * 100).quantize(Decimal("0.0001"))
    return render(
        request,
        "lending/review/task.html",
        {
            "ctx": context,
            "staff": staff,
            "form": ReviewDecisionForm(initial=initial),
            "can_view_decisions": request.user.has_perm("riskrules.view_decisionrecord"),
        },
    )


@staff_required
@require_POST
def task_claim(request, task_id: int):
    staff = _reviewer(request)
    _visible_task(request, task_id)
    try:
        review_claim(task_id=task_id, staff=staff)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("已领取该任务。"))
    return HttpResponseRedirect(_task_url(task_id))


@staff_required
@require_POST
def task_release(request, task_id: int):
    staff = _reviewer(request)
    _visible_task(request, task_id)
    try:
        review_release(task_id=task_id, staff=staff)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
        return HttpResponseRedirect(_task_url(task_id))
    messages.success(request, _("任务已退回队列。"))
    return HttpResponseRedirect(reverse("lending:review:workbench"))


@staff_required
@require_POST
def task_decide(request, task_id: int):
    staff = _reviewer(request)
    task = _visible_task(request, task_id)
    form = ReviewDecisionForm(request.POST)
    if form.is_valid():
        action = form.cleaned_data["action"]
        arguments = {
            "task_id": task_id,
            "staff": staff,
            "comment": form.cleaned_data["comment"],
            "approved_amount": form.cleaned_data["approved_amount"],
            "annual_rate": form.annual_rate(),
        }
        try:
            if action == "pass_up":
                new_task = review_pass_up(**arguments)
            else:
                application = review_decide(approve=action == "approve", **arguments)
        except ApplicationError as exc:
            form.add_error(FORM_FIELDS.get(exc.extra.get("field")), _error_text(exc))
        else:
            if action == "pass_up":
                messages.success(request, _("已提交%(role)s审批。") % {"role": new_task.queue_role})
            else:
                if action == "approve":
                    text = _("申请 %(no)s 已批准。")
                else:
                    text = _("申请 %(no)s 已拒绝。")
                messages.success(request, text % {"no": application.application_no})
            return HttpResponseRedirect(reverse("lending:review:workbench"))
    context = review_context_for_task(task=task, staff=staff, user=request.user)
    return render(
        request,
        "lending/review/task.html",
        {
            "ctx": context,
            "staff": staff,
            "form": form,
            "can_view_decisions": request.user.has_perm("riskrules.view_decisionrecord"),
        },
        status=400,
    )
