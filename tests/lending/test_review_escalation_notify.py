"""Escalation notice (超时升级提醒): the escalation job publishes one ``lending.review_tasks_escalated`` event
per batch; its handler sends one SMS per staff member who may work a queue the tasks moved to and has a
work mobile — once per event, whatever one refused message does."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from jikuai.core import bus, sms
from jikuai.core.models import OutboxEvent
from jikuai.core.workdays import business_date_set
from jikuai.org import roles
from lending.models import ReviewTask
from lending.services.review import ESCALATED_TOPIC, review_escalate_overdue, review_task_open
from tests.factories import make_staff
from tests.lending.review_factories import MONDAY, World

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
MANAGER_MOBILE = "13900001111"
FAILING_MOBILE = "13900002222"


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def with_mobile(staff, mobile):
    staff.mobile = mobile
    staff.save()
    return staff


@pytest.fixture
def world():
    business_date_set(day=MONDAY)
    world = World()
    with_mobile(world.manager, MANAGER_MOBILE)
    with_mobile(world.other_manager, "13900003333")  # another branch: never told about this branch
    return world


def escalate_and_deliver(capture, now=None) -> OutboxEvent:
    review_escalate_overdue(now=now or at(MONDAY, 14))
    event = OutboxEvent.objects.filter(topic=ESCALATED_TOPIC).latest("id")
    with capture(execute=True):  # the SMS go out after the handler's transaction commits
        bus.dispatch(event.pk)
    return event


def overdue_application_task(world):
    return review_task_open(application=world.application(), now=at(MONDAY, 9))  # 审批员, due 13:00


def test_branch_manager_is_told_once_with_the_count(world, sms_outbox, django_capture_on_commit_callbacks):
    task = overdue_application_task(world)
    event = escalate_and_deliver(django_capture_on_commit_callbacks)

    assert event.payload["task_ids"] == [task.pk]
    assert event.payload["tasks"] == [
        {
            "task_id": task.pk,
            "kind": "application_review",
            "institution_id": world.institution.pk,
            "branch_id": world.branch.pk,
            "queue_role": roles.BRANCH_MANAGER,
            "escalation_level": 1,
        }
    ]
    assert event.payload["escalated_at"] == at(MONDAY, 14).isoformat()
    assert [(message.mobile, message.template) for message in sms_outbox] == [(MANAGER_MOBILE, "review_escalated")]
    assert sms_outbox[0].text == "【吉快金融】您所在的审核队列（支行行长）有 1 笔任务已超时升级，请尽快登录处理。"
    assert "刘德华" not in sms_outbox[0].text


def test_staff_without_mobile_inactive_or_elsewhere_are_not_told(world, sms_outbox, django_capture_on_commit_callbacks):
    without_mobile = make_staff(role=roles.BRANCH_MANAGER, branch=world.branch, name="无手机行长")
    inactive = with_mobile(make_staff(role=roles.BRANCH_MANAGER, branch=world.branch, name="离岗行长"), "13900004444")
    inactive.is_active = False
    inactive.save()
    with_mobile(world.reviewer, "13900005555")  # the old queue's reviewer: the task left their queue
    overdue_application_task(world)

    escalate_and_deliver(django_capture_on_commit_callbacks)

    assert [message.mobile for message in sms_outbox] == [MANAGER_MOBILE]
    assert without_mobile.mobile == ""


def test_two_tasks_in_one_queue_make_one_message(world, sms_outbox, django_capture_on_commit_callbacks):
    review_task_open(application=world.application(), now=at(MONDAY, 9))
    ReviewTask.objects.create(  # a second overdue task in the same queue (审批员 of the branch)
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution=world.institution,
        branch=world.branch,
        queue_role=roles.CREDIT_REVIEWER,
        due_at=at(MONDAY, 9),
    )

    escalate_and_deliver(django_capture_on_commit_callbacks)

    assert len(sms_outbox) == 1
    assert "有 2 笔任务已超时升级" in sms_outbox[0].text


def test_delivering_the_event_twice_sends_once(world, sms_outbox, django_capture_on_commit_callbacks):
    overdue_application_task(world)
    event = escalate_and_deliver(django_capture_on_commit_callbacks)
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.PENDING)  # e.g. a redelivery

    with django_capture_on_commit_callbacks(execute=True):
        bus.dispatch(event.pk)
        bus.dispatch(event.pk)

    assert len(sms_outbox) == 1


def test_line_change_escalation_tells_the_branch_manager(world, sms_outbox, django_capture_on_commit_callbacks):
    with_mobile(make_staff(role=roles.RISK_OFFICER, institution=world.institution, name="风险"), "13900006666")
    ReviewTask.objects.create(
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution=world.institution,
        branch=world.branch,
        queue_role=roles.RISK_OFFICER,
        due_at=at(MONDAY, 9),
    )

    event = escalate_and_deliver(django_capture_on_commit_callbacks)

    assert event.payload["tasks"][0]["kind"] == "line_change"
    assert [message.mobile for message in sms_outbox] == [MANAGER_MOBILE]  # not the risk officer it left


def test_institution_queue_tells_its_reviewers(world, sms_outbox, django_capture_on_commit_callbacks):
    """A task that stays in an institution-wide queue (no branch: no branch manager could work it) is
    told to that queue's role holders of the institution, not to another institution's."""
    with_mobile(world.reviewer, "13900007777")
    with_mobile(world.foreign_reviewer, "13900008888")
    ReviewTask.objects.create(
        kind=ReviewTask.Kind.LINE_CHANGE,
        institution=world.institution,
        branch=None,
        queue_role=roles.CREDIT_REVIEWER,
        due_at=at(MONDAY, 9),
    )

    escalate_and_deliver(django_capture_on_commit_callbacks)

    assert [message.mobile for message in sms_outbox] == ["13900007777"]
    assert "（审批员）有 1 笔任务" in sms_outbox[0].text


class FlakyBackend(sms.LocmemBackend):
    """The gateway refuses one number (the adapter is the only thing tests replace)."""

    def send(self, message):
        if message.mobile == FAILING_MOBILE:
            raise sms.SmsError("gateway refused")
        return super().send(message)


def test_one_refused_message_does_not_stop_the_others(world, sms_outbox, settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = f"{__name__}.FlakyBackend"
    with_mobile(world.manager, FAILING_MOBILE)  # told first (staff order), refused
    with_mobile(make_staff(role=roles.BRANCH_MANAGER, branch=world.branch, name="副行长"), "13900009999")
    overdue_application_task(world)

    event = escalate_and_deliver(django_capture_on_commit_callbacks)

    assert [message.mobile for message in sms_outbox] == ["13900009999"]
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED


def test_nothing_overdue_publishes_nothing(world):
    review_task_open(application=world.application(), now=at(MONDAY, 12))  # due 16:00
    assert review_escalate_overdue(now=at(MONDAY, 14)) == 0
    assert not OutboxEvent.objects.filter(topic=ESCALATED_TOPIC).exists()
