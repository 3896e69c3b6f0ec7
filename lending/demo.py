"""Idempotent demo data of the loan engine: the seven products and a portfolio of loans with history.

Loans are created through ``loan_create`` and their disbursement confirmed at a past value date;
their history is then written through the same services as in production: back-dated repayments on
the due dates (each replays the loan), so the demo shows on-time loans, settled loans with a
certificate, overdue loans (关注, 次级) and a manual classification — all reconciled.
"""

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from jikuai.core.workdays import get_business_date
from jikuai.customers.models import Customer
from jikuai.org.models import Institution
from lending import schedule as sched
from lending.demo_lines import seed_demo_lines
from lending.demo_review import seed_demo_review
from lending.models import Installment, Loan, Product, Repayment
from lending.services import loan_create, loan_disbursement_settled, prepayment_quote, repayment_record
from lending.services.reconcile import reconcile_ledger

ALL_METHODS = ["equal_installment", "equal_principal", "interest_only", "bullet"]


@dataclass(frozen=True)
class DemoProduct:
    code: str
    name: str
    max_amount: int
    min_rate: str
    max_rate: str
    terms: tuple
    methods: tuple
    grace_days: int = 0
    quarterly: bool = False
    fee_rate: str = "0"


PRODUCTS = [
    DemoProduct(
        "jnkd", "吉农快贷", 300_000, "0.0385", "0.12", (6, 12, 24, 36), ("interest_only", "equal_installment", "bullet"), 3, True
    ),
    DemoProduct("tsd", "天使贷", 300_000, "0.0385", "0.12", (12, 24, 36), ("equal_installment", "interest_only")),
    DemoProduct("gxd", "公薪贷", 800_000, "0.0345", "0.09", (12, 24, 36, 60), ("equal_installment", "equal_principal")),
    DemoProduct("jld", "金领贷", 500_000, "0.0365", "0.10", (12, 24, 36), ("equal_installment", "equal_principal")),
    DemoProduct(
        "xyd",
        "信易贷",
        1_000_000,
        "0.0435",
        "0.15",
        (6, 12, 24),
        ("equal_installment", "interest_only", "bullet"),
        0,
        False,
        "0.005",
    ),
    DemoProduct("ydd", "园丁贷", 500_000, "0.0345", "0.09", (12, 24, 36, 60), ("equal_installment", "equal_principal")),
    DemoProduct(
        "jwkd", "吉微快贷", 300_000, "0.0435", "0.18", (6, 12, 24), ("equal_installment", "interest_only"), 0, False, "0.005"
    ),
]
OCCUPATION_PRODUCT = {
    "farmer": "jnkd",
    "civil_servant": "gxd",
    "teacher": "ydd",
    "employee": "jld",
    "individual_business": "xyd",
    "micro_business_owner": "jwkd",
    "other": "jwkd",
}
DEMO_INSTITUTIONS = ["YSRCB", "YBRCB", "DHRCB", "WQRCB", "YTRCU"]


def seed_products() -> dict[str, Product]:
    """The seven products (one definition, with the product-factory configuration): lending.demo_origination."""
    from lending.demo_origination import seed_products as seed_origination_products

    return seed_origination_products()


def _history(loan: Loan, *, pay_until: dt.date, rng: random.Random, external_prefix: str) -> None:
    """Pay every installment due before ``pay_until`` on its due date (back-dated: each replays)."""
    for inst in Installment.objects.filter(loan=loan, is_current=True).order_by("number"):
        if inst.due_date >= pay_until:
            break
        loan.refresh_from_db()
        if not loan.is_open:
            break
        current = Installment.objects.filter(loan=loan, is_current=True, number=inst.number).first()
        amount = current.principal + current.interest - current.paid_principal - current.paid_interest if current else Decimal(0)
        if amount <= 0:
            continue
        repayment_record(
            loan_id=loan.pk,
            amount=amount,
            channel=Repayment.Channel.AUTO_COLLECTION if rng.random() < 0.7 else Repayment.Channel.CUSTOMER,
            external_id=f"{external_prefix}-{inst.number}",
            value_date=inst.due_date,
        )


def _demo_loan(
    *, customer: Customer, product: Product, number: str, principal, rate: str, months: int, method: str, value_date: dt.date
) -> Loan | None:
    contract_no = f"DEMO{customer.institution.code}{number}"
    existing = Loan.objects.filter(contract_no=contract_no).first()
    if existing is not None:
        return None
    loan = loan_create(
        customer=customer,
        product=product,
        principal=principal,
        annual_rate=Decimal(rate),
        term_months=months,
        method=method,
        value_date=value_date,
        contract_no=contract_no,
        auto_debit=False,
    )
    Loan.objects.filter(pk=loan.pk).update(disbursement_reference=f"DSB{loan.pk:012d}")
    return loan_disbursement_settled(reference=f"DSB{loan.pk:012d}", core_reference="DEMO")


