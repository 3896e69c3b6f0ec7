"""Credit line change requests as review tasks (额度变更复核): submitting a request opens one task in the
risk officers' queue of the line's institution and branch; approving or rejecting it closes the task
with the checker; the maker never claims or decides their own; concurrent claims never share a task;
overdue tasks escalate to the branch manager; the admin queue links a line task to the request's
decision page."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jikuai.core.exceptions import ApplicationError
from jikuai.org import roles
from lending.models import CreditLine, CreditLineRequest, ReviewTask
from lending.services.lines import (
    credit_line_request_approve,
    credit_line_request_reject,
    credit_line_request_submit,
)
from lending.services.review import (
    due_after,
    review_claim,
    review_claim_next,
    review_escalate_overdue,
    review_release,
    review_task_open_for_line_request,
)
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.lines_factories import open_line
from tests.threads import run_threads

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = dt.date(2026, 3, 2)
LINE_CHANGE = ReviewTask.Kind.LINE_CHANGE


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


class Bank:
    """One institution with two branches, a line in the first, makers and checkers of the roles involved."""

    def __init__(self):
        self.branch = BranchFactory()
        self.institution = self.branch.institution
        self.other_branch = BranchFactory(institution=self.institution)
        self.line = self.new_line()
        self.maker = make_staff(role=roles.OPERATIONS, institution=self.institution, name="经办")
        self.risk = make_staff(role=roles.RISK_OFFICER, institution=self.institution, name="风险一")
        self.risk2 = make_staff(role=roles.RISK_OFFICER, institution=self.institution, name="风险二")
        self.manager = make_staff(role=roles.BRANCH_MANAGER, branch=self.branch, name="周行长")
        self.other_manager = make_staff(role=roles.BRANCH_MANAGER, branch=self.other_branch, name="吴行长")
        self.reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=self.institution, name="李审批")

    def new_line(self, amount="50000"):
        return open_line(customer=make_customer(institution=self.institution, branch=self.branch), amount=amount)

    def submit(self, *, line=None, maker=None, action="freeze", reason="贷后检查发现风险", **kwargs):
        line = line or self.line
        return credit_line_request_submit(line_id=line.pk, action=action, maker=maker or self.maker, reason=reason, **kwargs)


@pytest.fixture
def bank():
    return Bank()


def task_of(request: CreditLineRequest) -> ReviewTask:
    return ReviewTask.objects.get(line_request=request)


def refused(code: str, func, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        func(**kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def state(task: ReviewTask, request: CreditLineRequest) -> tuple:
    task.refresh_from_db()
    request.refresh_from_db()
    line = CreditLine.objects.get(pk=request.line_id)
    return (
        task.status,
        task.assignee_id,
        task.outcome,
        task.completed_at,
        request.status,
        request.checker_id,
        line.state,
        line.limit,
    )


# --- opening ---------------------------------------------------------------------------------------


def test_submit_opens_exactly_one_task_in_the_risk_officers_queue(bank):
    request = bank.submit()
    task = task_of(request)
    assert (task.kind, task.application_id, task.status, task.assignee_id) == (LINE_CHANGE, None, "open", None)
    assert (task.institution_id, task.branch_id) == (bank.line.institution_id, bank.line.branch_id)
    assert task.queue_role == roles.RISK_OFFICER
    assert task.created_at == request.created_at and task.due_at == due_after(request.created_at)

    # a refused second request (one pending per line) opens nothing
    refused("request_pending", bank.submit, action="close", reason="再次申请")
    refused("reason_required", bank.submit, line=bank.new_line(), reason=" ")
    assert ReviewTask.objects.count() == 1

    # opening again returns the same task; the database refuses a second open one
    assert review_task_open_for_line_request(line_request=request).pk == task.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewTask.objects.create(
            kind=LINE_CHANGE,
            institution_id=task.institution_id,
            queue_role=roles.RISK_OFFICER,
            line_request=request,
            due_at=task.due_at,
        )
    assert ReviewTask.objects.count() == 1


# --- deciding --------------------------------------------------------------------------------------


def test_approve_closes_the_task_with_the_checker(bank):
    request = bank.submit(action="adjust", new_limit="80000", reason="经营规模扩大")
    task = task_of(request)
    credit_line_request_approve(request_id=request.pk, checker=bank.risk, comment="同意提额")
    task.refresh_from_db()
    request.refresh_from_db()
    assert (task.status, task.outcome, task.comment, task.assignee_id) == ("done", "approved", "同意提额", bank.risk.pk)
    assert task.completed_at == request.checked_at and task.completed_at is not None
    assert request.status == "approved" and request.checker_id == bank.risk.pk
    before = state(task, request)
    credit_line_request_approve(request_id=request.pk, checker=bank.risk)  # a repeated click: nothing changes
    assert state(task, request) == before
    assert ReviewTask.objects.count() == 1


def test_reject_closes_the_task_with_the_checker(bank):
    request = bank.submit()
    task = task_of(request)
    review_claim(task_id=task.pk, staff=bank.risk)  # holding the task first is allowed, not required
    credit_line_request_reject(request_id=request.pk, checker=bank.risk, comment="风险已排除")
    task.refresh_from_db()
    assert (task.status, task.outcome, task.comment, task.assignee_id) == ("done", "rejected", "风险已排除", bank.risk.pk)
    refused("request_decided", credit_line_request_approve, request_id=request.pk, checker=bank.risk2)
    bank.line.refresh_from_db()
    assert bank.line.state == "active"
    # a new request on the same line gets a new task
    assert task_of(bank.submit(reason="再次发现风险")).pk != task.pk


def test_a_checker_of_another_role_closes_the_task_too(bank):
    """Approving is still open to every role holding the permission (运营, 支行行长), as before."""
    request = bank.submit()
    other_operator = make_staff(role=roles.OPERATIONS, institution=bank.institution, name="运营二")
    credit_line_request_approve(request_id=request.pk, checker=other_operator.user)  # a user is accepted too
    task = task_of(request)
    assert (task.status, task.outcome, task.assignee_id) == ("done", "approved", other_operator.pk)


def test_the_maker_cannot_claim_or_decide_their_own(bank):
    request = bank.submit(maker=bank.risk)  # a risk officer makes it: it sits in their own queue
    task = task_of(request)
    before = state(task, request)
    assert review_claim_next(staff=bank.risk, kind=LINE_CHANGE) is None
    refused("maker_is_checker", review_claim, task_id=task.pk, staff=bank.risk)
    refused("maker_is_checker", credit_line_request_approve, request_id=request.pk, checker=bank.risk)
    refused("maker_is_checker", credit_line_request_reject, request_id=request.pk, checker=bank.risk)
    assert state(task, request) == before
    assert review_claim_next(staff=bank.risk2, kind=LINE_CHANGE).pk == task.pk


def test_a_task_held_by_one_checker_is_not_decided_by_another(bank):
    request = bank.submit()
    task = task_of(request)
    review_claim(task_id=task.pk, staff=bank.risk)
    before = state(task, request)
    refused("task_claimed", credit_line_request_approve, request_id=request.pk, checker=bank.risk2)
    refused("task_claimed", credit_line_request_reject, request_id=request.pk, checker=bank.manager)
    assert state(task, request) == before  # nothing changed: task, request, line
    review_release(task_id=task.pk, staff=bank.risk)
    credit_line_request_approve(request_id=request.pk, checker=bank.risk2)
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("done", bank.risk2.pk)


def test_a_request_made_before_tasks_existed_is_still_decided(bank):
    request = bank.submit()
    ReviewTask.objects.filter(line_request=request).delete()
    credit_line_request_approve(request_id=request.pk, checker=bank.risk)
    request.refresh_from_db()
    assert request.status == "approved" and not ReviewTask.objects.exists()


# --- claiming --------------------------------------------------------------------------------------


def test_claim_next_hands_the_oldest_due_line_task_to_whom_may_check_it(bank):
    first = task_of(bank.submit())
    second = task_of(bank.submit(line=bank.new_line()))
    ReviewTask.objects.filter(pk=second.pk).update(due_at=first.due_at - dt.timedelta(minutes=5))
    foreign = make_staff(role=roles.RISK_OFFICER, institution=BranchFactory().institution, name="外行风险")
    assert review_claim_next(staff=foreign, kind=LINE_CHANGE) is None  # another institution
    assert review_claim_next(staff=bank.reviewer, kind=LINE_CHANGE) is None  # not the queue of 审批员
    assert review_claim_next(staff=bank.manager, kind=LINE_CHANGE) is None  # not escalated yet
    assert review_claim_next(staff=bank.risk) is None  # the workbench's default kind: application reviews
    assert review_claim_next(staff=bank.risk, kind=LINE_CHANGE).pk == second.pk  # due first
    assert review_claim_next(staff=bank.risk2, kind=LINE_CHANGE).pk == first.pk
    assert review_claim_next(staff=bank.risk2, kind=LINE_CHANGE) is None
    refused("task_claimed", review_claim, task_id=second.pk, staff=bank.risk2)


# --- escalation ------------------------------------------------------------------------------------


def test_overdue_line_task_goes_to_the_branch_manager(bank):
    overdue = bank.submit()
    fresh = bank.submit(line=bank.new_line())
    overdue_task, fresh_task = task_of(overdue), task_of(fresh)
    ReviewTask.objects.filter(pk=overdue_task.pk).update(due_at=at(MONDAY, 13))
    ReviewTask.objects.filter(pk=fresh_task.pk).update(due_at=at(MONDAY, 16))
    review_claim(task_id=overdue_task.pk, staff=bank.risk)

    now = at(MONDAY, 14)
    assert review_escalate_overdue(now=now) == 1
    assert review_escalate_overdue(now=now) == 0  # idempotent
    overdue_task.refresh_from_db()
    fresh_task.refresh_from_db()
    assert (overdue_task.queue_role, overdue_task.escalation_level, overdue_task.escalated_at) == (
        roles.BRANCH_MANAGER,
        1,
        now,
    )
    assert (overdue_task.status, overdue_task.assignee_id, overdue_task.due_at) == ("open", None, at(MONDAY, 16))
    assert (fresh_task.queue_role, fresh_task.escalation_level) == (roles.RISK_OFFICER, 0)

    assert review_claim_next(staff=bank.other_manager, kind=LINE_CHANGE) is None  # another branch
    assert review_claim_next(staff=bank.manager, kind=LINE_CHANGE).pk == overdue_task.pk
    credit_line_request_approve(request_id=overdue.pk, checker=bank.manager, comment="行长同意冻结")
    overdue_task.refresh_from_db()
    assert (overdue_task.status, overdue_task.outcome, overdue_task.assignee_id) == ("done", "approved", bank.manager.pk)

    # at the top (支行行长) it stays in its queue, escalated again
    assert review_escalate_overdue(now=at(MONDAY, 16, 30)) == 1
    fresh_task.refresh_from_db()
    assert (fresh_task.queue_role, fresh_task.escalation_level) == (roles.BRANCH_MANAGER, 1)
    assert review_escalate_overdue(now=at(MONDAY + dt.timedelta(days=1), 12)) == 1
    fresh_task.refresh_from_db()
    assert (fresh_task.queue_role, fresh_task.escalation_level) == (roles.BRANCH_MANAGER, 2)


def test_overdue_line_task_without_branch_stays_with_the_risk_officers(bank):
    CreditLine.objects.filter(pk=bank.line.pk).update(branch=None)
    task = task_of(bank.submit())
    assert task.branch_id is None
    ReviewTask.objects.filter(pk=task.pk).update(due_at=at(MONDAY, 9))
    assert review_escalate_overdue(now=at(MONDAY, 10)) == 1
    task.refresh_from_db()
    assert (task.queue_role, task.escalation_level, task.due_at) == (roles.RISK_OFFICER, 1, at(MONDAY, 12))
    assert review_claim_next(staff=bank.risk, kind=LINE_CHANGE).pk == task.pk


# --- admin -----------------------------------------------------------------------------------------


def test_admin_queue_shows_a_line_task_linked_to_its_decision_page(client, bank):
    request = bank.submit()
    task = task_of(request)
    decide_url = reverse("admin:lending_creditlinerequest_decide", args=[request.pk])
    assert decide_url == f"/admin/lending/creditlinerequest/{request.pk}/decide/"

    client.force_login(bank.risk.user)
    changelist = client.get("/admin/lending/reviewtask/")
    assert changelist.status_code == 200
    assert task.pk in {row.pk for row in changelist.context["cl"].result_list}
    html = changelist.content.decode()
    assert decide_url in html and bank.line.line_no in html and "额度变更复核" in html
    assert client.get(f"/admin/lending/reviewtask/{task.pk}/change/").status_code == 200

    client.post("/admin/lending/reviewtask/", {"action": "claim", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert (task.status, task.assignee_id) == ("claimed", bank.risk.pk)

    page = client.get(decide_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert bank.line.line_no in html and request.reason in html and 'name="decision"' in html and 'id="review-task"' in html
    response = client.post(decide_url, {"decision": "approve", "comment": "同意冻结"})
    assert response.status_code == 302 and response["Location"] == decide_url
    task.refresh_from_db()
    bank.line.refresh_from_db()
    assert (task.status, task.outcome, task.comment, task.assignee_id) == ("done", "approved", "同意冻结", bank.risk.pk)
    assert bank.line.state == "frozen"
    assert 'name="decision"' not in client.get(decide_url).content.decode()  # decided: no form any more


def test_admin_decision_page_refuses_the_maker_and_those_without_permission(client, bank):
    request = bank.submit()
    task = task_of(request)
    decide_url = f"/admin/lending/creditlinerequest/{request.pk}/decide/"
    client.force_login(bank.maker.user)
    page = client.get(decide_url).content.decode()
    assert 'name="decision"' not in page and "双人复核" in page
    response = client.post(decide_url, {"decision": "approve"})
    assert response.status_code == 200 and "经办人不能复核" in response.content.decode()

    account_manager = make_staff(role=roles.ACCOUNT_MANAGER, branch=bank.branch)
    CreditLine.objects.filter(pk=bank.line.pk).update(account_manager=account_manager)
    client.force_login(account_manager.user)
    assert client.get(decide_url).status_code == 200  # sees the request of their customer's line
    assert client.post(decide_url, {"decision": "approve"}).status_code == 403  # may make, not check

    client.force_login(make_staff(role=roles.RISK_OFFICER, institution=BranchFactory().institution).user)
    assert client.get(decide_url).status_code == 404  # another institution's request

    task.refresh_from_db()
    request.refresh_from_db()
    assert (task.status, task.assignee_id, request.status) == ("open", None, "pending")


def test_admin_queue_query_count_does_not_grow_with_line_tasks(client, bank):
    bank.submit()
    client.force_login(bank.risk.user)

    def queries():
        client.get("/admin/lending/reviewtask/")  # warm per-process caches
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/admin/lending/reviewtask/").status_code == 200
        return len(captured.captured_queries)

    one = queries()
    for _ in range(5):
        bank.submit(line=bank.new_line())
    assert queries() == one


# --- concurrency (PostgreSQL, real threads) --------------------------------------------------------


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_a_line_task_nor_give_the_maker_their_own(postgres_only):
    bank = Bank()
    maker = bank.risk  # a risk officer made all three: they claim with the others and must get none
    tasks = [task_of(bank.submit(line=bank.new_line(), maker=maker)) for _ in range(3)]
    staff = [maker] + [make_staff(role=roles.RISK_OFFICER, institution=bank.institution, name=f"风险{i}") for i in range(5)]

    def claim(index, barrier):
        barrier.wait()
        task = review_claim_next(staff=staff[index], kind=LINE_CHANGE)
        return task.pk if task else None

    results = run_threads(claim, len(staff))
    assert not [r for r in results if isinstance(r, tuple)], results
    assert results[0] is None  # the maker
    claimed = [pk for pk in results if pk is not None]
    assert sorted(claimed) == sorted(task.pk for task in tasks)  # every task once, never twice
    holders = dict(ReviewTask.objects.values_list("pk", "assignee_id"))
    assert len(set(holders.values())) == 3 and maker.pk not in holders.values()
    assert {staff[i].pk for i, pk in enumerate(results) if pk is not None} == set(holders.values())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_naive_claim_of_line_tasks_hands_one_task_to_two(postgres_only):
    """Read the oldest open line task, then update it, without a row lock: both readers take the same task."""
    bank = Bank()
    task = task_of(bank.submit())
    staff = [bank.risk, bank.risk2]

    def naive_claim(index, barrier):
        with transaction.atomic():
            candidate = ReviewTask.objects.filter(status="open", kind=LINE_CHANGE).order_by("due_at", "id").first()
            barrier.wait()
            ReviewTask.objects.filter(pk=candidate.pk).update(status="claimed", assignee=staff[index])
            return candidate.pk

    assert run_threads(naive_claim, 2) == [task.pk, task.pk]  # the bug review_claim_next prevents


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_claim_racing_a_decision_by_another_one_wins(postgres_only):
    bank = Bank()
    request = bank.submit()
    task = task_of(request)

    def act(index, barrier):
        barrier.wait()
        if index == 0:
            return ("claimed", review_claim(task_id=task.pk, staff=bank.risk).assignee_id)
        return ("approved", credit_line_request_approve(request_id=request.pk, checker=bank.risk2).checker_id)

    results = run_threads(act, 2)
    assert not [r for r in results if r[0] == "error"], results
    task.refresh_from_db()
    request.refresh_from_db()
    if results[0] == ("claimed", bank.risk.pk):  # the claim came first: the other checker is refused
        assert results[1] == ("refused", "task_claimed")
        assert (task.status, task.assignee_id, request.status) == ("claimed", bank.risk.pk, "pending")
    else:  # the decision came first: the task is closed, the claim refused
        assert results == [("refused", "task_closed"), ("approved", bank.risk2.pk)]
        assert (task.status, task.assignee_id, request.status) == ("done", bank.risk2.pk, "approved")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_approve_racing_reject_closes_the_task_once(postgres_only):
    bank = Bank()
    request = bank.submit()

    def decide(index, barrier):
        barrier.wait()
        service = credit_line_request_approve if index == 0 else credit_line_request_reject
        return service(request_id=request.pk, checker=[bank.risk, bank.risk2][index]).status

    results = run_threads(decide, 2)
    winners = [r for r in results if r in ("approved", "rejected")]
    assert len(winners) == 1 and [r for r in results if isinstance(r, tuple)] == [("refused", "request_decided")], results
    task = task_of(request)
    request.refresh_from_db()
    assert (task.status, task.outcome, request.status) == ("done", winners[0], winners[0])
    assert task.assignee_id == request.checker_id
