"""Idempotent demo credit lines (授信): for the first demo customers of two institutions a line of
吉农快贷 (one drawn down, one untouched, one frozen through a maker-checker request). Made through the
same services as production; a customer who already has a line for the product is skipped."""

import logging
from decimal import Decimal

from django.db import IntegrityError

from jikuai.core import refmemo
from jikuai.core.exceptions import ApplicationError
from jikuai.customers.models import Customer
from jikuai.org.models import Institution, Staff
from lending.models import CreditLine, LoanApplication, Product
from lending.services.lines import (
    credit_line_open_for_application,
    credit_line_request_approve,
    credit_line_request_submit,
    drawdown_request,
)

logger = logging.getLogger(__name__)
DEMO_INSTITUTIONS = ["YSRCB", "YBRCB"]
LINE_PRODUCT = "jnkd"
# (customer position among the institution's demo customers, limit, what to do). Positions 0, 1 and 4
# are loans repaid on time or early in the loan demo, so re-checks at drawdown pass.
PLAN = [(0, "100000", "drawdown"), (1, "50000", "open"), (4, "80000", "freeze")]


def _open(customer: Customer, product: Product, limit: str) -> CreditLine | None:
    existing = CreditLine.objects.filter(customer=customer, product=product).first()
    if existing is not None:
        return existing
    try:
        application, _ = LoanApplication.objects.get_or_create(
            application_no=f"DEMOLINE{customer.pk:08d}",
            defaults={
                "institution_id": customer.institution_id,
                "branch_id": customer.branch_id,
                "account_manager_id": customer.account_manager_id,
                "customer": customer,
                "product": product,
                "kind": "line",
                "amount_requested": Decimal(limit),
                "term_months": 12,
                "repayment_method": "equal_installment",
                "purpose": "农业生产经营（演示）",
                "state": "signed",
                "approved_amount": Decimal(limit),
                "annual_rate": Decimal("0.0435"),
            },
        )
    except IntegrityError:  # the customer has another open application for this product
        return None
    try:
        return credit_line_open_for_application(application_id=application.pk)
    except ApplicationError as exc:
        logger.info("demo line for customer %s skipped: %s", customer.pk, exc)
        return None


def seed_demo_lines() -> dict:
    product = Product.objects.filter(code=LINE_PRODUCT).first()
    if product is None:
        return {"lines": 0, "drawdowns": 0, "frozen": 0}
    if product.kind != "line" or not product.revolving:
        # 吉农快贷 is the revolving credit-line product of the case
        Product.objects.filter(pk=product.pk).update(kind="line", revolving=True)
        refmemo.changed()  # update() sends no signal: renew the memo of products on sale
        product.refresh_from_db()
    counts = {"lines": 0, "drawdowns": 0, "frozen": 0}
    for institution in Institution.objects.filter(code__in=DEMO_INSTITUTIONS).order_by("code"):
        customers = list(Customer.objects.filter(institution=institution).order_by("-web_enabled", "id")[:8])
        staff = list(Staff.objects.filter(institution=institution, is_active=True).order_by("id")[:2])
        for position, limit, plan in PLAN:
            if position >= len(customers):
                continue
            line = _open(customers[position], product, limit)
            if line is None:
                continue
            counts["lines"] += 1
            if plan == "drawdown" and not line.drawdowns.exists():
                try:
                    drawdown_request(
                        line_id=line.pk,
                        amount="20000",
                        term_months=12 if 12 in product.term_options else product.term_options[0],
                        repayment_method=product.default_method
                        if product.default_method in product.allowed_methods
                        else product.allowed_methods[0],
                        channel="web",
                    )
                except ApplicationError as exc:
                    logger.info("demo drawdown on %s skipped: %s", line.line_no, exc)
            if plan == "freeze" and line.state == "active" and len(staff) == 2 and not line.requests.exists():
                request = credit_line_request_submit(
                    line_id=line.pk, action="freeze", maker=staff[0], reason="贷后检查发现经营异常（演示）"
                )
                credit_line_request_approve(request_id=request.pk, checker=staff[1], comment="同意冻结")
            line.refresh_from_db()
            counts["drawdowns"] += line.drawdowns.filter(state="disbursed").count()
            counts["frozen"] += int(line.state == "frozen")
    return counts
