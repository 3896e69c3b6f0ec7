"""Staff repayment reversal (冲正) with maker-checker, through the admin and the services: a maker requests
with a reason, a different checker approves (the loan is replayed as if the repayment never happened) or
rejects with a reason; every refused path changes nothing; staff without the permission see no link
and get 403."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending import engine
from lending.models import Installment, Loan, Repayment, RepaymentReversalRequest
from lending.services import (
    loan_write_off,
    repayment_record,
    repayment_reversal_request_approve,
    repayment_reversal_request_create,
    repayment_reversal_request_reject,
    repayment_reverse,
    run_cob,
)
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.factories import ProductFactory, make_loan
from tests.lending.helpers import assert_reconciled, counts, events

pytestmark = pytest.mark.django_db

QUEUE = "/admin/lending/repaymentreversalrequest/"
STATE_FIELDS = [
    "state",
    "dpd",
    "overdue_since",
    "loan_class",
    "floor_class",
    "last_closed_business_date",
    "settled_on",
    "penalty_accrued_e10",
    "penalty_posted",
    "penalty_paid",
    "compound_accrued_e10",
    "compound_posted",
    "compound_paid",
    "paid_to_date",
    "principal_outstanding",
    *engine.ACCOUNT_FIELDS.values(),
]


def loan_state(loan: Loan) -> dict:
    """Balances, status and the current schedule (what a reversal must restore)."""
    loan.refresh_from_db()
    state = {name: getattr(loan, name) for name in STATE_FIELDS}
    state["installments"] = list(
        Installment.objects.filter(loan=loan, is_current=True)
        .order_by("number")
        .values_list(
            "number", "start_date", "due_date", "principal", "interest", "paid_principal", "paid_interest", "status", "paid_on"
        )
    )
    return state


def unchanged() -> dict:
    """Everything a refused request or decision must leave as it was."""
    return {
        **counts(),
        "requests": list(RepaymentReversalRequest.objects.order_by("id").values_list("id", "state", "checker_id")),
        "repayments": list(Repayment.objects.order_by("id").values_list("id", "status", "reversed_on")),
        "loans": list(Loan.objects.order_by("id").values_list("id", "state", "paid_to_date", "principal_outstanding")),
    }


@pytest.fixture
def branch():
    return BranchFactory()


@pytest.fixture
def product():
    return ProductFactory(repayment_approval_threshold=Decimal("5000"))


def open_loan(branch, product):
    return make_loan(customer=make_customer(branch=branch), product=product, value_date=dt.date(2026, 1, 15))


@pytest.fixture
def loan(branch, product):
    return open_loan(branch, product)


def login(client, role, branch, **kwargs):
    staff = make_staff(role=role, institution=branch.institution, **kwargs)
    client.force_login(staff.user)
    return staff


def ops(branch=None, *, institution=None):
    """A fresh operations officer (may request and approve reversals) of the branch's institution."""
    return make_staff(role=roles.OPERATIONS, institution=institution or branch.institution).user


def paid(loan, amount="3000.00", external_id="") -> Repayment:
    business_date_set(day=dt.date(2026, 2, 15))
    return repayment_record(loan_id=loan.pk, amount=amount, channel=Repayment.Channel.STAFF, external_id=external_id)


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- the happy path, end to end through the admin ---------------------------------------------------------