def seed_loans(products: dict[str, Product], *, per_institution: int = 8, today: dt.date | None = None) -> dict[str, int]:
    today = today or get_business_date()
    rng = random.Random(20260401)
    created: dict[str, int] = {}
    institutions = list(Institution.objects.filter(code__in=DEMO_INSTITUTIONS).order_by("code"))
    for institution in institutions:
        # customers with a web login (the demo logins) first, so their loan pages have something to show
        customers = list(Customer.objects.filter(institution=institution).order_by("-web_enabled", "id")[:per_institution])
        count = 0
        for n, customer in enumerate(customers):
            product = products[OCCUPATION_PRODUCT.get(customer.occupation, "jwkd")]
            method = product.allowed_methods[n % len(product.allowed_methods)]
            months = 12 if 12 in product.term_options else product.term_options[0]
            kind = n % 4  # 0 on time, 1 settled early, 2 overdue 40 days, 3 overdue > 90 days
            value_date = today - dt.timedelta(days=200 if kind != 3 else 330)
            principal = Decimal(rng.randrange(20, 120)) * 1000
            rate = f"{max(Decimal(product.min_rate), Decimal('0.0435')):.4f}"
            loan = _demo_loan(
                customer=customer,
                product=product,
                number=f"{n + 1:04d}",
                principal=principal,
                rate=rate,
                months=months,
                method=method,
                value_date=value_date,
            )
            if loan is None:
                continue
            count += 1
            prefix = f"DEMO-{loan.pk}"
            if kind == 0:
                _history(loan, pay_until=today, rng=rng, external_prefix=prefix)
            elif kind == 1:
                _history(loan, pay_until=today - dt.timedelta(days=60), rng=rng, external_prefix=prefix)
                loan.refresh_from_db()
                if loan.is_open:
                    payoff = prepayment_quote(loan_id=loan.pk).payoff
                    repayment_record(
                        loan_id=loan.pk,
                        amount=payoff,
                        channel=Repayment.Channel.CUSTOMER,
                        kind="prepayment",
                        prepayment_option=sched.PrepaymentOption.REDUCE_PAYMENT,
                        external_id=f"{prefix}-payoff",
                    )
            elif kind == 2:
                _history(loan, pay_until=today - dt.timedelta(days=40), rng=rng, external_prefix=prefix)
        created[institution.code] = count
    _catch_up(today)
    _manual_class(institutions, today)
    return created


def _catch_up(today: dt.date) -> None:
    """Close the demo loans up to yesterday the way the nightly close does (day by day, per loan)."""
    from lending import state as loan_state
    from lending.services import cob

    ids = list(
        Loan.objects.filter(
            contract_no__startswith="DEMO",
            state__in=["active", "overdue"],
            last_closed_business_date__lt=today - dt.timedelta(days=1),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    context = cob.CloseContext(
        day=today - dt.timedelta(days=1), classifier=loan_state.classifier(), steps=loan_state.loan_steps()
    )
    for start in range(0, len(ids), 200):
        cob.close_chunk(ids[start : start + 200], context)


def _manual_class(institutions, today: dt.date) -> None:
    """One approved manual downgrade per institution (maker ≠ checker), for the admin demo."""
    from django.contrib.auth import get_user_model

    from jikuai.org import roles
    from lending.services import classification_request_approve, classification_request_create

    users = get_user_model().objects
    for institution in institutions:
        officers = list(users.filter(groups__name=roles.RISK_OFFICER, staff__institution=institution).order_by("id")[:2])
        loan = (
            Loan.objects.filter(institution=institution, contract_no__startswith="DEMO", state="active", manual_class="")
            .order_by("id")
            .first()
        )
        if len(officers) < 2 or loan is None or loan.classification_requests.exists():
            continue
        request = classification_request_create(
            loan_id=loan.pk, requested_class="special_mention", reason="演示：借款人所在行业景气下行，列入关注", maker=officers[0]
        )
        classification_request_approve(request_id=request.pk, checker=officers[1], comment="同意列入关注")


def seed_demo_lending(*, per_institution: int = 8) -> dict:
    products = seed_products()
    loans = seed_loans(products, per_institution=per_institution)
    seed_demo_lines()
    report = reconcile_ledger()
    result = {"products": len(products), "loans": loans, "ledger_reconciled": report.ok}
    from lending.demo_contracts import seed_demo_contracts
    from lending.demo_origination import seed_demo_origination

    result["origination"] = seed_demo_origination()  # issue 5: applications in every state
    result["review"] = seed_demo_review()
    result.update(seed_demo_contracts())
    return result
