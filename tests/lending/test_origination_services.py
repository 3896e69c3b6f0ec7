# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""Applications and their automated decision through the real rule flow (riskrules' published policy):
approve / reject / refer with reasons, amounts, rates and APR; providers feeding the rules; snapshots;
cancel, expiry and disbursement; bad input changes nothing."""

import datetime as dt
from decimal import Decimal

import pytest
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import business_date_set
from lending import corebanking
from lending import schedule as sched
from lending.models import ApplicationState, Loan, LoanApplication, ProductStatus, ReviewTask
from lending.services.loans import validate_offer
from lending.services.origination import (
    application_cancel,
    application_create,
    application_disburse,
    application_expire_due,
    application_submit,
)
from lending.services.products import product_from_snapshot, product_save, product_set_status
from tests.factories import BranchFactory, InstitutionFactory, make_customer
from tests.lending.factories import make_loan
from tests.lending.origination_helpers import (  # noqa: F401
    BUSINESS_DATE,
    account_manager,
    applicant,
    branch,
    policy,
    products,
    seeded_policy,
    whitelisted_farmer,
)

pytestmark = pytest.mark.django_db


def create(customer, product, **overrides):
    kwargs = {
        "customer": customer,
        "product": product,
        "amount": "50000",
        "term_months": 36,
        "repayment_method": "equal_installment",
        "channel": "web",
    }
    kwargs.update(overrides)
    return application_create(**kwargs)


def test_teacher_is_approved_with_amount_rate_and_apr_from_the_rules(products, branch):
    customer = applicant(branch=branch, occupation="teacher", income="12000")
    app = create(customer, products["ydd"], purpose="装修")
    assert app.state == ApplicationState.DRAFT and app.application_no.startswith("AP20260302")
    app = application_submit(application_id=app.pk, customer=customer)
    assert app.state == ApplicationState.APPROVED, app.reasons
    assert app.decision_outcome == "approve" and app.grade in ("A", "B")
    assert set(app.decision_ids) == {"flow"}  # ydd_origination: admission → rating → limit → pricing, one record
    assert app.approved_amount == Decimal("50000.00")  # below the limit: the requested amount
    spread = products["ydd"].lpr_spreads_bp[app.grade]
    assert app.annual_rate == (Decimal(300 + spread) / 10000).quantize(Decimal("0.000001"))
    expected_apr = validate_offer(
        product=products["ydd"],
        principal=Decimal("50000"),
        annual_rate=app.annual_rate,
        term_months=36,
        method="equal_installment",
        value_date=BUSINESS_DATE,
    )[4]
    assert app.apr * 100 == expected_apr
    assert app.decision_ms is not None and app.decision_ms > 0
    assert app.expires_on == BUSINESS_DATE + dt.timedelta(days=30)
    assert app.product_version == products["ydd"].version and app.product_snapshot["code"] == "ydd"
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in app.reasons)
    states = list(StateLog.objects.for_(app).order_by("id").values_list("state", flat=True))
    assert states == ["submitted", "deciding", "approved"]
    assert app.decision_inputs["monthly_debt_fen"] > 0 and app.decision_inputs["requested_amount_fen"] == 5_000_000


def test_approved_amount_is_the_limit_when_the_request_is_above_it(products, branch):
    customer = applicant(branch=branch, occupation="civil_servant", income="8000")
    app = application_submit(application_id=create(customer, products["gxd"], amount="200000", term_months=60).pk)
    assert app.state == ApplicationState.APPROVED, app.reasons
    assert app.approved_amount < Decimal("200000") and app.approved_amount % 1000 == 0
    assert app.approved_amount <= Decimal("8000") * 24


def test_occupation_mismatch_is_rejected_with_plain_chinese_reasons(products, branch):
    farmer = applicant(branch=branch, occupation="farmer")
    app = application_submit(application_id=create(farmer, products["gxd"]).pk)
    assert app.state == ApplicationState.REJECTED and app.decision_outcome == "reject"
    assert ["OCCUPATION_MISMATCH", "职业不符合产品准入要求"] in app.reasons
    assert app.approved_amount is None and app.annual_rate is None
    assert set(app.decision_ids) == {"flow"}  # a knock-out stops the flow after admission
    assert not ReviewTask.objects.filter(application=app).exists()


def test_a_product_without_a_deployed_flow_is_decided_step_by_step(products, branch, settings):
    settings.JIKUAI_ORIGINATION_CREDIT_FLOWS = {"ydd": "ydd_flow_not_deployed"}
    customer = applicant(branch=branch, occupation="teacher", income="12000")
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.APPROVED, app.reasons
    assert set(app.decision_ids) == {"admission", "rating", "limit", "pricing"}
    spread = products["ydd"].lpr_spreads_bp[app.grade]
    assert app.annual_rate == (Decimal(300 + spread) / 10000).quantize(Decimal("0.000001"))
    farmer = applicant(branch=branch, occupation="farmer")
    refused = application_submit(application_id=create(farmer, products["ydd"]).pk)
    assert refused.state == ApplicationState.REJECTED and set(refused.decision_ids) == {"admission"}


def test_unverified_identity_is_referred_to_a_review_task_with_a_proposal(products, branch):
    customer = applicant(branch=branch, occupation="teacher", verified=False)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.REFERRED
    assert "KYC_NOT_VERIFIED" in [code for code, _ in app.reasons]
    task = ReviewTask.objects.get(application=app)
    assert task.status == "open" and task.queue_role == "审批员" and task.institution_id == app.institution_id
    assert app.approved_amount == Decimal("50000.00") and app.annual_rate is not None  # the reviewer's starting point


def test_existing_overdue_loan_feeds_the_rules_through_the_provider(products, branch):
    customer = applicant(branch=branch, occupation="teacher")
    loan = make_loan(customer=customer, value_date=dt.date(2025, 6, 15), principal="5000", months=12)
    Loan.objects.filter(pk=loan.pk).update(state="overdue", dpd=20)
    business_date_set(day=BUSINESS_DATE)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.REJECTED
    assert "CURRENT_OVERDUE" in [code for code, _ in app.reasons]


def test_white_listed_farmer_gets_the_household_limit_through_the_jnkd_flow(products, branch):
    farmer = whitelisted_farmer(branch=branch, limit="150000.00")
    app = create(farmer, products["jnkd"], amount="300000", term_months=12, repayment_method="interest_only")
    app = application_submit(application_id=app.pk)
    assert app.state == ApplicationState.APPROVED, app.reasons
    assert set(app.decision_ids) == {"flow"} and app.kind == "line"  # one decision: admission → … → pricing
    assert app.approved_amount == Decimal("150000.00")  # min(requested, white-list limit)
    assert app.product_snapshot["credit_flow_ruleset"] == "jnkd_origination"


def test_farmer_not_on_the_white_list_is_rejected(products, branch):
    farmer = whitelisted_farmer(branch=branch, on_list=False)
    app = create(farmer, products["jnkd"], amount="100000", term_months=12, repayment_method="interest_only")
    app = application_submit(application_id=app.pk)
    assert app.state == ApplicationState.REJECTED
    assert ["NOT_ON_WHITELIST", "不在整村授信白名单内"] in app.reasons


def test_declared_income_fills_an_empty_customer_income(products, branch):
    customer = applicant(branch=branch, occupation="teacher", income="0")
    app = create(customer, products["ydd"], declared_monthly_income="9000")
    customer.refresh_from_db()
    assert customer.monthly_income == Decimal("9000.00") and app.declared_monthly_income == Decimal("9000.00")
    assert application_submit(application_id=app.pk).state == ApplicationState.APPROVED


def test_product_change_applies_to_new_applications_only(products, branch):
    product = products["ydd"]
    first = applicant(branch=branch)
    early = application_submit(application_id=create(first, product).pk)
    version = product.version
    product.lpr_spreads_bp = {"A": 100, "B": 120, "C": 150, "D": 180}
    product.term_options = [12, 24]
    product = product_save(product=product)
    assert product.version == version + 1
    early.refresh_from_db()
    assert early.product_version == version and early.product_snapshot["term_options"] == [12, 24, 36, 60]
    # the old application's later steps use its snapshot: its offer still validates with 36 months
    offered = product_from_snapshot(early.product_snapshot, product_id=product.pk)
    validate_offer(
        product=offered,
        principal=early.approved_amount,
        annual_rate=early.annual_rate,
        term_months=36,
        method="equal_installment",
        value_date=BUSINESS_DATE,
    )
    second = applicant(branch=branch)
    with pytest.raises(ApplicationError) as refused:
        create(second, product, term_months=36)
    assert refused.value.code == "term_not_allowed"
    late = application_submit(application_id=create(second, product, term_months=24).pk)
    assert late.product_version == version + 1 and late.product_snapshot["term_options"] == [12, 24]


def test_disbursement_of_a_signed_loan_application_uses_the_snapshot(products, branch):
    customer = applicant(branch=branch)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.APPROVED
    app.await_contract()
    app.sign()
    app.save()
    product = products["ydd"]
    product.grace_days = 9
    product_save(product=product)
    product_set_status(product_id=product.pk, status=ProductStatus.SUSPENDED)
    loan = application_disburse(application_id=app.pk)
    app.refresh_from_db()
    assert app.state == ApplicationState.DISBURSED and loan.state == "active"
    assert loan.principal == app.approved_amount and loan.annual_rate == app.annual_rate
    assert loan.grace_days == 0 and loan.term_months == 36 and loan.method == "equal_installment"
    assert application_disburse(application_id=app.pk).pk == loan.pk  # a repeat returns the loan
    with pytest.raises(Conflict) as refused:
        application_cancel(application_id=app.pk, reason="不想要了", customer=customer)
    assert refused.value.code == "not_cancellable" and "已放款" in refused.value.message_zh
    app.refresh_from_db()
    assert app.state == ApplicationState.DISBURSED


def test_core_banking_failure_leaves_the_application_signed(products, branch, monkeypatch):
    customer = applicant(branch=branch)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    app.await_contract()
    app.sign()
    app.save()

    def down(self, request):
        raise corebanking.CoreBankingError("timeout")

    monkeypatch.setattr(corebanking.LocalAdapter, "disburse", down)
    with pytest.raises(ApplicationError) as failed:
        application_disburse(application_id=app.pk)
    assert failed.value.code == "disbursement_failed" and "已签约" in failed.value.message_zh
    app.refresh_from_db()
    assert app.state == ApplicationState.SIGNED
    monkeypatch.undo()
    loan = application_disburse(application_id=app.pk)  # the retry reuses the pending loan
    app.refresh_from_db()
    assert app.state == ApplicationState.DISBURSED and Loan.objects.filter(customer=customer).count() == 1
    assert loan.state == "active"


def test_line_applications_are_not_disbursed_directly(products, branch):
    farmer = whitelisted_farmer(branch=branch)
    app = application_submit(
        application_id=create(farmer, products["jnkd"], amount="50000", term_months=12, repayment_method="interest_only").pk
    )
    with pytest.raises(Conflict):
        application_disburse(application_id=app.pk)


def test_cancel_and_expiry(products, branch):
    customer = applicant(branch=branch)
    draft = create(customer, products["ydd"])
    with pytest.raises(ApplicationError):
        application_cancel(application_id=draft.pk, reason="  ", customer=customer)
    other = applicant(branch=branch)
    with pytest.raises(NotFound):
        application_cancel(application_id=draft.pk, reason="x", customer=other)
    cancelled = application_cancel(application_id=draft.pk, reason="改期再申请", customer=customer)
    assert cancelled.state == ApplicationState.CANCELLED and cancelled.closed_reason == "改期再申请"
    assert application_cancel(application_id=draft.pk, reason="again", customer=customer).state == "cancelled"
    # a cancelled application frees the product for a new one
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.APPROVED
    assert application_expire_due(business_date=app.expires_on) == 0
    assert application_expire_due(business_date=app.expires_on + dt.timedelta(days=1)) == 1
    app.refresh_from_db()
    assert app.state == ApplicationState.EXPIRED and "签约" in app.closed_reason


def test_cancelling_a_referred_application_closes_its_review_task(products, branch):
    customer = applicant(branch=branch, verified=False)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    assert app.state == ApplicationState.REFERRED
    application_cancel(application_id=app.pk, reason="客户撤回", customer=customer)
    assert ReviewTask.objects.get(application=app).status == "cancelled"


def _snapshot_counts():
    return LoanApplication.objects.count(), StateLog.objects.count()


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"amount": "500"}, "amount_out_of_range"),
        ({"amount": "600000"}, "amount_out_of_range"),
        ({"amount": "abc"}, "invalid_amount"),
        ({"amount": "100.001"}, "invalid_amount"),
        ({"term_months": 7}, "term_not_allowed"),
        ({"term_months": "x"}, "invalid_term"),
        ({"repayment_method": "bullet"}, "method_not_allowed"),
        ({"channel": "fax"}, "invalid_channel"),
        ({"extra_inputs": {"employer_category": "circus"}}, "invalid_input"),
        ({"extra_inputs": {"business_years": -1}}, "invalid_input"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(products, branch, overrides, code):
    customer = applicant(branch=branch)
    before = _snapshot_counts()
    with pytest.raises(ApplicationError) as refused:
        create(customer, products["ydd"], **overrides)
    assert refused.value.code == code and refused.value.message_zh and refused.value.message_en
    assert _snapshot_counts() == before


def test_suspended_draft_and_other_institution_products_are_refused(products, branch):
    customer = applicant(branch=branch)
    product = products["gxd"]
    product_set_status(product_id=product.pk, status=ProductStatus.SUSPENDED)
    product.refresh_from_db()
    assert product.is_active is False
    with pytest.raises(ApplicationError) as refused:
        create(customer, product)
    assert refused.value.code == "product_inactive" and "暂停" in refused.value.message_zh
    foreign = products["ydd"]
    foreign.institution = InstitutionFactory()
    product_save(product=foreign)
    with pytest.raises(ApplicationError) as refused:
        create(customer, foreign)
    assert refused.value.code == "product_not_available"
    assert LoanApplication.objects.count() == 0


def test_product_suspended_after_the_draft_refuses_the_submit(products, branch):
    customer = applicant(branch=branch)
    app = create(customer, products["ydd"])
    product_set_status(product_id=products["ydd"].pk, status=ProductStatus.SUSPENDED)
    with pytest.raises(ApplicationError):
        application_submit(application_id=app.pk)
    app.refresh_from_db()
    assert app.state == ApplicationState.DRAFT and not StateLog.objects.for_(app).exists()


def test_second_open_application_for_the_same_product_is_a_conflict(products, branch):
    customer = applicant(branch=branch)
    first = create(customer, products["ydd"])
    with pytest.raises(Conflict) as refused:
        create(customer, products["ydd"], amount="20000")
    assert refused.value.code == "application_open" and first.application_no in refused.value.message_zh
    application_submit(application_id=first.pk)
    with pytest.raises(Conflict):
        create(customer, products["ydd"], amount="20000")
    assert LoanApplication.objects.filter(customer=customer).count() == 1
    # another product is fine
    assert create(customer, products["gxd"]).state == ApplicationState.DRAFT


def test_staff_of_another_institution_cannot_apply_or_submit(products, branch):
    customer = applicant(branch=branch)
    outsider = account_manager(branch=BranchFactory())
    with pytest.raises(PermissionDeniedError):
        create(customer, products["ydd"], staff=outsider, channel="field")
    app = create(customer, products["ydd"])
    with pytest.raises(NotFound):
        application_submit(application_id=app.pk, staff=outsider)


def test_field_application_is_attributed_to_the_account_manager(products, branch):
    manager = account_manager(branch=branch)
    customer = applicant(branch=branch)
    app = create(customer, products["ydd"], staff=manager, channel="field")
    assert app.created_by_staff == manager and app.account_manager == manager and app.channel == "field"
    app = application_submit(application_id=app.pk, staff=manager)
    assert app.state == ApplicationState.APPROVED
    log = StateLog.objects.for_(app).order_by("id").first()
    assert log.by == manager.user


def test_submit_twice_is_a_no_op(products, branch):
    customer = applicant(branch=branch)
    app = create(customer, products["ydd"])
    first = application_submit(application_id=app.pk)
    again = application_submit(application_id=app.pk)
    assert again.state == first.state and again.decision_ids == first.decision_ids
    assert StateLog.objects.for_(app).count() == 3


def test_monthly_debt_includes_existing_loans(products, branch):
    customer = applicant(branch=branch, income="10000")
    bare = make_customer(branch=branch)
    loan = make_loan(customer=customer, value_date=dt.date(2026, 1, 15), principal="100000", months=12)
    business_date_set(day=BUSINESS_DATE)
    app = application_submit(application_id=create(customer, products["ydd"]).pk)
    own = sched.annuity_for_rate(Decimal("50000"), Decimal("0.0250") + Decimal("0.0095"), 36)
    assert app.decision_inputs["monthly_debt_fen"] == int((own + loan.level_payment) * 100)
    assert bare.pk != customer.pk


def test_providers_report_lending_figures(products, branch):
    from lending import providers
    from riskrules.facade import FeatureContext, Subject

    customer = applicant(branch=branch)
    loan = make_loan(customer=customer, value_date=dt.date(2025, 6, 15), principal="12000", months=12)
    Loan.objects.filter(pk=loan.pk).update(state="overdue", dpd=45)
    loan.installments.filter(number__in=[1, 2]).update(overdue_on=dt.date(2025, 8, 16))
    ctx = FeatureContext(
        subject=Subject(kind="application", id="x", customer_id=customer.pk),
        institution_id=customer.institution_id,
        customer_id=customer.pk,
        decision_date=BUSINESS_DATE,
        inputs={},
    )
    loan.refresh_from_db()
    assert providers.current_overdue_count(ctx) == 1
    assert providers.current_max_dpd(ctx) == 45
    assert providers.outstanding_debt_fen(ctx) == int(loan.principal_outstanding * 100)
    assert providers.past_overdue_times_24m(ctx) == 2
    assert providers.whitelist_limit_fen(ctx) is None
    # a settled loan: its overdue history counts, its (zero) balance and state do not
    settled = make_loan(customer=customer, value_date=dt.date(2025, 3, 15), principal="6000", months=6)
    Loan.objects.filter(pk=settled.pk).update(state="settled", dpd=0, principal_outstanding=Decimal("0"))
    settled.installments.filter(number=1).update(overdue_on=dt.date(2025, 4, 16))
    settled.installments.filter(number=2).update(overdue_on=dt.date(2023, 1, 1))  # older than 24 months
    assert providers.past_overdue_times_24m(ctx) == 3
    assert providers.current_overdue_count(ctx) == 1
    assert providers.outstanding_debt_fen(ctx) == int(loan.principal_outstanding * 100)
    assert providers.loan_figures(customer.pk, BUSINESS_DATE)["open_loans"] == [
        (loan.level_payment, loan.level_principal, loan.annual_rate, loan.principal_outstanding)
    ]
    nobody = FeatureContext(subject=ctx.subject, institution_id=None, customer_id=None, decision_date=BUSINESS_DATE, inputs={})
    assert providers.current_overdue_count(nobody) is None
    farmer = whitelisted_farmer(branch=branch, limit="88000.00")
    farmer_ctx = FeatureContext(
        subject=ctx.subject, institution_id=None, customer_id=farmer.pk, decision_date=BUSINESS_DATE, inputs={}
    )
    assert providers.whitelist_limit_fen(farmer_ctx) == 8_800_000
    assert providers.current_overdue_count(farmer_ctx) == 0 and providers.current_max_dpd(farmer_ctx) == 0


def test_submit_runs_a_bounded_number_of_queries(products, branch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    customers = [applicant(branch=branch) for _ in range(2)]
    application_submit(application_id=create(customers[0], products["ydd"]).pk)  # warm the caches
    app = create(customers[1], products["ydd"])
    with CaptureQueriesContext(connection) as queries:
        application_submit(application_id=app.pk)
    # 4 rule sets: ~6 queries each (customer, deployment, catalogue, savepoint + insert) + lock, product,
    # providers (2), debt, state logs, update, history — the same whatever the customer's history
    assert len(queries) <= 45, [q["sql"][:120] for q in queries]


def test_expiry_beat_job_is_registered_and_runs_the_service(products, branch):
    from jikuai.core.scheduling import registered_jobs
    from lending.tasks import application_expire_due_task

    jobs = {job.task for job in registered_jobs().values()}
    assert "lending.tasks.application_expire_due" in jobs
    app = application_submit(application_id=create(applicant(branch=branch), products["ydd"]).pk)
    later = app.expires_on + dt.timedelta(days=1)
    assert application_expire_due_task.delay(later.isoformat()).get() == 1
    app.refresh_from_db()
    assert app.state == ApplicationState.EXPIRED


def test_loan_figures_rows_are_decimal_on_every_database():
    """SQLite (the embedded default of `make run`) returns floats for numeric columns: they become Decimal."""
    from decimal import Decimal as D

    from lending import providers

    row = providers._typed(("active", 1500.5, 3, 212.25, None, 0.0435, 2))
    assert row == ("active", D("1500.5"), 3, D("212.25"), None, D("0.0435"), 2)
    assert all(isinstance(value, D) for value in (row[1], row[3], row[5]))