def test_maker_requests_and_a_different_checker_approves_the_loan_is_as_if_never_paid(client, branch, product, loan):
    twin = open_loan(branch, product)  # the same loan, never paid
    business_date_set(day=dt.date(2026, 2, 15))
    maker = login(client, roles.OPERATIONS, branch)
    client.post(
        f"/admin/lending/loan/{loan.pk}/repay/",
        {"amount": "3000.00", "kind": "regular", "prepayment_option": "", "note": "柜面现金"},
    )
    repayment = Repayment.objects.get(loan=loan)
    assert repayment.status == "posted" and repayment.channel == "staff"
    run_cob(until=dt.date(2026, 2, 20))  # days pass before the mistake is noticed
    business_date_set(day=dt.date(2026, 2, 21))
    assert loan_state(loan) != loan_state(twin)

    # the maker finds the link on the loan page and on the repayment list, and opens the form
    link = f"/admin/lending/repayment/{repayment.pk}/request-reversal/"
    detail = client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()
    assert "申请冲正 request reversal" in detail and link in detail
    listing = client.get("/admin/lending/repayment/").content.decode()
    assert link in listing
    form = client.get(link)
    assert form.status_code == 200
    assert "申请冲正 还款" in form.content.decode() and "3,000.00" in form.content.decode()

    response = client.post(link, {"reason": "柜员误录，客户实际未缴款"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/lending/loan/{loan.pk}/change/"
    request = RepaymentReversalRequest.objects.get(repayment=repayment)
    assert request.state == "pending" and request.maker == maker.user and request.loan == loan
    assert request.reason == "柜员误录，客户实际未缴款" and request.requested_on == dt.date(2026, 2, 21)
    assert any("待另一名员工复核" in m for m in page_messages(response))
    repayment.refresh_from_db()
    assert repayment.status == "posted"  # nothing reversed before the check

    # the maker cannot approve their own request: refused with a message, nothing changed
    before = unchanged()
    response = client.post(QUEUE, {"action": "approve", "_selected_action": [request.pk]}, follow=True)
    assert any("申请人不能复核自己的冲正申请" in m for m in page_messages(response))
    assert unchanged() == before

    # a different operations officer sees the pending queue and approves
    checker = login(client, roles.OPERATIONS, branch)
    queue = client.get(QUEUE).content.decode()
    assert "柜员误录" in queue and f"/admin/lending/repaymentreversalrequest/{request.pk}/reject/" in queue
    assert client.get(f"/admin/lending/repaymentreversalrequest/{request.pk}/change/").status_code == 200
    response = client.post(QUEUE, {"action": "approve", "_selected_action": [request.pk]}, follow=True)
    assert any(f"还款 #{repayment.pk} 已冲正" in m for m in page_messages(response))

    request.refresh_from_db()
    repayment.refresh_from_db()
    assert request.state == "approved" and request.checker == checker.user and request.decided_at is not None
    assert repayment.status == "reversed" and repayment.reversed_on == dt.date(2026, 2, 21)
    assert repayment.reversal_reason == "柜员误录，客户实际未缴款"
    assert loan_state(loan) == loan_state(twin)  # balances, DPD, penalties, schedule: as if never paid
    assert [e["repayment_id"] for e in events("lending.repayment_reversed")] == [repayment.pk]
    assert_reconciled()
    # the reversed repayment offers no further link
    assert link not in client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()


def test_checker_rejects_with_a_reason_through_the_admin_and_the_repayment_stays(client, branch, loan):
    repayment = paid(loan)
    posted = loan_state(loan)
    request = repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="客户电话称转账被退回")
    checker = login(client, roles.OPERATIONS, branch)
    url = f"/admin/lending/repaymentreversalrequest/{request.pk}/reject/"
    page = client.get(url)
    assert page.status_code == 200 and "客户电话称转账被退回" in page.content.decode()

    before = unchanged()
    empty = client.post(url, {"comment": "  "})
    assert empty.status_code == 200 and unchanged() == before  # a reason is required

    response = client.post(url, {"comment": "核心系统查询转账已到账"}, follow=True)
    assert any("已驳回" in m for m in page_messages(response))
    request.refresh_from_db()
    repayment.refresh_from_db()
    assert request.state == "rejected" and request.checker == checker.user
    assert request.decision_comment == "核心系统查询转账已到账"
    assert repayment.status == "posted" and loan_state(loan) == posted
    assert url not in client.get(QUEUE).content.decode()  # no longer offered for a decision
    # a new request is possible after a rejection
    again = repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="再次核实确已退票")
    assert again.state == "pending"
    assert_reconciled()


# --- refusals: nothing changes -----------------------------------------------------------------------------


def test_maker_cannot_be_the_checker(branch, loan):
    repayment = paid(loan)
    maker = ops(branch)
    request = repayment_reversal_request_create(repayment_id=repayment.pk, maker=maker, reason="误录")
    before, state = unchanged(), loan_state(loan)
    for decide in (
        lambda: repayment_reversal_request_approve(request_id=request.pk, checker=maker),
        lambda: repayment_reversal_request_reject(request_id=request.pk, checker=maker, comment="自己驳回"),
    ):
        with pytest.raises(PermissionDeniedError) as refused:
            decide()
        assert refused.value.code == "maker_is_checker"
        assert "申请人不能复核自己的冲正申请" in refused.value.message_zh
        assert refused.value.message_en == "the maker cannot decide their own reversal request"
    assert unchanged() == before and loan_state(loan) == state


