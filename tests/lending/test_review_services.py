"""Manual review (人工审核): queues, claim, working-hour due times, tiers, maker ≠ checker, two-level
approval, escalation; refused paths change nothing."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django_fsm_log.models import StateLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jikuai.core.exceptions import ApplicationError
from jikuai.core.models import CalendarDay, OutboxEvent
from jikuai.core.workdays import add_working_minutes, business_date_set, is_working_day
from jikuai.org import roles
from lending.models import LoanApplication, ReviewTask
from lending.models.products import default_tiers
from lending.services import review
from lending.services.review import (
    review_claim,
    review_claim_next,
    review_decide,
    review_escalate_overdue,
    review_pass_up,
    review_release,
    review_task_open,
)
from tests.factories import make_staff
from tests.lending.review_factories import MONDAY, World

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def world():
    business_date_set(day=MONDAY)
    return World()


def snapshot(application: LoanApplication, task: ReviewTask | None = None) -> tuple:
    application.refresh_from_db()
    values = (
        application.state,
        application.approved_amount,
        application.annual_rate,
        application.approved_by_id,
        application.expires_on,
        StateLog.objects.count(),
        OutboxEvent.objects.filter(topic="lending.application_decided").count(),
    )
    if task is not None:
        task.refresh_from_db()
        values += (task.status, task.assignee_id, task.outcome, task.queue_role, task.due_at)
    return values


def refused(code: str, func, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        func(**kwargs)
    assert info.value.code == code, info.value.message
    assert info.value.message_zh  # a Chinese message for people
    return info.value


# --- working hours ----------------------------------------------------------------------------------


class TestWorkingHours:
    OPEN, CLOSE = dt.time(8, 30), dt.time(17, 30)

    def add(self, start, minutes):
        return add_working_minutes(start, minutes, day_start=self.OPEN, day_end=self.CLOSE)

    def test_within_one_day(self, db):
        assert self.add(at(MONDAY, 9), 240) == at(MONDAY, 13)

    def test_rolls_over_the_evening(self, db):
        assert self.add(at(MONDAY, 16), 240) == at(MONDAY + dt.timedelta(days=1), 11)

    def test_before_opening_counts_from_opening_and_after_closing_from_next_morning(self, db):
        assert self.add(at(MONDAY, 6), 60) == at(MONDAY, 9, 30)
        assert self.add(at(MONDAY, 20), 60) == at(MONDAY + dt.timedelta(days=1), 9, 30)

    def test_weekend_skipped(self, db):
        friday = MONDAY + dt.timedelta(days=4)
        assert self.add(at(friday, 16), 240) == at(MONDAY + dt.timedelta(days=7), 11)

    def test_holiday_skipped_and_make_up_workday_counted(self, db):
        tuesday = MONDAY + dt.timedelta(days=1)
        CalendarDay.objects.create(date=tuesday, kind=CalendarDay.Kind.HOLIDAY, name="测试假日")
        assert self.add(at(MONDAY, 16), 240) == at(tuesday + dt.timedelta(days=1), 11)
        saturday = MONDAY + dt.timedelta(days=5)
        CalendarDay.objects.create(date=saturday, kind=CalendarDay.Kind.WORKDAY, name="调休上班")
        friday = MONDAY + dt.timedelta(days=4)
        assert self.add(at(friday, 16), 240) == at(saturday, 11)

    def test_exact_close_and_naive_input(self, db):
        assert self.add(at(MONDAY, 13, 30), 240) == at(MONDAY, 17, 30)
        assert self.add(dt.datetime(2026, 3, 2, 9, 0), 60) == at(MONDAY, 10)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    start=st.datetimes(min_value=dt.datetime(2026, 2, 20), max_value=dt.datetime(2026, 3, 20)),
    first=st.integers(min_value=0, max_value=3000),
    second=st.integers(min_value=0, max_value=3000),
)
def test_working_minutes_properties(db, start, first, second):
    """Additive (a then b = a + b), lands inside a working day's hours, never earlier than the start,
    and counts exactly the requested working minutes."""
    CalendarDay.objects.get_or_create(date=dt.date(2026, 3, 3), defaults={"kind": CalendarDay.Kind.HOLIDAY})
    CalendarDay.objects.get_or_create(date=dt.date(2026, 3, 7), defaults={"kind": CalendarDay.Kind.WORKDAY})
    opens, closes = dt.time(8, 30), dt.time(17, 30)
    start = start.replace(tzinfo=SHANGHAI)
    once = add_working_minutes(start, first + second, day_start=opens, day_end=closes)
    twice = add_working_minutes(
        add_working_minutes(start, first, day_start=opens, day_end=closes), second, day_start=opens, day_end=closes
    )
    assert once == twice
    assert once >= start and is_working_day(once.date()) and opens <= once.timetz().replace(tzinfo=None) <= closes
    # the working time between the start and the result, day by day
    counted = dt.timedelta(0)
    day = start.date()
    while day <= once.date():
        if is_working_day(day):
            lo = max(start, at(day, 8, 30))
            hi = min(once, at(day, 17, 30))
            counted += max(dt.timedelta(0), hi - lo)
        day += dt.timedelta(days=1)
    assert counted == dt.timedelta(minutes=first + second)


# --- tiers --------------------------------------------------------------------------------------------


def test_default_tiers_use_role_names():
    tiers = default_tiers()
    assert [tier["role"] for tier in tiers] == [roles.CREDIT_REVIEWER, roles.BRANCH_MANAGER]
    assert tiers[0]["up_to"] == "100000.00" and tiers[-1]["up_to"] is None


def test_tier_lookup(world):
    application = world.application()
    tiers = review.approval_tiers(application)
    assert review.tier_role_for(tiers, Decimal("100000.00")) == roles.CREDIT_REVIEWER
    assert review.tier_role_for(tiers, Decimal("100000.01")) == roles.BRANCH_MANAGER
    assert review.authority_of(tiers, {roles.CREDIT_REVIEWER}) == (True, Decimal("100000.00"))
    assert review.authority_of(tiers, {roles.BRANCH_MANAGER}) == (True, None)
    assert review.authority_of(tiers, {roles.RISK_OFFICER}) == (False, Decimal(0))
    assert review.next_role(tiers, roles.CREDIT_REVIEWER) == roles.BRANCH_MANAGER
    assert review.next_role(tiers, roles.BRANCH_MANAGER) is None


def test_snapshot_tiers_win_and_legacy_names_map(world):
    application = world.application(
        product_snapshot={"approval_tiers": [{"up_to": "20000", "role": "reviewer"}, {"up_to": None, "role": "manager"}]}
    )
    tiers = review.approval_tiers(application)
    assert tiers == [review.Tier(roles.CREDIT_REVIEWER, Decimal("20000")), review.Tier(roles.BRANCH_MANAGER, None)]
    task = review_task_open(application=application, now=at(MONDAY, 9))
    assert task.queue_role == roles.BRANCH_MANAGER  # 50,000 > 20,000 in the tiers the application was made with


# --- opening -----------------------------------------------------------------------------------------


def test_open_task_queue_branch_and_due_time(world):
    small = review_task_open(application=world.application(amount="80000.00"), now=at(MONDAY, 16))
    assert small.queue_role == roles.CREDIT_REVIEWER
    assert small.branch_id == world.branch.pk and small.institution_id == world.institution.pk
    assert small.status == "open" and small.assignee_id is None
    assert small.due_at == at(MONDAY + dt.timedelta(days=1), 11)  # 1.5 h today, 2.5 h tomorrow
    big_customer_app = world.application(amount="200000.00", customer=_other_customer(world))
    assert review_task_open(application=big_customer_app, now=at(MONDAY, 9)).queue_role == roles.BRANCH_MANAGER


def test_open_uses_decided_limit_below_request(world):
    # requested 200,000 but the automated decision suggested 90,000: the reviewer's tier suffices
    task = review_task_open(application=world.application(amount="200000.00", decided="90000.00"), now=at(MONDAY, 9))
    assert task.queue_role == roles.CREDIT_REVIEWER


def test_open_is_idempotent_and_needs_referred(world, settings):
    settings.JIKUAI_REVIEW_SLA_WORKING_HOURS = 1
    application = world.application()
    first = review_task_open(application=application, now=at(MONDAY, 9))
    assert first.due_at == at(MONDAY, 10)
    assert review_task_open(application=application, now=at(MONDAY, 10)).pk == first.pk
    assert ReviewTask.objects.count() == 1
    draft = world.application(customer=_other_customer(world), state="draft")
    refused("not_referred", review_task_open, application=draft)
    assert ReviewTask.objects.count() == 1


def test_application_without_branch_takes_the_customers(world):
    task = review_task_open(application=world.application(branch=None), now=at(MONDAY, 9))
    assert task.branch_id == world.customer.branch_id


def _other_customer(world, **kwargs):
    from tests.factories import make_customer

    return make_customer(institution=world.institution, branch=kwargs.get("branch", world.branch), name="陈小春")


# --- claiming --------------------------------------------------------------------------------------


def test_claim_next_takes_the_task_due_first_in_my_queues(world):
    later = review_task_open(application=world.application(), now=at(MONDAY, 11))
    sooner = review_task_open(application=world.application(customer=_other_customer(world)), now=at(MONDAY, 9))
    big = review_task_open(application=world.application(amount="150000.00", customer=_other_customer(world)), now=at(MONDAY, 8))
    assert review_claim_next(staff=world.reviewer).pk == sooner.pk
    assert review_claim_next(staff=world.reviewer2).pk == later.pk
    assert review_claim_next(staff=world.reviewer) is None  # the big one is the branch manager's
    assert review_claim_next(staff=world.foreign_reviewer) is None
    assert review_claim_next(staff=world.other_manager) is None  # another branch
    claimed = review_claim_next(staff=world.manager)
    assert claimed.pk == big.pk and claimed.assignee_id == world.manager.pk and claimed.status == "claimed"
    assert claimed.claimed_at is not None


def test_claim_next_skips_what_i_made(world):
    maker = make_staff(role=roles.CREDIT_REVIEWER, institution=world.institution)
    review_task_open(application=world.application(created_by_staff=maker), now=at(MONDAY, 9))
    assert review_claim_next(staff=maker) is None
    assert review_claim_next(staff=world.reviewer) is not None


def test_claim_specific_task_and_release(world):
    task = review_task_open(application=world.application(), now=at(MONDAY, 9))
    review_claim(task_id=task.pk, staff=world.reviewer)
    assert review_claim(task_id=task.pk, staff=world.reviewer).assignee_id == world.reviewer.pk  # again: no-op
    before = snapshot(task.application, task)
    refused("task_claimed", review_claim, task_id=task.pk, staff=world.reviewer2)
    refused("not_assignee", review_release, task_id=task.pk, staff=world.reviewer2)
    assert snapshot(task.application, task) == before
    refused("not_found", review_claim, task_id=task.pk, staff=world.foreign_reviewer)
    review_release(task_id=task.pk, staff=world.reviewer)
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.claimed_at) == ("open", None, None)
    assert review_claim(task_id=task.pk, staff=world.reviewer2).assignee_id == world.reviewer2.pk


def test_maker_cannot_claim(world):
    task = review_task_open(application=world.application(), now=at(MONDAY, 9))
    world.account_manager.user.groups.add(Group.objects.get_or_create(name=roles.CREDIT_REVIEWER)[0])
    world.account_manager.user._jikuai_scope = None
    refused("maker_is_checker", review_claim, task_id=task.pk, staff=world.account_manager)
    task.refresh_from_db()
    assert task.status == "open"


# --- deciding ----------------------------------------------------------------------------------------


def claimed_task(world, staff=None, **application_fields) -> ReviewTask:
    task = review_task_open(application=world.application(**application_fields), now=at(MONDAY, 9))
    return review_claim(task_id=task.pk, staff=staff or world.reviewer)


def test_approve(world, django_capture_on_commit_callbacks):
    task = claimed_task(world, amount="60000.00", decided="50000.00")
    with django_capture_on_commit_callbacks():
        application = review_decide(
            task_id=task.pk,
            staff=world.reviewer,
            approve=True,
            comment="收入核实无误",
            approved_amount="45000",
            annual_rate="0.07",
        )
    assert application.state == "approved"
    assert application.approved_amount == Decimal("45000.00") and application.annual_rate == Decimal("0.07")
    assert application.approved_by_id == world.reviewer.pk
    assert application.expires_on == MONDAY + dt.timedelta(days=30)
    assert application.apr == Decimal("0.07")  # no fee: the APR is the contract rate (stored as a fraction)
    log = StateLog.objects.for_(application).get()
    assert (log.transition, log.by_id, log.description, log.state) == (
        "approve",
        world.reviewer.user_id,
        "收入核实无误",
        "approved",
    )
    task.refresh_from_db()
    assert (task.status, task.outcome, task.comment) == ("done", "approved", "收入核实无误")
    event = OutboxEvent.objects.get(topic="lending.application_decided")
    assert event.payload["application_id"] == application.pk
    assert event.payload["outcome"] == "approved" and event.payload["source"] == "manual"
    assert event.payload["approved_amount"] == "45000.00" and event.payload["approved_amount_fen"] == 4500000
    assert event.payload["institution_id"] == world.institution.pk
    assert event.payload["account_manager_id"] == world.account_manager.pk


def test_approve_defaults_to_the_decided_amount_and_rate(world):
    task = claimed_task(world, amount="60000.00", decided="50000.00", rate="0.065")
    application = review_decide(task_id=task.pk, staff=world.reviewer, approve=True, comment="")
    assert application.approved_amount == Decimal("50000.00") and application.annual_rate == Decimal("0.065")


def test_reject(world):
    task = claimed_task(world)
    application = review_decide(task_id=task.pk, staff=world.reviewer, approve=False, comment="负债过高")
    assert application.state == "rejected" and application.closed_reason == "负债过高"
    assert application.approved_by_id is None
    assert OutboxEvent.objects.get(topic="lending.application_decided").payload["outcome"] == "rejected"
    assert StateLog.objects.for_(application).get().transition == "reject"


def test_branch_manager_approves_above_the_reviewer_tier(world):
    task = claimed_task(world, staff=world.manager, amount="250000.00")
    application = review_decide(task_id=task.pk, staff=world.manager, approve=True, comment="同意")
    assert application.state == "approved" and application.approved_amount == Decimal("250000.00")


class TestRefusals:
    """Every refusal: a clear error, nothing changed (application, logs, events, task)."""

    def test_deciding_a_task_not_claimed(self, world):
        task = review_task_open(application=world.application(), now=at(MONDAY, 9))
        before = snapshot(task.application, task)
        refused("not_assignee", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="")
        assert snapshot(task.application, task) == before

    def test_deciding_a_task_claimed_by_another(self, world):
        task = claimed_task(world)
        before = snapshot(task.application, task)
        refused("not_assignee", review_decide, task_id=task.pk, staff=world.reviewer2, approve=True, comment="")
        refused("not_found", review_decide, task_id=task.pk, staff=world.foreign_reviewer, approve=False, comment="x")
        assert snapshot(task.application, task) == before

    def test_maker_approving_their_own_application(self, world):
        maker = make_staff(role=roles.CREDIT_REVIEWER, institution=world.institution)
        task = review_task_open(application=world.application(created_by_staff=maker), now=at(MONDAY, 9))
        # the maker got hold of the task by an earlier bug / manual assignment: the decision is still refused
        ReviewTask.objects.filter(pk=task.pk).update(status="claimed", assignee=maker)
        before = snapshot(task.application, task)
        error = refused("maker_is_checker", review_decide, task_id=task.pk, staff=maker, approve=True, comment="")
        assert "不能审批自己" in error.message_zh
        assert snapshot(task.application, task) == before

    def test_account_manager_and_anyone_who_acted_on_it(self, world):
        task = review_task_open(application=world.application(), now=at(MONDAY, 9))
        ReviewTask.objects.filter(pk=task.pk).update(status="claimed", assignee=world.account_manager)
        refused("maker_is_checker", review_decide, task_id=task.pk, staff=world.account_manager, approve=True, comment="")
        submitter = make_staff(role=roles.CREDIT_REVIEWER, institution=world.institution)
        other = world.application(customer=_other_customer(world))
        StateLog.objects.create(
            content_object=other, transition="submit", source_state="draft", state="submitted", by=submitter.user
        )
        task2 = review_task_open(application=other, now=at(MONDAY, 9))
        refused("maker_is_checker", review_claim, task_id=task2.pk, staff=submitter)

    def test_approving_above_tier(self, world):
        task = review_task_open(application=world.application(amount="150000.00"), now=at(MONDAY, 9))
        ReviewTask.objects.filter(pk=task.pk).update(status="claimed", assignee=world.reviewer)
        before = snapshot(task.application, task)
        error = refused("above_tier", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="")
        assert "超出您的审批权限" in error.message_zh and roles.BRANCH_MANAGER in error.message_zh
        assert snapshot(task.application, task) == before
        # lowering the amount into the reviewer's tier is allowed
        application = review_decide(task_id=task.pk, staff=world.reviewer, approve=True, comment="", approved_amount="100000")
        assert application.approved_amount == Decimal("100000.00")

    def test_amount_above_the_limit(self, world):
        task = claimed_task(world, amount="60000.00", decided="50000.00")
        before = snapshot(task.application, task)
        refused(
            "amount_above_limit",
            review_decide,
            task_id=task.pk,
            staff=world.reviewer,
            approve=True,
            comment="",
            approved_amount="50000.01",
        )
        refused(
            "invalid_amount", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="", approved_amount="-1"
        )
        refused(
            "amount_out_of_range",
            review_decide,
            task_id=task.pk,
            staff=world.reviewer,
            approve=True,
            comment="",
            approved_amount="10",
        )
        assert snapshot(task.application, task) == before

    def test_rate_out_of_range_or_missing(self, world):
        task = claimed_task(world, rate=None)
        before = snapshot(task.application, task)
        refused("rate_required", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="")
        refused(
            "rate_out_of_range",
            review_decide,
            task_id=task.pk,
            staff=world.reviewer,
            approve=True,
            comment="",
            annual_rate="0.19",
        )
        refused(
            "rate_out_of_range",
            review_decide,
            task_id=task.pk,
            staff=world.reviewer,
            approve=True,
            comment="",
            annual_rate="0.01",
        )
        refused(
            "rate_above_cap", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="", annual_rate="0.30"
        )
        refused("invalid_rate", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="", annual_rate="abc")
        assert snapshot(task.application, task) == before

    def test_apr_above_ceiling(self, world):
        world.product.apr_ceiling = Decimal("0.10")
        world.product.upfront_fee_rate = Decimal("0.05")
        world.product.save()
        task = claimed_task(world, rate="0.08")
        before = snapshot(task.application, task)
        refused("apr_above_ceiling", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="")
        assert snapshot(task.application, task) == before

    def test_reject_needs_a_comment(self, world):
        task = claimed_task(world)
        before = snapshot(task.application, task)
        refused("comment_required", review_decide, task_id=task.pk, staff=world.reviewer, approve=False, comment="  ")
        assert snapshot(task.application, task) == before

    def test_deciding_twice(self, world):
        task = claimed_task(world)
        review_decide(task_id=task.pk, staff=world.reviewer, approve=True, comment="同意")
        before = snapshot(task.application, task)
        refused("already_decided", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="同意")
        refused("already_decided", review_decide, task_id=task.pk, staff=world.reviewer, approve=False, comment="改主意")
        assert snapshot(task.application, task) == before

    def test_application_no_longer_referred(self, world):
        task = claimed_task(world)
        LoanApplication.objects.filter(pk=task.application_id).update(state="cancelled")
        before = snapshot(task.application, task)
        refused("not_referred", review_decide, task_id=task.pk, staff=world.reviewer, approve=True, comment="")
        assert snapshot(task.application, task) == before


# --- two-level approval ------------------------------------------------------------------------------


def test_pass_up_then_second_reviewer_approves(world):
    task = review_task_open(application=world.application(amount="150000.00"), now=at(MONDAY, 9))
    ReviewTask.objects.filter(pk=task.pk).update(queue_role=roles.CREDIT_REVIEWER)  # e.g. the tiers were changed
    review_claim(task_id=task.pk, staff=world.reviewer)
    refused("comment_required", review_pass_up, task_id=task.pk, staff=world.reviewer, comment="")
    new_task = review_pass_up(
        task_id=task.pk,
        staff=world.reviewer,
        comment="经营稳定",
        approved_amount="120000",
        annual_rate="0.068",
        now=at(MONDAY, 10),
    )
    task.refresh_from_db()
    assert (task.status, task.outcome) == ("done", "passed_up")
    assert "建议批准 120,000.00 元" in task.comment and "经营稳定" in task.comment
    assert new_task.queue_role == roles.BRANCH_MANAGER and new_task.status == "open"
    assert new_task.due_at == at(MONDAY, 14)
    assert new_task.application.state == "referred"
    # the first reviewer cannot take the second level, even holding the higher role
    world.reviewer.user.groups.add(Group.objects.get_or_create(name=roles.BRANCH_MANAGER)[0])
    refused("not_found", review_claim, task_id=new_task.pk, staff=world.reviewer)  # no branch: not their queue
    world.reviewer.branch = world.branch
    world.reviewer.save()
    refused("same_reviewer", review_claim, task_id=new_task.pk, staff=world.reviewer)
    assert review_claim_next(staff=world.reviewer) is None
    assert review_claim_next(staff=world.manager).pk == new_task.pk
    application = review_decide(
        task_id=new_task.pk, staff=world.manager, approve=True, comment="同意初审意见", approved_amount="120000"
    )
    assert application.state == "approved" and application.approved_by_id == world.manager.pk


def test_pass_up_within_tier_is_refused(world):
    task = claimed_task(world, amount="150000.00", decided="80000.00")
    before = snapshot(task.application, task)
    refused("within_tier", review_pass_up, task_id=task.pk, staff=world.reviewer, comment="请行长看看")
    assert snapshot(task.application, task) == before and ReviewTask.objects.count() == 1


# --- escalation -------------------------------------------------------------------------------------


def test_escalation_moves_overdue_tasks_up_once_per_run(world):
    overdue_open = review_task_open(application=world.application(), now=at(MONDAY, 9))  # due 13:00
    overdue_claimed = claimed_task(world, customer=_other_customer(world))  # due 13:00, claimed
    top = review_task_open(application=world.application(amount="200000.00", customer=_other_customer(world)), now=at(MONDAY, 9))
    fresh = review_task_open(application=world.application(customer=_other_customer(world)), now=at(MONDAY, 12))  # due 16:00
    done = claimed_task(world, customer=_other_customer(world))
    review_decide(task_id=done.pk, staff=world.reviewer, approve=False, comment="拒绝")

    now = at(MONDAY, 14)
    assert review_escalate_overdue(now=now) == 3
    for task in (overdue_open, overdue_claimed, top, fresh, done):
        task.refresh_from_db()
    assert (overdue_open.queue_role, overdue_open.escalation_level, overdue_open.escalated_at) == (roles.BRANCH_MANAGER, 1, now)
    assert overdue_open.due_at == at(MONDAY, 16)  # 2 working hours later
    assert (overdue_claimed.queue_role, overdue_claimed.status, overdue_claimed.assignee_id) == (
        roles.BRANCH_MANAGER,
        "open",
        None,
    )
    assert (top.queue_role, top.escalation_level, top.due_at) == (roles.BRANCH_MANAGER, 1, at(MONDAY, 16))
    assert (fresh.queue_role, fresh.escalation_level) == (roles.CREDIT_REVIEWER, 0)
    assert (done.status, done.escalation_level) == ("done", 0)

    assert review_escalate_overdue(now=now) == 0  # same run again: nothing
    assert review_escalate_overdue(now=at(MONDAY, 16, 30)) == 4  # the three again (now overdue) and fresh
    top.refresh_from_db()
    assert (top.queue_role, top.escalation_level) == (roles.BRANCH_MANAGER, 2)
    assert review_claim_next(staff=world.manager).escalation_level >= 1


def test_escalation_keeps_the_claim_at_the_top_queue(world):
    task = claimed_task(world, staff=world.manager, amount="200000.00")
    assert review_escalate_overdue(now=at(MONDAY, 18)) == 1
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.escalation_level) == ("claimed", world.manager.pk, 1)
    assert task.due_at == at(MONDAY + dt.timedelta(days=1), 10, 30)


def test_escalation_job_is_registered():
    from jikuai.core.scheduling import autodiscover_schedules, registered_jobs
    from lending.tasks import review_escalate_overdue_task

    autodiscover_schedules()
    jobs = [job for job in registered_jobs().values() if job.task == "lending.tasks.review_escalate_overdue"]
    assert len(jobs) == 1 and jobs[0].crontab
    assert review_escalate_overdue_task.name == "lending.tasks.review_escalate_overdue"


def test_claim_next_takes_one_kind_of_task(world):
    ReviewTask.objects.create(
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution=world.institution,
        branch=world.branch,
        queue_role=roles.CREDIT_REVIEWER,
        due_at=at(MONDAY, 9),
    )
    assert review_claim_next(staff=world.reviewer) is None  # the workbench's default: application reviews
    assert review_claim_next(staff=world.reviewer, kind=ReviewTask.Kind.LINE_CHANGE).kind == "line_change"


def test_escalation_of_a_task_without_application(world):
    task = ReviewTask.objects.create(
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution=world.institution,
        branch=world.branch,
        queue_role=roles.CREDIT_REVIEWER,
        due_at=at(MONDAY, 9),
    )
    assert review_escalate_overdue(now=at(MONDAY, 10)) == 1
    task.refresh_from_db()
    assert (task.queue_role, task.escalation_level) == (roles.BRANCH_MANAGER, 1)


def test_province_admin_works_every_queue(world):
    admin = make_staff(role=roles.PROVINCE_ADMIN, name="省联社")
    task = review_task_open(application=world.application(amount="200000.00"), now=at(MONDAY, 9))
    assert review_claim(task_id=task.pk, staff=admin).assignee_id == admin.pk  # sees every queue
    # but approving needs an approval tier: the province admin role holds none (rejecting needs none)
    refused("above_tier", review_decide, task_id=task.pk, staff=admin, approve=True, comment="")
    application = review_decide(task_id=task.pk, staff=admin, approve=False, comment="资料不全")
    assert application.state == "rejected"
