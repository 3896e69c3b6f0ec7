"""Escalation notice (超时升级提醒): when overdue review tasks move up (``lending.review_tasks_escalated``),
the staff who may now work each queue get one short SMS on their work mobile.

Who is told, per queue (institution, branch, role) of the escalated tasks: active staff (active login)
holding the queue's role within that role's scope, as in ``review.queue_condition`` — institution-wide
roles (审批员, 风险管理员): staff of the task's institution; branch roles (支行行长): staff of the task's
branch — and with a work mobile (``Staff.mobile``). The province admin and superusers see every queue
but are not paged. One message per staff member and event, however many queues and tasks; no customer
data in it.

Sent after the handler's transaction commits (no SMS inside an open transaction); the bus runs a
handler at most once per event (``EventDelivery`` row in the handler's transaction), so an event
delivered twice sends nothing the second time. A refused message is logged (masked mobile) and the
others still go out.
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

from django.db import transaction

from jikuai.core.masking import mask_mobile
from jikuai.core.sms import SmsError, send_sms
from jikuai.org import roles
from jikuai.org.models import Staff

logger = logging.getLogger(__name__)

SMS_TEMPLATE = "review_escalated"
SMS_TEXT = "【吉快金融】您所在的审核队列（{queues}）有 {count} 笔任务已超时升级，请尽快登录处理。"


@dataclass
class _Notice:
    mobile: str
    counts: Counter = field(default_factory=Counter)

    def text(self) -> str:
        return SMS_TEXT.format(queues="、".join(sorted(self.counts)), count=sum(self.counts.values()))


def _staff_of_queue(*, institution_id: int | None, branch_id: int | None, role: str):
    if institution_id is None:
        return Staff.objects.none()
    scope = roles.ROLE_SCOPE.get(role)
    staff = Staff.objects.filter(
        is_active=True, user__is_active=True, user__groups__name=role, institution_id=institution_id
    ).exclude(mobile="")
    if scope == roles.INSTITUTION:
        return staff
    if scope in (roles.BRANCH, roles.ASSIGNED) and branch_id is not None:
        return staff.filter(branch_id=branch_id)
    return Staff.objects.none()


def review_escalation_notices(*, tasks: list[dict]) -> list[tuple[str, str]]:
    """(mobile, text) per staff member to tell about ``tasks`` (the event's payload rows), by staff id."""
    queues = Counter((task["institution_id"], task["branch_id"], task["queue_role"]) for task in tasks)
    notices: dict[int, _Notice] = {}
    for (institution_id, branch_id, role), count in sorted(queues.items(), key=repr):
        for staff_id, mobile in _staff_of_queue(institution_id=institution_id, branch_id=branch_id, role=role).values_list(
            "pk", "mobile"
        ):
            notices.setdefault(staff_id, _Notice(mobile=mobile)).counts[role] += count
    return [(notice.mobile, notice.text()) for _, notice in sorted(notices.items())]


def _send(messages: list[tuple[str, str]]) -> None:
    for mobile, text in messages:
        try:
            send_sms(mobile=mobile, text=text, template=SMS_TEMPLATE)
        except SmsError as exc:
            logger.warning("review escalation: SMS to %s failed: %s", mask_mobile(mobile), exc)


def review_escalation_notify(*, tasks: list[dict]) -> int:
    """Queue one SMS per staff member to tell (sent once the caller's transaction commits); returns how many."""
    messages = review_escalation_notices(tasks=tasks)
    if messages:
        transaction.on_commit(partial(_send, messages), robust=True)
    return len(messages)
