"""lending's bus handlers (discovered by the kernel's bus at start-up)."""

from jikuai.core.bus import subscribe
from lending import (
    handlers_lines,  # noqa: F401  credit lines and drawdowns
    workflow,
)


@subscribe("lending.application_decided", name="lending.workflow:prepare_contract")
def prepare_contract_on_approval(event):
    if event.payload.get("outcome") == "approved":
        workflow.prepare_contract(application_id=event.payload["application_id"])


@subscribe("lending.contract_signed", name="lending.workflow:fulfil")
def fulfil_on_signature(event):
    if event.payload.get("application_id"):
        workflow.fulfil(application_id=event.payload["application_id"])
