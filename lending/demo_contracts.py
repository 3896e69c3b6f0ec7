"""Demo contracts (idempotent, fast): for the demo web customers, one loan contract waiting for the
customer's signature (sign it on /loans/contracts/ with the code printed by the console SMS backend) and,
when a credit-line product exists, one credit line agreement already sealed.

The sealed demo contract is marked as demo data in its evidence (``method = "demo"``, shown on the
evidence page and in the signature reason): no customer confirmed it.
"""

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q

from jikuai.customers.models import Customer
from lending.contracts import services
from lending.models import Contract, LoanApplication, Product, ProductKind

DEMO_PREFIX = "DEMOHT"


def _application(customer: Customer, product: Product, number: int, *, amount: str, months: int) -> LoanApplication | None:
    application_no = f"{DEMO_PREFIX}{customer.pk:06d}{number:02d}"
    existing = LoanApplication.objects.filter(application_no=application_no).first()
    if existing is not None:
        return existing
    methods = list(product.allowed_methods or ["equal_installment"])
    try:
        with transaction.atomic():
            return LoanApplication.objects.create(
                application_no=application_no,
                institution=customer.institution,
                branch=customer.branch,
                account_manager=customer.account_manager,
                customer=customer,
                product=product,
                kind=product.kind,
                amount_requested=Decimal(amount),
                term_months=months,
                repayment_method=methods[0],
                purpose="购买农资（演示）",
                state="approved",
                approved_amount=Decimal(amount),
                annual_rate=min(max(product.min_rate, Decimal("0.0435")), product.max_rate),
                apr=Decimal("4.35"),
                decided_at=dt.datetime.now(dt.UTC),
            )
    except IntegrityError:
        return None  # the customer already has an open application for this product (origination demo)


def _product(customer: Customer, kind: str) -> Product | None:
    return (
        Product.objects.filter(kind=kind, is_active=True)
        .filter(Q(institution_id=customer.institution_id) | Q(institution__isnull=True))
        .order_by("code")
        .first()
    )


def seed_demo_contracts() -> dict:
    customers = list(Customer.objects.filter(is_demo=True, web_enabled=True).order_by("id")[:2])
    prepared = sealed = 0
    for index, customer in enumerate(customers):
        kind = ProductKind.LINE if index == 1 else ProductKind.LOAN
        product = _product(customer, kind) or _product(customer, ProductKind.LOAN)
        if product is None:
            continue
        months = 12 if 12 in (product.term_options or [12]) else int((product.term_options or [12])[0])
        application = _application(customer, product, 1, amount="50000", months=months)
        if application is None:
            continue
        if application.state == "approved":
            contract = services.contract_prepare_for_application(application_id=application.pk)
            prepared += 1
        else:
            contract = Contract.objects.filter(application=application).order_by("-id").first()
        if contract is not None and index == 1 and contract.state == "awaiting_signature":
            services._seal_confirmed(contract, customer, method="demo", ip_address="127.0.0.1", user_agent="seed_demo")
            sealed += 1
        if index == 0:
            sealed += _disbursed_demo(customer, exclude=product)
    return {"contracts_prepared": prepared, "contracts_sealed": sealed}


def _disbursed_demo(customer: Customer, *, exclude: Product) -> int:
    """A one-off loan that went all the way: contract sealed, then disbursed by the workflow (bus)."""
    product = (
        Product.objects.filter(kind=ProductKind.LOAN, is_active=True)
        .filter(Q(institution_id=customer.institution_id) | Q(institution__isnull=True))
        .exclude(pk=exclude.pk)
        .order_by("code")
        .first()
    )
    if product is None:
        return 0
    months = 12 if 12 in (product.term_options or [12]) else int((product.term_options or [12])[0])
    application = _application(customer, product, 2, amount="30000", months=months)
    if application is None or application.state != "approved":
        return 0
    contract = services.contract_prepare_for_application(application_id=application.pk)
    services._seal_confirmed(contract, customer, method="demo", ip_address="127.0.0.1", user_agent="seed_demo")
    return 1
