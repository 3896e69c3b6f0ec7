"""Credit lines and drawdowns through the services: open (idempotent), quote, drawdown with hold and
disbursement, failures releasing the hold, pending callbacks, revolving restore and its reversal,
maker-checker requests, expiry. After every step limit = used + available."""

import datetime as dt
from decimal import Decimal

import pytest
from django_fsm_log.models import StateLog

from jikuai.core.exceptions import ApplicationError
from jikuai.core.models import OutboxEvent
from jikuai.core.workdays import business_date_set
from lending.models import CreditLine, CreditLineChange, CreditLineRequest, Drawdown, Loan, LoanApplication
from lending.services import prepayment_quote, repayment_record, repayment_reverse
from lending.services.lines import (
    credit_line_open_for_application,
    credit_line_request_approve,
    credit_line_request_reject,
    credit_line_request_submit,
    credit_lines_expire,
    drawdown_quote,
    drawdown_request,
    drawdowns_resume,
)
from tests.factories import make_staff
from tests.lending.lines_factories import assert_balanced, open_line, signed_application

pytestmark = pytest.mark.django_db
DAY = dt.date(2026, 3, 16)


def kinds(line):
    return list(CreditLineChange.objects.filter(line=line).order_by("id").values_list("kind", flat=True))


def test_open_line_for_a_signed_application_is_idempotent():
    business_date_set(day=DAY)
    app = signed_application(amount="80000", rate="0.0525", line_validity_months=24, revolving=True)
    line = credit_line_open_for_application(application_id=app.pk)
    again = credit_line_open_for_application(application_id=app.pk)
    assert again.pk == line.pk and CreditLine.objects.count() == 1
    assert line.limit == Decimal("80000.00") and line.used == 0 and line.available == Decimal("80000.00")
    assert line.annual_rate == Decimal("0.0525") and line.revolving
    assert line.valid_from == DAY and line.valid_until == dt.date(2028, 3, 15)
    app.refresh_from_db()
    assert app.state == "active"
    assert StateLog.objects.for_(app).filter(state="active").exists()
    assert kinds(line) == ["open"]
    topics = list(OutboxEvent.objects.values_list("topic", flat=True))
    assert topics.count("lending.credit_line_opened") == 1 and topics.count("lending.credit_line_activated") == 1
    assert_balanced(line)


def test_open_refuses_unsigned_or_loan_applications():
    business_date_set(day=DAY)
    app = signed_application()
    LoanApplication.objects.filter(pk=app.pk).update(state="approved")
    with pytest.raises(ApplicationError) as exc:
        credit_line_open_for_application(application_id=app.pk)
    assert exc.value.code == "application_not_signed" and not CreditLine.objects.exists()
    LoanApplication.objects.filter(pk=app.pk).update(state="signed", kind="loan")
    with pytest.raises(ApplicationError) as exc:
        credit_line_open_for_application(application_id=app.pk)
    assert exc.value.code == "not_a_line_application" and not CreditLine.objects.exists()


def test_quote_matches_the_loan_engine_and_writes_nothing():
    line = open_line()
    before = (CreditLineChange.objects.count(), Drawdown.objects.count(), Loan.objects.count())
    quote = drawdown_quote(line_id=line.pk, amount="12000", term_months=12, repayment_method="equal_installment")
    assert len(quote.periods) == 12 and sum(p.principal for p in quote.periods) == Decimal("12000.00")
    assert quote.apr == Decimal("6.00") and quote.total_interest > 0
    assert quote.as_json()["installments"][0]["due_date"] == "2026-04-16"
    assert before == (CreditLineChange.objects.count(), Drawdown.objects.count(), Loan.objects.count())


def test_drawdown_holds_creates_and_disburses_the_loan():
    line = open_line(amount="50000")
    drawdown = drawdown_request(
        line_id=line.pk, customer=line.customer, amount="20000", term_months=6, repayment_method="equal_principal", channel="web"
    )
    assert drawdown.state == "disbursed" and drawdown.loan is not None
    loan = drawdown.loan
    assert loan.state == "active" and loan.principal == Decimal("20000.00") and loan.annual_rate == line.annual_rate
    assert loan.term_months == 6 and loan.method == "equal_principal" and loan.customer_id == line.customer_id
    line = assert_balanced(line)
    assert line.used == Decimal("20000.00") and line.available == Decimal("30000.00")
    assert kinds(line) == ["open", "drawdown"]
    assert OutboxEvent.objects.filter(topic="lending.drawdown_disbursed").count() == 1


