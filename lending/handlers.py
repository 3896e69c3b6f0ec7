"""lending's bus handlers (discovered by the kernel's bus at start-up)."""

from jikuai.core.bus import subscribe
from lending import (
    handlers_lines,  # noqa: F401  credit lines and drawdowns
    workflow,
)
from lending.services.review import ESCALATED_TOPIC
from lending.services.review_notify import review_escalation_notify


@subscribe("lending.application_decided", name="lending.workflow:prepare_contract")
def prepare_contract_on_approval(event):
    if event.payload.get("outcome") == "approved":
        workflow.prepare_contract(application_id=event.payload["application_id"])


@subscribe("lending.contract_signed", name="lending.workflow:fulfil")
def fulfil_on_signature(event):
    if event.payload.get("application_id"):
        workflow.fulfil(application_id=event.payload["application_id"])


@subscribe(ESCALATED_TOPIC, name="lending.review:notify_escalation")
def notify_escalation(event):
    """超时升级提醒: one SMS per staff member of the queues the tasks moved to (once per event: the bus)."""
    review_escalation_notify(tasks=event.payload["tasks"])
