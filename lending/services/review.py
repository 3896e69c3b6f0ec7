"""Manual review tasks (人工审核). Minimal placeholder so origination runs in this branch: the review
colleague's module (queues, claim, working-hour due times, escalation, tiered approval) replaces it."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from jikuai.org import roles
from lending.models import LoanApplication, ReviewTask, ReviewTaskStatus


@transaction.atomic
def review_task_open(*, application: LoanApplication) -> ReviewTask:
    """An open review task in the 审批员 queue of the application's institution/branch, due in one day."""
    existing = ReviewTask.objects.filter(
        application=application, status__in=[ReviewTaskStatus.OPEN, ReviewTaskStatus.CLAIMED]
    ).first()
    if existing is not None:
        return existing
    return ReviewTask.objects.create(
        kind=ReviewTask.Kind.APPLICATION_REVIEW,
        institution_id=application.institution_id,
        branch_id=application.branch_id,
        queue_role=roles.CREDIT_REVIEWER,
        application=application,
        due_at=timezone.now() + dt.timedelta(days=1),
    )