def test_failed_disbursement_releases_the_hold(settings):
    line = open_line(amount="50000")
    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.lines_factories.FailingAdapter"
    drawdown = drawdown_request(line_id=line.pk, amount="20000", term_months=6, repayment_method="equal_principal", channel="api")
    assert drawdown.state == "failed" and "账户状态异常" in drawdown.failure_reason
    line = assert_balanced(line)
    assert line.used == 0 and line.available == Decimal("50000.00")
    assert kinds(line) == ["open", "drawdown", "release"]
    assert drawdown.loan.state == "pending" and drawdown.loan.disbursed_on is None


def test_pending_disbursement_waits_for_the_callback(settings, django_capture_on_commit_callbacks):
    from lending.services import loan_disbursement_failed, loan_disbursement_settled

    line = open_line(amount="50000")
    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.lines_factories.PendingAdapter"
    first = drawdown_request(line_id=line.pk, amount="10000", term_months=6, repayment_method="equal_principal", channel="api")
    second = drawdown_request(line_id=line.pk, amount="15000", term_months=6, repayment_method="equal_principal", channel="api")
    assert first.state == second.state == "disbursing"
    assert assert_balanced(line).used == Decimal("25000.00")
    with django_capture_on_commit_callbacks(execute=True):  # the bus delivers after commit
        loan_disbursement_settled(reference=first.loan.disbursement_reference, core_reference="C1")
        loan_disbursement_failed(reference=second.loan.disbursement_reference, message="户名不符")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "disbursed" and first.loan.state == "active"
    assert second.state == "failed" and "户名不符" in second.failure_reason
    line = assert_balanced(line)
    assert line.used == Decimal("10000.00") and line.available == Decimal("40000.00")
    assert kinds(line) == ["open", "drawdown", "drawdown", "release"]


def test_core_unreachable_keeps_the_hold_and_the_resume_job_finishes(settings):
    line = open_line(amount="50000")
    settings.JIKUAI_CORE_BANKING_ADAPTER = "tests.lending.lines_factories.UnreachableAdapter"
    drawdown = drawdown_request(line_id=line.pk, amount="10000", term_months=6, repayment_method="equal_principal", channel="api")
    assert drawdown.state == "disbursing" and assert_balanced(line).used == Decimal("10000.00")
    settings.JIKUAI_CORE_BANKING_ADAPTER = "lending.corebanking.LocalAdapter"
    Drawdown.objects.filter(pk=drawdown.pk).update(updated_at=drawdown.updated_at - dt.timedelta(hours=1))
    assert drawdowns_resume() == 1
    drawdown.refresh_from_db()
    assert drawdown.state == "disbursed" and drawdown.loan.state == "active"
    assert assert_balanced(line).used == Decimal("10000.00")


def test_revolving_line_restores_principal_repaid_and_reversal_takes_it_back(django_capture_on_commit_callbacks):
    line = open_line(amount="50000", day=dt.date(2026, 1, 15))
    drawdown = drawdown_request(
        line_id=line.pk, amount="12000", term_months=12, repayment_method="equal_principal", channel="web"
    )
    business_date_set(day=dt.date(2026, 2, 15))
    due = prepayment_quote(loan_id=drawdown.loan_id).amount_due
    with django_capture_on_commit_callbacks(execute=True):
        repayment = repayment_record(loan_id=drawdown.loan_id, amount=due, channel="core_banking", external_id="R-1")
    line = assert_balanced(line)
    assert line.used == Decimal("11000.00") and line.available == Decimal("39000.00")
    with django_capture_on_commit_callbacks(execute=True):
        repayment_reverse(repayment_id=repayment.pk, reason="退票")
    line = assert_balanced(line)
    assert line.used == Decimal("12000.00") and line.available == Decimal("38000.00")
    assert kinds(line) == ["open", "drawdown", "restore", "restore"]
    amounts = list(CreditLineChange.objects.filter(line=line, kind="restore").order_by("id").values_list("amount", flat=True))
    assert amounts == [Decimal("1000.00"), Decimal("-1000.00")]


