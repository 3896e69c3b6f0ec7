"""Admin dashboard (unfold DASHBOARD_CALLBACK): counts scoped to the viewer."""

from django.db.models import Count


def environment_callback(request):
    from django.conf import settings

    return ["开发环境 development", "warning"] if settings.DEBUG else ["生产 production", "danger"]


def dashboard_callback(request, context):
    from jikuai.core.models import JobRun, OutboxEvent
    from jikuai.customers.models import Customer
    from jikuai.org.models import Institution
    from jikuai.org.scoping import scope_for, scope_queryset

    user = request.user
    customers = scope_queryset(Customer.objects.all(), user)
    by_institution = list(customers.values("institution__name").annotate(n=Count("id")).order_by("institution__name"))
    by_kyc = {row["kyc_status"]: row["n"] for row in customers.values("kyc_status").annotate(n=Count("id"))}
    kyc_rows = [(label, by_kyc.get(value, 0)) for value, label in Customer.KycStatus.choices]
    scope = scope_for(user)
    recent_events = (
        list(OutboxEvent.objects.order_by("-id")[:8]) if scope.level == "all" or user.has_perm("core.view_outboxevent") else []
    )
    failed_jobs = (
        list(JobRun.objects.filter(status__in=[JobRun.Status.FAILED, JobRun.Status.PARTIAL]).order_by("-started_at")[:8])
        if user.has_perm("core.view_jobrun")
        else []
    )
    failed_events = OutboxEvent.objects.filter(status=OutboxEvent.Status.FAILED).count() if recent_events else 0
    context.update(
        {
            "jk_total_customers": sum(row["n"] for row in by_institution),
            "jk_by_institution": by_institution,
            "jk_kyc_rows": kyc_rows,
            "jk_recent_events": recent_events,
            "jk_failed_jobs": failed_jobs,
            "jk_failed_events": failed_events,
            "jk_institution_count": Institution.objects.count() if scope.level == "all" else 1,
            "jk_scope": scope.level,
        }
    )
    return context