def test_a_reason_is_required(client, branch, loan):
    repayment = paid(loan)
    maker = ops(branch)
    before = unchanged()
    for reason in ("", "   ", None):
        with pytest.raises(ApplicationError) as refused:
            repayment_reversal_request_create(repayment_id=repayment.pk, maker=maker, reason=reason)
        assert refused.value.code == "reason_required" and refused.value.message_zh == "冲正必须填写原因。"
    login(client, roles.OPERATIONS, branch)
    response = client.post(f"/admin/lending/repayment/{repayment.pk}/request-reversal/", {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    assert unchanged() == before


def test_an_already_reversed_repayment_is_refused(client, branch, loan):
    repayment = paid(loan, external_id="CORE-1")
    repayment_reverse(external_id="CORE-1", reason="核心退票")  # core banking reversed it through the API
    before = unchanged()
    with pytest.raises(Conflict) as refused:
        repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="退票")
    assert refused.value.code == "already_reversed" and refused.value.message_zh == "该笔还款已冲正。"
    login(client, roles.OPERATIONS, branch)
    listing = client.get("/admin/lending/repayment/").content.decode()
    assert f"/admin/lending/repayment/{repayment.pk}/request-reversal/" not in listing
    response = client.post(f"/admin/lending/repayment/{repayment.pk}/request-reversal/", {"reason": "退票"})
    assert response.status_code == 200 and "该笔还款已冲正" in response.content.decode()
    assert unchanged() == before


def test_a_repayment_of_a_written_off_loan_is_refused(client, branch, loan):
    repayment = paid(loan)
    loan_write_off(loan_id=loan.pk, reason="诉讼终结，无可执行财产")
    before = unchanged()
    with pytest.raises(Conflict) as refused:
        repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    assert refused.value.code == "loan_written_off"
    login(client, roles.OPERATIONS, branch)
    assert "申请冲正 request reversal" not in client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()
    response = client.post(f"/admin/lending/repayment/{repayment.pk}/request-reversal/", {"reason": "误录"})
    assert "已核销贷款的还款不能冲正" in response.content.decode()
    assert unchanged() == before


def test_a_loan_written_off_while_the_request_waits_cannot_be_approved(branch, loan):
    repayment = paid(loan)
    request = repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    loan_write_off(loan_id=loan.pk, reason="诉讼终结，无可执行财产")
    before = unchanged()
    with pytest.raises(Conflict) as refused:
        repayment_reversal_request_approve(request_id=request.pk, checker=ops(branch))
    assert refused.value.code == "loan_written_off" and unchanged() == before


def test_another_institutions_repayment_is_refused(client, branch, loan):
    other = make_loan(value_date=dt.date(2026, 1, 15))  # another institution
    repayment = paid(other)
    before = unchanged()
    with pytest.raises(NotFound):
        repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    login(client, roles.OPERATIONS, branch)
    assert client.get(f"/admin/lending/repayment/{repayment.pk}/request-reversal/").status_code == 404
    assert client.post(f"/admin/lending/repayment/{repayment.pk}/request-reversal/", {"reason": "误录"}).status_code == 404
    assert unchanged() == before
    # a pending request of the other institution cannot be decided by this institution's checker either
    request = repayment_reversal_request_create(
        repayment_id=repayment.pk, maker=ops(institution=other.institution), reason="他行柜员误录"
    )
    before = unchanged()
    with pytest.raises(NotFound):
        repayment_reversal_request_approve(request_id=request.pk, checker=ops(branch))
    assert "他行柜员误录" not in client.get(QUEUE).content.decode()
    assert client.get(f"/admin/lending/repaymentreversalrequest/{request.pk}/reject/").status_code == 404
    client.post(QUEUE, {"action": "approve", "_selected_action": [request.pk]})
    assert unchanged() == before


def test_a_second_pending_request_for_the_same_repayment_is_refused(client, branch, loan):
    repayment = paid(loan)
    repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    before = unchanged()
    with pytest.raises(Conflict) as refused:
        repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="再次申请")
    assert refused.value.code == "pending_exists" and refused.value.message_zh == "该笔还款已有待复核的冲正申请。"
    login(client, roles.OPERATIONS, branch)
    response = client.post(f"/admin/lending/repayment/{repayment.pk}/request-reversal/", {"reason": "再次申请"})
    assert "该笔还款已有待复核的冲正申请" in response.content.decode()
    assert unchanged() == before


