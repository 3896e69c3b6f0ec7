"""Demo data for manual review (人工审核): every referred application gets its review task, and each demo
institution without referred applications gets two (one within the credit reviewer's tier, one for the
branch manager), so the workbench (/loans/review/) has work to show. Idempotent and fast."""

from decimal import Decimal

from django.db import transaction

from jikuai.customers.models import Customer
from jikuai.org.models import Institution
from lending.models import OPEN_APPLICATION_STATES, ApplicationState, LoanApplication, Product, ReviewTask
from lending.services.review import ACTIVE_STATUSES, review_task_open

DEMO_AMOUNTS = (Decimal("80000.00"), Decimal("180000.00"))
DEMO_REASONS = [
    ["income_unverified", "申报收入未能通过外部数据核实，转人工审核"],
    ["debt_ratio_high", "负债收入比偏高，需审批员判断还款能力"],
]


def _demo_applications(institution: Institution, product: Product) -> int:
    created = 0
    busy = LoanApplication.objects.filter(product=product, state__in=[s.value for s in OPEN_APPLICATION_STATES]).values(
        "customer_id"
    )
    customers = list(
        Customer.objects.filter(institution=institution, branch__isnull=False, is_demo=True)
        .exclude(pk__in=busy)
        .order_by("id")[: len(DEMO_AMOUNTS)]
    )
    for index, (customer, amount) in enumerate(zip(customers, DEMO_AMOUNTS, strict=False)):
        number = f"DEMORV{institution.code[:8]}{index + 1:02d}"
        if LoanApplication.objects.filter(application_no=number).exists():
            continue
        with transaction.atomic():
            application = LoanApplication.objects.create(
                application_no=number,
                institution=institution,
                branch=customer.branch,
                account_manager=customer.account_manager,
                customer=customer,
                product=product,
                amount_requested=amount,
                approved_amount=amount,
                annual_rate=max(product.min_rate, min(Decimal("0.0650"), product.max_rate)),
                term_months=12 if 12 in product.term_options else product.term_options[0],
                repayment_method=product.default_method,
                purpose="扩大种植规模" if index == 0 else "购置农机具",
                state=ApplicationState.REFERRED,
                decision_outcome="refer",
                reasons=DEMO_REASONS,
            )
            review_task_open(application=application)
            created += 1
    return created


def seed_demo_review() -> dict[str, int]:
    opened = 0
    referred = LoanApplication.objects.filter(state=ApplicationState.REFERRED).exclude(
        pk__in=ReviewTask.objects.filter(status__in=ACTIVE_STATUSES, application__isnull=False).values("application_id")
    )
    for application in referred.select_related("product", "customer"):
        with transaction.atomic():
            review_task_open(application=application)
            opened += 1
    created = 0
    product = (
        Product.objects.filter(is_active=True, institution__isnull=True, max_amount__gte=DEMO_AMOUNTS[-1])
        .order_by("code")
        .first()
    )
    if product is not None:
        for institution in Institution.objects.filter(is_active=True).order_by("code"):
            if LoanApplication.objects.filter(institution=institution, state=ApplicationState.REFERRED).exists():
                continue
            created += _demo_applications(institution, product)
    return {"review_tasks_opened": opened, "referred_applications_created": created}
