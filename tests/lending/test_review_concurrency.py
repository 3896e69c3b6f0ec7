"""PostgreSQL thread tests for review tasks: concurrent claims never hand one task to two reviewers (a
naive read-then-update claim does), and two decisions on one task: exactly one wins."""

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django_fsm_log.models import StateLog

from jikuai.core.models import OutboxEvent
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.models import ReviewTask
from lending.services.review import review_claim, review_claim_next, review_decide, review_task_open
from tests.factories import make_customer, make_staff
from tests.lending.review_factories import MONDAY, World
from tests.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NINE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def open_tasks(world, count: int) -> list[ReviewTask]:
    tasks = []
    for index in range(count):
        customer = make_customer(institution=world.institution, branch=world.branch, name=f"客户{index}")
        tasks.append(review_task_open(application=world.application(customer=customer), now=NINE + dt.timedelta(minutes=index)))
    return tasks


def reviewers(world, count: int):
    return [make_staff(role=roles.CREDIT_REVIEWER, institution=world.institution, name=f"审批{i}") for i in range(count)]


def test_concurrent_claims_never_share_a_task():
    business_date_set(day=MONDAY)
    world = World()
    tasks = open_tasks(world, 3)
    staff = reviewers(world, 6)

    def claim(index, barrier):
        barrier.wait()
        task = review_claim_next(staff=staff[index])
        return task.pk if task else None

    results = run_threads(claim, 6)
    claimed = [pk for pk in results if pk is not None]
    assert not [r for r in results if isinstance(r, tuple)], results
    assert sorted(claimed) == sorted(task.pk for task in tasks)  # every task once, never twice
    assert results.count(None) == 3
    holders = dict(ReviewTask.objects.values_list("pk", "assignee_id"))
    assert len(set(holders.values())) == 3
    assert {staff[i].pk for i, pk in enumerate(results) if pk is not None} == set(holders.values())


def test_two_reviewers_one_task_one_gets_none():
    business_date_set(day=MONDAY)
    world = World()
    (task,) = open_tasks(world, 1)
    staff = reviewers(world, 2)

    def claim(index, barrier):
        barrier.wait()
        claimed = review_claim_next(staff=staff[index])
        return claimed.pk if claimed else None

    results = run_threads(claim, 2)
    assert sorted(results, key=lambda r: r is None) == [task.pk, None]


def test_claim_next_skips_a_task_being_claimed_instead_of_waiting():
    business_date_set(day=MONDAY)
    world = World()
    first, second = open_tasks(world, 2)
    staff = reviewers(world, 2)
    locked = threading.Event()
    done = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                ReviewTask.objects.select_for_update().get(pk=first.pk)
                locked.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(timeout=30)
        results = run_threads(lambda index, barrier: review_claim_next(staff=staff[0]).pk, 1)
        assert results == [second.pk]  # the locked (earlier due) task is skipped, not waited for
    finally:
        done.set()
        thread.join(timeout=30)


def test_naive_claim_hands_the_same_task_to_two_reviewers():
    """Read the oldest open task, then update it, without a row lock: both readers see the same task."""
    business_date_set(day=MONDAY)
    world = World()
    (task,) = open_tasks(world, 1)
    staff = reviewers(world, 2)

    def naive_claim(index, barrier):
        with transaction.atomic():
            candidate = ReviewTask.objects.filter(status="open").order_by("due_at", "id").first()
            barrier.wait()
            ReviewTask.objects.filter(pk=candidate.pk).update(status="claimed", assignee=staff[index])
            return candidate.pk

    results = run_threads(naive_claim, 2)
    assert results == [task.pk, task.pk]  # the bug the real service prevents


def test_two_decisions_on_one_task_one_wins():
    business_date_set(day=MONDAY)
    world = World()
    (task,) = open_tasks(world, 1)
    review_claim(task_id=task.pk, staff=world.reviewer)

    def decide(index, barrier):
        barrier.wait()
        application = review_decide(
            task_id=task.pk, staff=world.reviewer, approve=index == 0, comment="同意" if index == 0 else "拒绝"
        )
        return application.state

    results = run_threads(decide, 2)
    winners = [r for r in results if r in ("approved", "rejected")]
    assert len(winners) == 1, results
    assert [r for r in results if isinstance(r, tuple)] == [("refused", "already_decided")]
    task.refresh_from_db()
    task.application.refresh_from_db()
    # once committed, an approval moves on to contract_pending when the bus delivers it (inline or by a worker)
    after = {"approved": {"approved", "contract_pending"}, "rejected": {"rejected"}}[winners[0]]
    assert task.status == "done" and task.application.state in after
    decided = StateLog.objects.for_(task.application).exclude(state="contract_pending")
    assert decided.count() == 1 and decided.get().state == winners[0]
    assert OutboxEvent.objects.filter(topic="lending.application_decided").count() == 1
