"""Staff field pages (移动展业): the organiser's rotating venue QR and attendance confirmation."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.web.decorators import staff_required
from lifestyle.models import Activity, ActivitySignup
from lifestyle.qr import qr_svg
from lifestyle.services import community


def _organised(request, activity_id: int) -> Activity:
    staff = getattr(request.user, "staff", None)
    activity = Activity.objects.visible_to(request.user).filter(pk=activity_id).select_related("village").first()
    if staff is None or activity is None or activity.organiser_id != staff.pk:
        raise Http404(_("活动不存在"))
    return activity


def _qr_context(request, activity: Activity) -> dict:
    token = community.activity_qr_token(activity=activity)
    url = request.build_absolute_uri(reverse("lifestyle:activity_checkin", args=[activity.pk])) + f"?t={token}"
    signups = ActivitySignup.objects.filter(activity=activity).select_related("customer").order_by("checked_in_at", "id")
    return {
        "activity": activity,
        "qr": qr_svg(url, scale=6),
        "url": url,
        "signups": signups,
        "refresh": community.QR_WINDOW_SECONDS,
    }


@staff_required
@require_GET
def activity_qr(request, activity_id: int):
    activity = _organised(request, activity_id)
    template = "lifestyle/field/_activity_qr.html" if request.headers.get("HX-Request") else "lifestyle/field/activity_qr.html"
    return render(request, template, _qr_context(request, activity))


@staff_required
@require_POST
def activity_confirm(request, activity_id: int):
    activity = _organised(request, activity_id)
    ids = [int(x) for x in request.POST.getlist("signup") if x.isdigit()]
    try:
        count = community.activity_confirm(activity_id=activity.pk, organiser=request.user.staff, signup_ids=ids)
    except ApplicationError as exc:
        messages.error(request, exc.message_en if (get_language() or "").startswith("en") else exc.message_zh)
    else:
        messages.success(request, _("已确认 %(count)s 人参加，积分将自动发放。") % {"count": count})
    return redirect("lifestyle:field_activity_qr", activity_id=activity.pk)
