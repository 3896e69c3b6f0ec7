"""Five-category classification: seeded floor tables, manual change with maker ≠ checker, worse of floor
and manual class, restructured floor, replay keeps approved manual classes."""

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from jikuai.core.exceptions import ApplicationError, Conflict, PermissionDeniedError
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.models import ClassificationBand, ClassificationRequest, ClassificationTable, Loan
from lending.services import (
    classification_request_approve,
    classification_request_create,
    classification_request_reject,
    loan_mark_restructured,
    prepayment_quote,
    repayment_record,
    repayment_reverse,
    run_cob,
)
from lending.state import classifier
from tests.factories import make_staff
from tests.lending.factories import make_loan
from tests.lending.helpers import assert_reconciled, counts, events

pytestmark = pytest.mark.django_db


@pytest.fixture
def officers():
    def make(institution):
        return (
            make_staff(role=roles.RISK_OFFICER, institution=institution).user,
            make_staff(role=roles.RISK_OFFICER, institution=institution).user,
        )

    return make


def test_both_domain_tables_are_seeded_and_the_2023_one_applies_today():
    tables = {t.effective_from: t for t in ClassificationTable.objects.all()}
    assert set(tables) == {dt.date(2023, 7, 1), dt.date(2007, 1, 1)}
    bands = list(
        ClassificationBand.objects.filter(table=tables[dt.date(2023, 7, 1)]).values_list("min_dpd", "max_dpd", "loan_class")
    )
    assert bands == [
        (0, 0, "normal"),
        (1, 90, "special_mention"),
        (91, 270, "substandard"),
        (271, 360, "doubtful"),
        (361, None, "loss"),
    ]
    clf = classifier()
    assert clf.floor(200, dt.date(2026, 1, 1)) == "substandard"  # 2023 table
    assert clf.floor(200, dt.date(2022, 1, 1)) == "doubtful"  # older table: 181–360 可疑


def test_manual_downgrade_needs_a_reason_and_a_different_checker(officers):
    loan = make_loan(value_date=dt.date(2026, 1, 15))
    maker, checker = officers(loan.institution)
    with pytest.raises(ApplicationError) as info:
        classification_request_create(loan_id=loan.pk, requested_class="substandard", reason=" ", maker=maker)
    assert info.value.code == "reason_required"
    with pytest.raises(ApplicationError):
        classification_request_create(loan_id=loan.pk, requested_class="terrible", reason="x", maker=maker)
    request = classification_request_create(
        loan_id=loan.pk, requested_class="substandard", reason="借款人经营恶化，第一还款来源不足", maker=maker
    )
    with pytest.raises(Conflict):
        classification_request_create(loan_id=loan.pk, requested_class="doubtful", reason="again", maker=checker)
    before = counts()
    with pytest.raises(PermissionDeniedError) as info:
        classification_request_approve(request_id=request.pk, checker=maker)
    assert info.value.code == "maker_is_checker"
    assert counts() == before
    loan.refresh_from_db()
    assert loan.loan_class == "normal"
    classification_request_approve(request_id=request.pk, checker=checker, comment="同意")
    loan.refresh_from_db()
    assert (loan.manual_class, loan.loan_class, loan.floor_class) == ("substandard", "substandard", "normal")
    assert loan.off_balance_accrual  # non-performing: interest off-balance from now on
    assert events("lending.loan_classified")[-1]["new_class"] == "substandard"
    request.refresh_from_db()
    assert request.state == "approved" and request.checker == checker and request.effective_date == dt.date(2026, 1, 15)
    assert_reconciled()


def test_the_database_refuses_a_checker_equal_to_the_maker(officers):
    loan = make_loan()
    maker, _checker = officers(loan.institution)
    request = classification_request_create(loan_id=loan.pk, requested_class="doubtful", reason="x", maker=maker)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClassificationRequest.objects.filter(pk=request.pk).update(checker=maker)


def test_class_is_the_worse_of_the_floor_and_the_manual_class(officers):
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    maker, checker = officers(loan.institution)
    request = classification_request_create(loan_id=loan.pk, requested_class="special_mention", reason="行业风险", maker=maker)
    classification_request_approve(request_id=request.pk, checker=checker)
    run_cob(until=dt.date(2026, 5, 16))  # DPD 91: floor 次级 is worse than the manual 关注
    loan.refresh_from_db()
    assert (loan.floor_class, loan.manual_class, loan.loan_class) == ("substandard", "special_mention", "substandard")
    # an "upgrade" request cannot beat the floor
    upgrade = classification_request_create(loan_id=loan.pk, requested_class="", reason="撤销人工分类", maker=checker)
    classification_request_approve(request_id=upgrade.pk, checker=maker)
    loan.refresh_from_db()
    assert loan.manual_class == "" and loan.loan_class == "substandard"
    rejected = classification_request_create(loan_id=loan.pk, requested_class="loss", reason="x", maker=maker)
    with pytest.raises(PermissionDeniedError):
        classification_request_reject(request_id=rejected.pk, checker=maker)
    assert classification_request_reject(request_id=rejected.pk, checker=checker).state == "rejected"
    assert_reconciled()


def test_restructured_loans_stay_at_least_substandard_for_twelve_months():
    loan = make_loan(value_date=dt.date(2026, 1, 15), months=24)
    business_date_set(day=dt.date(2026, 1, 20))
    loan = loan_mark_restructured(loan_id=loan.pk, reason="展期重组")
    loan.refresh_from_db()
    assert loan.restructured_on == dt.date(2026, 1, 20) and loan.loan_class == "substandard"
    run_cob(until=dt.date(2026, 2, 10))  # nothing overdue (DPD floor 正常), still under observation
    loan.refresh_from_db()
    assert (loan.dpd, loan.floor_class, loan.loan_class) == (0, "substandard", "substandard")
    assert classifier().floor(0, dt.date(2027, 1, 20), restructured_on=loan.restructured_on) == "normal"  # after 12 months


def test_replay_keeps_approved_manual_classes(officers):
    loan = make_loan(value_date=dt.date(2026, 1, 15), method="equal_principal")
    maker, checker = officers(loan.institution)
    run_cob(until=dt.date(2026, 2, 14))
    business_date_set(day=dt.date(2026, 2, 15))
    repayment = repayment_record(
        loan_id=loan.pk, amount=prepayment_quote(loan_id=loan.pk).amount_due, channel="core_banking", external_id="M-1"
    )
    request = classification_request_create(loan_id=loan.pk, requested_class="doubtful", reason="涉诉", maker=maker)
    classification_request_approve(request_id=request.pk, checker=checker)
    run_cob(until=dt.date(2026, 2, 20))
    repayment_reverse(repayment_id=repayment.pk, reason="退票")
    loan.refresh_from_db()
    assert loan.manual_class == "doubtful" and loan.loan_class == "doubtful" and loan.state == Loan.State.OVERDUE
    assert_reconciled()