def test_one_off_line_is_not_restored(django_capture_on_commit_callbacks):
    line = open_line(amount="50000", day=dt.date(2026, 1, 15), revolving=False)
    drawdown = drawdown_request(
        line_id=line.pk, amount="12000", term_months=12, repayment_method="equal_principal", channel="web"
    )
    business_date_set(day=dt.date(2026, 2, 15))
    due = prepayment_quote(loan_id=drawdown.loan_id).amount_due
    with django_capture_on_commit_callbacks(execute=True):
        repayment_record(loan_id=drawdown.loan_id, amount=due, channel="core_banking", external_id="R-1")
    line = assert_balanced(line)
    assert line.used == Decimal("12000.00") and kinds(line) == ["open", "drawdown"]


def _staff_pair(line):
    maker = make_staff(role="运营", institution=line.institution, name="经办")
    checker = make_staff(role="运营", institution=line.institution, name="复核")
    return maker, checker


def test_freeze_unfreeze_adjust_close_with_maker_checker():
    line = open_line(amount="50000")
    maker, checker = _staff_pair(line)
    request = credit_line_request_submit(line_id=line.pk, action="freeze", maker=maker, reason="客户涉诉")
    with pytest.raises(ApplicationError) as exc:
        credit_line_request_approve(request_id=request.pk, checker=maker)
    assert exc.value.code == "maker_is_checker"
    request.refresh_from_db()
    line.refresh_from_db()
    assert request.status == "pending" and line.state == "active"
    credit_line_request_approve(request_id=request.pk, checker=checker, comment="同意")
    line.refresh_from_db()
    assert line.state == "frozen"
    with pytest.raises(ApplicationError) as exc:
        drawdown_request(line_id=line.pk, amount="1000", term_months=3, repayment_method="equal_principal", channel="web")
    assert exc.value.code == "line_frozen"
    request = credit_line_request_submit(line_id=line.pk, action="unfreeze", maker=maker, reason="已结案")
    credit_line_request_approve(request_id=request.pk, checker=checker)
    drawdown_request(line_id=line.pk, amount="30000", term_months=3, repayment_method="equal_principal", channel="web")
    with pytest.raises(ApplicationError) as exc:
        credit_line_request_submit(line_id=line.pk, action="adjust", maker=maker, reason="调低", new_limit="20000")
    assert exc.value.code == "limit_below_used"
    request = credit_line_request_submit(line_id=line.pk, action="adjust", maker=maker, reason="提额", new_limit="80000")
    credit_line_request_approve(request_id=request.pk, checker=checker)
    line = assert_balanced(line)
    assert line.limit == Decimal("80000.00") and line.used == Decimal("30000.00") and line.available == Decimal("50000.00")
    with pytest.raises(ApplicationError) as exc:
        credit_line_request_submit(line_id=line.pk, action="close", maker=maker, reason="关闭")
    assert exc.value.code == "line_in_use"
    request = credit_line_request_submit(line_id=line.pk, action="freeze", maker=maker, reason="风险")
    credit_line_request_reject(request_id=request.pk, checker=checker, comment="不同意")
    line.refresh_from_db()
    assert line.state == "active"
    assert kinds(line) == ["open", "freeze", "unfreeze", "drawdown", "adjust"]
    assert CreditLineRequest.objects.filter(status="approved").count() == 3


def test_close_an_unused_line():
    line = open_line(amount="50000")
    maker, checker = _staff_pair(line)
    request = credit_line_request_submit(line_id=line.pk, action="close", maker=maker, reason="客户申请")
    credit_line_request_approve(request_id=request.pk, checker=checker)
    line = assert_balanced(line)
    assert line.state == "closed"
    with pytest.raises(ApplicationError) as exc:
        drawdown_request(line_id=line.pk, amount="1000", term_months=3, repayment_method="equal_principal", channel="web")
    assert exc.value.code == "line_closed"


