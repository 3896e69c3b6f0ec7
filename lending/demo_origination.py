"""Idempotent demo data of origination: the seven products of the case as full product-factory
configuration, and demo applications in every state the services reach (draft, approved, rejected,
referred, cancelled, expired).

The products keep the codes, names and loan-engine terms ``lending/demo.py`` always seeded (existing
loans reference them); ``lending.demo.seed_products`` delegates here, so there is one definition.
Rule-set codes follow the riskrules policy: ``<code>_admission`` / ``_rating`` / ``_limit`` /
``_pricing`` (吉农快贷 also decides through the pinned flow ``jnkd_credit``).
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from jikuai.customers.models import Customer, Household
from jikuai.org.models import Institution, Staff
from lending.models import ApplicationState, Loan, LoanApplication, Product, ProductKind, ProductStatus, Segment

LOAN_STATES_OPEN = ("pending", "active", "overdue")
DEMO_PURPOSE = "演示申请"


@dataclass(frozen=True)
class ProductSpec:
    code: str
    name: str
    segment: str
    kind: str
    max_amount: int
    terms: tuple
    methods: tuple
    max_rate: str
    spreads: dict
    description: str
    revolving: bool = False
    line_validity_months: int = 12
    grace_days: int = 0
    quarterly: bool = False
    fee_rate: str = "0"
    documents: tuple = ("id_card_front", "id_card_back", "selfie")
    tiers: list = field(default_factory=lambda: [{"up_to": "100000.00", "role": "reviewer"}, {"up_to": None, "role": "manager"}])


# caps and spreads: riskrules/policy/products.py; terms, methods, rate caps, grace and fees: lending/demo.py
PRODUCT_SPECS = [
    ProductSpec(
        "jnkd",
        "吉农快贷",
        Segment.FARMER,
        ProductKind.LINE,
        300_000,
        (6, 12, 24, 36),
        ("interest_only", "equal_installment", "bullet"),
        "0.12",
        {"A": 20, "B": 45, "C": 75, "D": 110},
        "面向整村授信白名单农户的循环授信额度：额度以村级评议核定的预授信额度为准（最高30万元），"
        "三年有效，随借随还；按月付息到期还本、等额本息或利随本清。",
        revolving=True,
        line_validity_months=36,
        grace_days=3,
        quarterly=True,
        documents=("id_card_front", "id_card_back", "selfie", "household_register"),
    ),
    ProductSpec(
        "tsd",
        "天使贷",
        Segment.ENTREPRENEUR,
        ProductKind.LOAN,
        300_000,
        (12, 24, 36),
        ("equal_installment", "interest_only"),
        "0.12",
        {"A": 40, "B": 75, "C": 115, "D": 170},
        "面向18–45周岁青年创业者和返乡创业人员（个体工商户、小微企业主、返乡务农创业）的创业信用贷款，"
        "不设经营年限门槛，最高30万元，额度按月收入20倍核定；可按月付息到期还本。",
        documents=("id_card_front", "id_card_back", "selfie", "business_plan"),
    ),
    ProductSpec(
        "gxd",
        "公薪贷",
        Segment.CIVIL_SERVANT,
        ProductKind.LOAN,
        800_000,
        (12, 24, 36, 60),
        ("equal_installment", "equal_principal"),
        "0.09",
        {"A": 15, "B": 35, "C": 60, "D": 95},
        "面向机关事业单位公职人员的信用贷款，最高80万元，额度按月收入24倍核定，最长5年。",
        documents=("id_card_front", "id_card_back", "selfie", "employment_certificate"),
    ),
    ProductSpec(
        "jld",
        "金领贷",
        Segment.EMPLOYEE,
        ProductKind.LOAN,
        500_000,
        (12, 24, 36),
        ("equal_installment", "equal_principal"),
        "0.10",
        {"A": 25, "B": 45, "C": 70, "D": 105},
        "面向上市公司等优质企业员工的信用贷款，最高50万元，额度按月收入20倍核定。",
        documents=("id_card_front", "id_card_back", "selfie", "employment_certificate"),
    ),
    ProductSpec(
        "xyd",
        "信易贷",
        Segment.BUSINESS,
        ProductKind.LINE,
        1_000_000,
        (6, 12, 24),
        ("equal_installment", "interest_only", "bullet"),
        "0.15",
        {"A": 60, "B": 100, "C": 150, "D": 220},
        "面向经营满1年、纳税和信用记录良好的个体工商户、小微企业主的循环经营额度，最高100万元，一年有效。",
        revolving=True,
        line_validity_months=12,
        fee_rate="0.005",
        documents=("id_card_front", "id_card_back", "selfie", "business_licence"),
        tiers=[
            {"up_to": "100000.00", "role": "reviewer"},
            {"up_to": "500000.00", "role": "manager"},
            {"up_to": None, "role": "committee"},
        ],
    ),
    ProductSpec(
        "ydd",
        "园丁贷",
        Segment.TEACHER,
        ProductKind.LOAN,
        500_000,
        (12, 24, 36, 60),
        ("equal_installment", "equal_principal"),
        "0.09",
        {"A": 15, "B": 35, "C": 60, "D": 95},
        "面向在职教师的信用贷款，最高50万元，额度按月收入24倍核定，最长5年。",
        documents=("id_card_front", "id_card_back", "selfie", "employment_certificate"),
    ),
    ProductSpec(
        "jwkd",
        "吉微快贷",
        Segment.MICRO_BUSINESS,
        ProductKind.LINE,
        300_000,
        (6, 12, 24),
        ("equal_installment", "interest_only"),
        "0.18",
        {"A": 80, "B": 130, "C": 190, "D": 260},
        "面向小微经营者的线上循环额度，最高30万元，一年有效，按月收入20倍核定。",
        revolving=True,
        line_validity_months=12,
        fee_rate="0.005",
        documents=("id_card_front", "id_card_back", "selfie", "business_licence"),
    ),
]
# English names and descriptions, shown on English pages (presentation only: not product terms)
PRODUCT_ENGLISH = {
    "jnkd": (
        "Jinong Quick Loan",
        "A revolving credit line for farming households on a village's whole-village credit list: the limit is "
        "the pre-approved amount set by the village appraisal (up to 300,000 yuan), valid for three years, "
        "borrow and repay at any time; interest monthly with principal at maturity, equal installments, or "
        "principal and interest together at maturity.",
    ),
    "tsd": (
        "Angel Loan",
        "A start-up credit loan for young entrepreneurs aged 18–45 and people returning home to start a "
        "business (individual businesses, micro-business owners, returning farmers). No minimum years in "
        "business; up to 300,000 yuan, 20 times the monthly income; interest monthly with principal at "
        "maturity is available.",
    ),
    "gxd": (
        "Public Salary Loan",
        "A credit loan for staff of government bodies and public institutions: up to 800,000 yuan, 24 times "
        "the monthly income, for up to 5 years.",
    ),
    "jld": (
        "Gold Collar Loan",
        "A credit loan for employees of listed companies and other quality enterprises: up to 500,000 yuan, "
        "20 times the monthly income.",
    ),
    "xyd": (
        "Credit Easy Loan",
        "A revolving business credit line for individual businesses and micro-business owners trading for "
        "at least a year with good tax and credit records: up to 1,000,000 yuan, valid for one year.",
    ),
    "ydd": (
        "Gardener Loan",
        "A credit loan for serving teachers: up to 500,000 yuan, 24 times the monthly income, for up to 5 years.",
    ),
    "jwkd": (
        "Jiwei Quick Loan",
        "An online revolving credit line for micro businesses: up to 300,000 yuan, valid for one year, 20 "
        "times the monthly income.",
    ),
}

# floor of the product rate range: below every 1-year LPR + spread the pricing rules can produce
MIN_RATE = Decimal("0.0250")


def _apply_spec(product: Product, spec: ProductSpec) -> None:
    product.name = spec.name
    product.segment = spec.segment
    product.kind = spec.kind
    product.revolving = spec.revolving
    product.line_validity_months = spec.line_validity_months
    product.min_amount = Decimal("1000.00")
    product.max_amount = Decimal(spec.max_amount).quantize(Decimal("0.01"))
    product.term_options = list(spec.terms)
    product.allowed_methods = list(spec.methods)
    product.default_method = spec.methods[0]
    product.min_rate = MIN_RATE
    product.max_rate = Decimal(spec.max_rate)
    product.grace_days = spec.grace_days
    product.quarterly_interest = spec.quarterly
    product.upfront_fee_rate = Decimal(spec.fee_rate)
    product.lpr_spreads_bp = dict(spec.spreads)
    product.admission_ruleset = f"{spec.code}_admission"
    product.rating_ruleset = f"{spec.code}_rating"
    product.limit_ruleset = f"{spec.code}_limit"
    product.pricing_ruleset = f"{spec.code}_pricing"
    product.required_documents = list(spec.documents)
    product.channels = ["web", "field", "api"]
    product.approval_tiers = [dict(t) for t in spec.tiers]
    product.application_validity_days = 30
    product.description = spec.description
    product.name_en, product.description_en = PRODUCT_ENGLISH.get(spec.code, ("", ""))


def seed_products() -> dict[str, Product]:
    """The seven products, created or brought to their configuration (idempotent: a rerun changes
    nothing, so versions stay put). Products suspended by staff stay suspended."""
    from lending.services.products import product_save

    products = {}
    for spec in PRODUCT_SPECS:
        product = Product.objects.filter(code=spec.code).first()
        if product is None:
            product = Product(code=spec.code, status=ProductStatus.ACTIVE)
        before = {f.attname: getattr(product, f.attname) for f in Product._meta.concrete_fields}
        _apply_spec(product, spec)
        after = {f.attname: getattr(product, f.attname) for f in Product._meta.concrete_fields}
        if product.pk is None or before != after:
            product = product_save(product=product)
        products[spec.code] = product
    return products


# --- demo applications ------------------------------------------------------------------------------------


def _verify_for_demo(customer: Customer) -> None:
    """演示：柜面核验 — the demo marks the customer's identity as verified and records the consent to the
    credit report query (through the kernel service), so the rules can approve."""
    from jikuai.customers.services import consent_grant, consent_is_active

    if customer.kyc_status != Customer.KycStatus.VERIFIED:
        Customer.objects.filter(pk=customer.pk).update(kyc_status=Customer.KycStatus.VERIFIED)
        customer.kyc_status = Customer.KycStatus.VERIFIED
    if not consent_is_active(customer_id=customer.pk, purpose="credit_report"):
        consent_grant(customer=customer, purpose="credit_report", text_version="2026.1", channel="field")


def _free_customers(institution: Institution, occupations, *, exclude: set[int]) -> list[Customer]:
    """Demo customers without loans or applications (so their decision is not blurred by other debt)."""
    busy = set(Loan.objects.filter(institution=institution).values_list("customer_id", flat=True))
    busy |= set(LoanApplication.objects.filter(institution=institution).values_list("customer_id", flat=True))
    rows = Customer.objects.filter(institution=institution, is_demo=True, occupation__in=occupations).order_by("id")[:60]
    return [c for c in rows if c.pk not in busy and c.pk not in exclude]


def _apply(
    customer: Customer,
    product: Product,
    *,
    amount: str,
    term: int,
    staff: Staff | None,
    purpose: str,
    submit: bool = True,
    extra_inputs=None,
):
    from lending.services.origination import application_create, application_submit

    app = application_create(
        customer=customer,
        product=product,
        amount=amount,
        term_months=term,
        repayment_method=product.allowed_methods[0],
        channel="field" if staff else "web",
        purpose=f"{DEMO_PURPOSE}：{purpose}",
        staff=staff,
        extra_inputs=extra_inputs,
    )
    if submit:
        app = application_submit(application_id=app.pk, staff=staff)
    return app


def _seed_institution(institution: Institution, products: dict[str, Product], today: dt.date) -> dict[str, int]:
    from lending.services.origination import application_cancel, application_expire_due

    made: dict[str, int] = {}
    demo = LoanApplication.objects.filter(institution=institution, purpose__startswith=DEMO_PURPOSE)
    have = set(demo.values_list("state", flat=True))
    staff = Staff.objects.filter(institution=institution, user__username__endswith="_am1").first()
    used: set[int] = set()

    def note(app):
        used.add(app.customer_id)
        made[app.state] = made.get(app.state, 0) + 1
        have.add(app.state)
        return app

    salaried = ("teacher", "civil_servant")
    product_for = {"teacher": products["ydd"], "civil_servant": products["gxd"]}
    # approved (and one to expire): verified identity, consent, own occupation's product, modest amount
    # an approved application moves on to contract_pending at once (the workflow prepares its contract)
    after_approval = {ApplicationState.CONTRACT_PENDING, ApplicationState.SIGNED, ApplicationState.DISBURSED}
    for wanted in (ApplicationState.APPROVED, ApplicationState.EXPIRED):
        if wanted in have or (wanted == ApplicationState.APPROVED and have & after_approval):
            continue
        for customer in _free_customers(institution, salaried, exclude=used)[:4]:
            _verify_for_demo(customer)
            app = note(_apply(customer, product_for[customer.occupation], amount="30000", term=36, staff=staff, purpose="装修"))
            if app.state == ApplicationState.APPROVED:
                if wanted == ApplicationState.EXPIRED:
                    LoanApplication.objects.filter(pk=app.pk).update(expires_on=today - dt.timedelta(days=1))
                    application_expire_due(business_date=today)
                    made[ApplicationState.APPROVED] -= 1
                    made[ApplicationState.EXPIRED] = made.get(ApplicationState.EXPIRED, 0) + 1
                    have.add(ApplicationState.EXPIRED)
                break
    # rejected: a farmer asks for the public servants' product (occupation knock-out)
    if ApplicationState.REJECTED not in have:
        for customer in _free_customers(institution, ("farmer",), exclude=used)[:1]:
            note(_apply(customer, products["gxd"], amount="50000", term=36, staff=staff, purpose="购买农机"))
    # referred: identity not yet verified → manual review
    if ApplicationState.REFERRED not in have:
        for customer in _free_customers(institution, salaried, exclude=used)[:3]:
            app = note(
                _apply(customer, product_for[customer.occupation], amount="20000", term=24, staff=staff, purpose="教育支出")
            )
            if app.state == ApplicationState.REFERRED:
                break
    # 吉农快贷 for a white-listed household head (the white list itself is riskrules' demo data)
    if not demo.filter(product=products["jnkd"]).exists():
        household = Household.objects.filter(institution=institution, is_demo=True).order_by("id").first()
        if household is not None and household.head_id not in used:
            if household.pre_credit_limit is None:
                Household.objects.filter(pk=household.pk).update(pre_credit_limit=Decimal("100000.00"))
            head = household.head
            _verify_for_demo(head)
            note(
                _apply(
                    head,
                    products["jnkd"],
                    amount="80000",
                    term=12,
                    staff=staff,
                    purpose="春耕备耕",
                    extra_inputs={"household_appraisal": "good"},
                )
            )
    # draft and cancelled
    if ApplicationState.DRAFT not in have:
        for customer in _free_customers(institution, ("employee",), exclude=used)[:1]:
            note(
                _apply(
                    customer,
                    products["jld"],
                    amount="40000",
                    term=24,
                    staff=staff,
                    purpose="购车",
                    submit=False,
                    extra_inputs={"employer_category": "listed_enterprise", "employment_years": 4},
                )
            )
    if ApplicationState.CANCELLED not in have:
        for customer in _free_customers(institution, ("individual_business", "micro_business_owner"), exclude=used)[:1]:
            app = _apply(
                customer,
                products["jwkd"],
                amount="60000",
                term=12,
                staff=staff,
                purpose="进货",
                submit=False,
                extra_inputs={"business_years": 3},
            )
            note(application_cancel(application_id=app.pk, reason="演示：客户改期再申请", staff=staff))
    return made


def seed_web_customer_applications(products: dict[str, Product]) -> int:
    """The demo web logins see applications on their "my applications" page."""
    made = 0
    for customer in Customer.objects.filter(is_demo=True, web_enabled=True).order_by("id"):
        if LoanApplication.objects.filter(customer=customer).exists():
            continue
        product = products["ydd"] if customer.occupation == "teacher" else products["jnkd"]
        _apply(
            customer,
            product,
            amount="20000",
            term=product.term_options[1],
            staff=None,
            purpose="家庭周转",
            submit=customer.occupation == "teacher",
        )
        made += 1
    return made


def seed_demo_origination() -> dict:
    from jikuai.core.workdays import get_business_date
    from lending.demo import DEMO_INSTITUTIONS

    products = seed_products()
    today = get_business_date()
    applications = {}
    for institution in Institution.objects.filter(code__in=DEMO_INSTITUTIONS).order_by("code"):
        if not Customer.objects.filter(institution=institution, is_demo=True).exists():
            continue
        applications[institution.code] = _seed_institution(institution, products, today)
    web = seed_web_customer_applications(products)
    return {"products": len(products), "applications": applications, "web_customer_applications": web}