def test_only_a_pending_request_can_be_decided(branch, loan):
    first, second = paid(loan, "1000.00"), paid(loan, "1000.00")
    rejected = repayment_reversal_request_create(repayment_id=first.pk, maker=ops(branch), reason="误录")
    repayment_reversal_request_reject(request_id=rejected.pk, checker=ops(branch), comment="已到账")
    approved = repayment_reversal_request_create(repayment_id=second.pk, maker=ops(branch), reason="误录")
    repayment_reversal_request_approve(request_id=approved.pk, checker=ops(branch))
    before, state = unchanged(), loan_state(loan)
    for request in (rejected, approved):
        for decide in (
            lambda request=request: repayment_reversal_request_approve(request_id=request.pk, checker=ops(branch)),
            lambda request=request: repayment_reversal_request_reject(request_id=request.pk, checker=ops(branch), comment="x"),
        ):
            with pytest.raises(Conflict) as refused:
                decide()
            assert refused.value.code == "already_decided" and refused.value.message_zh == "该冲正申请已处理。"
    assert unchanged() == before and loan_state(loan) == state
    first.refresh_from_db()
    assert first.status == "posted"
    assert_reconciled()


def test_a_repayment_reversed_by_core_banking_while_the_request_waits_is_not_reversed_twice(branch, loan):
    repayment = paid(loan, external_id="CORE-2")
    request = repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    repayment_reverse(external_id="CORE-2", reason="核心退票")
    before = unchanged()
    with pytest.raises(Conflict) as refused:
        repayment_reversal_request_approve(request_id=request.pk, checker=ops(branch))
    assert refused.value.code == "already_reversed" and unchanged() == before


# --- permissions -------------------------------------------------------------------------------------------


def test_staff_without_the_permission_see_no_link_and_get_403(client, branch, loan):
    repayment = paid(loan)
    login(client, roles.RISK_OFFICER, branch)  # sees the loan and its repayments, may not reverse them
    link = f"/admin/lending/repayment/{repayment.pk}/request-reversal/"
    assert client.get(f"/admin/lending/loan/{loan.pk}/change/").status_code == 200
    assert link not in client.get(f"/admin/lending/loan/{loan.pk}/change/").content.decode()
    assert link not in client.get("/admin/lending/repayment/").content.decode()
    before = unchanged()
    assert client.get(link).status_code == 403
    assert client.post(link, {"reason": "误录"}).status_code == 403
    with pytest.raises(PermissionDeniedError):
        repayment_reversal_request_create(
            repayment_id=repayment.pk, maker=make_staff(role=roles.RISK_OFFICER).user, reason="误录"
        )
    assert unchanged() == before

    request = repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
    before = unchanged()
    assert client.get(QUEUE).status_code == 403
    assert client.post(QUEUE, {"action": "approve", "_selected_action": [request.pk]}).status_code == 403
    assert client.get(f"/admin/lending/repaymentreversalrequest/{request.pk}/reject/").status_code == 403
    risk_officer = make_staff(role=roles.RISK_OFFICER, institution=branch.institution).user
    with pytest.raises(PermissionDeniedError):
        repayment_reversal_request_approve(request_id=request.pk, checker=risk_officer)
    with pytest.raises(PermissionDeniedError):
        repayment_reversal_request_reject(request_id=request.pk, checker=risk_officer, comment="不同意")
    assert unchanged() == before


def test_the_queue_lists_in_a_bounded_number_of_queries(client, branch, product):
    login(client, roles.OPERATIONS, branch)

    def queue_queries(n):
        for _ in range(n):
            repayment = paid(open_loan(branch, product), "100.00")
            repayment_reversal_request_create(repayment_id=repayment.pk, maker=ops(branch), reason="误录")
        with CaptureQueriesContext(connection) as queries:
            assert client.get(QUEUE).status_code == 200
        return len(queries)

    assert client.get(QUEUE).status_code == 200  # the first page of a test warms per-process memos
    assert queue_queries(1) == queue_queries(4)
