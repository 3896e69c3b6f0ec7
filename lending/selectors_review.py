"""Reads for manual review (人工审核): a reviewer's queues and the context of one task. Scoped: a task
is visible to staff whose scope covers it (jikuai.org.scoping) or who hold it; personal data is masked."""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from jikuai.core.masking import mask_name
from jikuai.customers.kyc.models import KycDocument, KycRecord
from jikuai.customers.models import Customer, Household, HouseholdMember
from jikuai.org.models import Staff
from jikuai.org.scoping import scope_queryset
from lending import schedule as sched
from lending.models import LoanApplication, ReviewTask, ReviewTaskStatus
from lending.services.review import (
    ACTIVE_STATUSES,
    amount_limit,
    approval_tiers,
    authority_of,
    exclude_own,
    queue_condition,
    role_names_of,
)
from riskrules import facade as rules

KYC_DOCUMENT_ORDER = list(KycDocument.Kind.values)


def staff_of(user) -> Staff | None:
    staff = getattr(user, "staff", None) if hasattr(user, "staff") else None
    return staff if staff is not None and staff.is_active else None


def review_task_list_for_staff(*, user) -> QuerySet[ReviewTask]:
    """Every task the user may see (scope), with what list pages show."""
    return scope_queryset(
        ReviewTask.objects.select_related("application__product", "application__customer", "assignee", "branch", "institution"),
        user,
    )


def review_task_get_for_staff(*, user, task_id: int) -> ReviewTask | None:
    staff = staff_of(user)
    visible = review_task_list_for_staff(user=user)
    if staff is not None:
        visible = visible | ReviewTask.objects.filter(assignee=staff)
    return (
        visible.select_related("application__product", "application__customer", "assignee", "branch", "institution")
        .filter(pk=task_id)
        .first()
    )


@dataclass
class QueueSummary:
    role: str
    open_count: int
    overdue_count: int


@dataclass
class Workbench:
    queues: list[QueueSummary]
    open_total: int
    overdue_total: int
    next_task: ReviewTask | None
    my_tasks: list[ReviewTask] = field(default_factory=list)


def review_workbench_for_staff(*, staff: Staff) -> Workbench:
    """My queues (open and overdue counts per role), the task claim-next would give me, my claimed tasks."""
    now = timezone.now()
    in_my_queues = ReviewTask.objects.filter(
        queue_condition(staff), status=ReviewTaskStatus.OPEN, kind=ReviewTask.Kind.APPLICATION_REVIEW
    )
    rows = (
        in_my_queues.values("queue_role")
        .annotate(open_count=Count("id"), overdue_count=Count("id", filter=Q(due_at__lt=now)))
        .order_by("queue_role")
    )
    queues = [QueueSummary(row["queue_role"], row["open_count"], row["overdue_count"]) for row in rows]
    claimable = exclude_own(in_my_queues, staff)
    next_task = claimable.select_related("application__product", "application__customer").order_by("due_at", "id").first()
    my_tasks = list(
        ReviewTask.objects.filter(assignee=staff, status=ReviewTaskStatus.CLAIMED, kind=ReviewTask.Kind.APPLICATION_REVIEW)
        .select_related("application__product", "application__customer")
        .order_by("due_at", "id")
    )
    return Workbench(
        queues=queues,
        open_total=sum(q.open_count for q in queues),
        overdue_total=sum(q.overdue_count for q in queues),
        next_task=next_task,
        my_tasks=my_tasks,
    )


@dataclass
class MemberRow:
    name: str
    relation: str
    customer_id: int | None
    hits: list


@dataclass
class ReviewContext:
    """What a reviewer sees for one task (personal data masked)."""

    task: ReviewTask
    application: LoanApplication
    customer: Customer
    limit: object
    authority: object
    holds_tier: bool
    tiers: list
    kyc: KycRecord | None
    kyc_documents: list[KycDocument]
    reasons: list
    decision_links: list[tuple[str, int]]
    list_hits: list
    household: Household | None
    members: list[MemberRow]
    village_households: int
    village_name: str
    history: list[ReviewTask]
    can_claim: bool
    can_decide: bool
    method_label: str = ""


def review_context_for_task(*, task: ReviewTask, staff: Staff | None, user) -> ReviewContext:
    application = task.application
    customer = Customer.objects.select_related("region", "branch").get(pk=application.customer_id)
    tiers = approval_tiers(application)
    names = role_names_of(staff) if staff else set()
    holds_tier, authority = authority_of(tiers, names)
    kyc = KycRecord.objects.filter(customer_id=customer.pk).order_by("-id").first()
    documents = []
    if kyc is not None and user.has_perm("customers.view_kycdocument"):
        documents = sorted(kyc.documents.all(), key=lambda document: KYC_DOCUMENT_ORDER.index(document.kind))
    decision_links = [
        (str(stage), int(decision_id))
        for stage, decision_id in (application.decision_ids or {}).items()
        if isinstance(decision_id, int) or str(decision_id).isdigit()
    ]
    hits = rules.list_hits(customer_id=customer.pk)
    household = (
        Household.objects.select_related("village", "head")
        .filter(Q(head_id=customer.pk) | Q(members__customer_id=customer.pk), institution_id=customer.institution_id)
        .distinct()
        .first()
    )
    members: list[MemberRow] = []
    village_households = 0
    village_name = ""
    if household is not None:
        for member in HouseholdMember.objects.filter(household=household).order_by("id"):
            member_hits = rules.list_hits(customer_id=member.customer_id) if member.customer_id else []
            members.append(MemberRow(mask_name(member.name), member.get_relation_display(), member.customer_id, member_hits))
        village_households = Household.objects.filter(village_id=household.village_id).count()
        village_name = household.village.name
    history = list(ReviewTask.objects.filter(application=application).select_related("assignee").order_by("created_at", "id"))
    can_claim = bool(
        staff and task.status == ReviewTaskStatus.OPEN and ReviewTask.objects.filter(queue_condition(staff), pk=task.pk).exists()
    )
    can_decide = bool(staff and task.status == ReviewTaskStatus.CLAIMED and task.assignee_id == staff.pk)
    return ReviewContext(
        task=task,
        application=application,
        customer=customer,
        limit=amount_limit(application),
        authority=authority,
        holds_tier=holds_tier,
        tiers=tiers,
        kyc=kyc,
        kyc_documents=documents,
        reasons=[tuple(item) for item in (application.reasons or []) if len(item) == 2],
        decision_links=decision_links,
        list_hits=hits,
        household=household,
        members=members,
        village_households=village_households,
        village_name=village_name,
        history=history,
        can_claim=can_claim,
        can_decide=can_decide,
        method_label=sched.Method.LABELS.get(application.repayment_method, application.repayment_method),
    )


__all__ = [
    "ACTIVE_STATUSES",
    "ReviewContext",
    "Workbench",
    "review_context_for_task",
    "review_task_get_for_staff",
    "review_task_list_for_staff",
    "review_workbench_for_staff",
    "staff_of",
]