def test_expiry_job_and_drawdown_on_an_expired_line():
    line = open_line(amount="50000", day=dt.date(2026, 1, 15))
    business_date_set(day=dt.date(2027, 1, 15))
    with pytest.raises(ApplicationError) as exc:
        drawdown_request(line_id=line.pk, amount="1000", term_months=3, repayment_method="equal_principal", channel="web")
    assert exc.value.code == "line_expired"
    assert credit_lines_expire() == 1
    assert credit_lines_expire() == 0  # rerun does nothing
    line = assert_balanced(line)
    assert line.state == "expired" and kinds(line) == ["open", "expire"]


def test_reversal_after_the_restored_amount_was_drawn_again_is_taken_from_later_repayments(
    django_capture_on_commit_callbacks,
):
    """Limit 12,000 fully drawn; 1,000 repaid and restored; the 1,000 drawn again; then the repayment
    bounces. Nothing can be taken back now (available 0): the line stays balanced and the next principal
    repaid is not restored until the debt is covered."""
    line = open_line(amount="12000", day=dt.date(2026, 1, 15))
    first = drawdown_request(line_id=line.pk, amount="12000", term_months=12, repayment_method="equal_principal", channel="web")
    business_date_set(day=dt.date(2026, 2, 15))
    due = prepayment_quote(loan_id=first.loan_id).amount_due
    with django_capture_on_commit_callbacks(execute=True):
        repayment = repayment_record(loan_id=first.loan_id, amount=due, channel="core_banking", external_id="R-1")
    assert assert_balanced(line).available == Decimal("1000.00")
    drawdown_request(line_id=line.pk, amount="1000", term_months=3, repayment_method="equal_principal", channel="web")
    with django_capture_on_commit_callbacks(execute=True):
        repayment_reverse(repayment_id=repayment.pk, reason="退票")
    line = assert_balanced(line)
    assert line.used == Decimal("12000.00") and line.available == 0  # not overdrawn
    business_date_set(day=dt.date(2026, 3, 15))
    due = prepayment_quote(loan_id=first.loan_id).amount_due  # two installments now: 2,000 principal
    with django_capture_on_commit_callbacks(execute=True):
        repayment_record(loan_id=first.loan_id, amount=due, channel="core_banking", external_id="R-2")
    line = assert_balanced(line)
    # principal repaid 2,000, restored so far net 1,000 (restore +1,000, nothing taken back) → +1,000 now
    assert line.used == Decimal("11000.00") and line.available == Decimal("1000.00")


def test_prepayment_restores_the_principal_prepaid(django_capture_on_commit_callbacks):
    line = open_line(amount="50000", day=dt.date(2026, 1, 15))
    drawdown = drawdown_request(
        line_id=line.pk, amount="30000", term_months=12, repayment_method="equal_installment", channel="web"
    )
    business_date_set(day=dt.date(2026, 1, 20))
    payoff = prepayment_quote(loan_id=drawdown.loan_id).payoff
    with django_capture_on_commit_callbacks(execute=True):
        repayment_record(
            loan_id=drawdown.loan_id,
            amount=payoff,
            channel="customer",
            kind="prepayment",
            prepayment_option="reduce_payment",
            external_id="P-1",
        )
    line = assert_balanced(line)
    assert line.used == 0 and line.available == Decimal("50000.00")
    drawdown.loan.refresh_from_db()
    assert drawdown.loan.state == "settled"


def test_resume_releases_a_hold_left_without_a_loan():
    from lending.services.lines import _hold

    line = open_line(amount="50000")
    drawdown = _hold(
        line_id=line.pk,
        customer=None,
        amount=Decimal("8000.00"),
        term_months=6,
        repayment_method="equal_principal",
        channel="web",
    )  # … and the process dies before the loan is created
    assert assert_balanced(line).used == Decimal("8000.00")
    assert drawdowns_resume() == 0  # too recent: it may still be in progress
    Drawdown.objects.filter(pk=drawdown.pk).update(updated_at=drawdown.updated_at - dt.timedelta(hours=1))
    assert drawdowns_resume() == 1
    drawdown.refresh_from_db()
    assert drawdown.state == "failed" and drawdown.loan is None and "中断" in drawdown.failure_reason
    line = assert_balanced(line)
    assert line.used == 0 and kinds(line) == ["open", "drawdown", "release"]
    assert not Loan.objects.exists()
