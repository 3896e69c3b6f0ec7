"""Staff back office: scoped loan pages with ledger legs, repayment entry with maker-checker,
manual classification with a different checker, COB runs, portfolio; bounded queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.models import ClassificationRequest, Loan, Repayment, RepaymentRequest
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.helpers import assert_reconciled

pytestmark = pytest.mark.django_db


@pytest.fixture
def branch():
    return BranchFactory()


@pytest.fixture
def loan(branch):
    return make_loan(
        customer=make_customer(branch=branch), value_date=dt.date(2026, 1, 15), repayment_approval_threshold=Decimal("5000")
    )


def login(client, role, branch, **kwargs):
    staff = make_staff(
        role=role,
        institution=branch.institution,
        branch=branch if role in (roles.BRANCH_MANAGER, roles.ACCOUNT_MANAGER) else None,
        **kwargs,
    )
    client.force_login(staff.user)
    return staff


def test_loan_detail_shows_ledger_legs_versions_and_events_within_scope(client, loan, branch):
    login(client, roles.OPERATIONS, branch)
    html = client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()
    assert loan.contract_no in html and "分户账分录" in html and "100,000.00" in html and "-100,000.00" in html
    assert "还款计划版本" in html and "lending.loan_disbursed" in html and "录入还款" in html
    other = make_loan(value_date=dt.date(2026, 1, 15))  # another institution
    assert client.get(f"/admin/lending/loan/{other.pk}/change/").status_code in (302, 404)
    listing = client.get("/admin/lending/loan/").content.decode()
    assert loan.contract_no in listing and other.contract_no not in listing


def test_account_manager_sees_only_assigned_loans(client, branch):
    manager = login(client, roles.ACCOUNT_MANAGER, branch)
    mine = make_loan(customer=make_customer(branch=branch, account_manager=manager))
    theirs = make_loan(customer=make_customer(branch=branch))
    listing = client.get("/admin/lending/loan/").content.decode()
    assert mine.contract_no in listing and theirs.contract_no not in listing


def test_staff_repayment_above_threshold_waits_for_a_different_checker(client, loan, branch):
    business_date_set(day=dt.date(2026, 2, 15))
    maker = login(client, roles.OPERATIONS, branch)
    response = client.post(
        f"/admin/lending/loan/{loan.pk}/repay/", {"amount": "100.00", "kind": "regular", "prepayment_option": "", "note": ""}
    )
    assert response.status_code == 302 and Repayment.objects.filter(loan=loan, channel="staff").count() == 1
    client.post(
        f"/admin/lending/loan/{loan.pk}/repay/",
        {"amount": "8506.64", "kind": "regular", "prepayment_option": "", "note": "柜面现金"},
    )
    request = RepaymentRequest.objects.get(loan=loan)
    assert request.state == "pending" and request.maker == maker.user
    # the maker cannot approve: refused with a message, nothing recorded
    client.post("/admin/lending/repaymentrequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.state == "pending" and Repayment.objects.filter(loan=loan).count() == 1
    login(client, roles.OPERATIONS, branch)
    client.post("/admin/lending/repaymentrequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.state == "approved" and Repayment.objects.filter(loan=loan).count() == 2
    bad = client.post(
        f"/admin/lending/loan/{loan.pk}/repay/", {"amount": "-1", "kind": "regular", "prepayment_option": "", "note": ""}
    )
    assert bad.status_code == 200 and Repayment.objects.filter(loan=loan).count() == 2
    assert_reconciled()


def test_manual_classification_through_the_admin(client, loan, branch):
    maker = login(client, roles.RISK_OFFICER, branch)
    client.post(f"/admin/lending/loan/{loan.pk}/classify/", {"requested_class": "doubtful", "reason": "借款人失联"})
    request = ClassificationRequest.objects.get(loan=loan)
    assert request.maker == maker.user
    client.post("/admin/lending/classificationrequest/", {"action": "approve", "_selected_action": [request.pk]})
    loan.refresh_from_db()
    assert loan.loan_class == "normal"  # the maker's own approval was refused
    login(client, roles.RISK_OFFICER, branch)
    client.post("/admin/lending/classificationrequest/", {"action": "approve", "_selected_action": [request.pk]})
    loan.refresh_from_db()
    assert loan.loan_class == "doubtful"
    ops = login(client, roles.OPERATIONS, branch)
    assert ops and client.get(f"/admin/lending/loan/{loan.pk}/classify/").status_code == 403


def test_cob_runs_page_runs_the_close_and_shows_progress(client, loan, branch):
    login(client, roles.OPERATIONS, branch)
    page = client.get("/admin/lending/cobrun/").content.decode()
    assert "2026-01-15" in page and "运行日终" in page
    response = client.post("/admin/lending/cobrun/run/")
    assert response.status_code == 302
    page = client.get("/admin/lending/cobrun/").content.decode()
    assert "lending.cob.close" in page and "<progress" in page
    loan.refresh_from_db()
    assert loan.last_closed_business_date == dt.date(2026, 1, 15)
    login(client, roles.ACCOUNT_MANAGER, branch)
    assert client.post("/admin/lending/cobrun/run/").status_code == 403


def test_portfolio_page_by_class_product_institution_branch_with_bounded_queries(client, branch):
    product = ProductFactory(code="PORT1", name="组合测试贷")
    make_loan(customer=make_customer(branch=branch), product=product)
    login(client, roles.RISK_OFFICER, branch)
    with CaptureQueriesContext(connection) as one:
        html = client.get("/admin/lending/portfolioloan/").content.decode()
    assert "五级分类" in html and "组合测试贷" in html and branch.name in html and "100,000.00" in html
    for _ in range(5):
        make_loan(customer=make_customer(branch=branch), product=product, principal="2000", months=6)
    with CaptureQueriesContext(connection) as six:
        client.get("/admin/lending/portfolioloan/")
    assert len(six) == len(one)


def test_loan_list_query_count_is_constant(client, branch):
    login(client, roles.OPERATIONS, branch)
    product = ProductFactory()
    make_loan(customer=make_customer(branch=branch), product=product)
    with CaptureQueriesContext(connection) as one:
        client.get("/admin/lending/loan/")
    for _ in range(5):
        make_loan(customer=make_customer(branch=branch), product=product, principal="3000", months=6)
    with CaptureQueriesContext(connection) as six:
        client.get("/admin/lending/loan/")
    assert len(six) == len(one)
    assert Loan.objects.count() == 6
