"""Bus handlers of credit lines (thin: one service call each, idempotent by construction).

* ``lending.loan_disbursed`` / ``lending.loan_disbursement_failed`` — a drawdown waiting for the
  core-banking callback is marked disbursed, or its hold is released.
* ``lending.repayment_received`` / ``lending.repayment_reversed`` — a revolving line gets back the
  principal repaid (or gives it back after a reversal): the service recomputes the target from the
  loan's state, so a repeated, late or out-of-order event changes nothing twice.
"""

from jikuai.core.bus import BusEvent, subscribe
from lending.services import lines


@subscribe("lending.loan_disbursed", name="lending.lines.drawdown_settled")
def drawdown_settled(event: BusEvent) -> None:
    lines.drawdown_disbursement_settled(loan_id=event.payload["loan_id"])


@subscribe("lending.loan_disbursement_failed", name="lending.lines.drawdown_failed")
def drawdown_failed(event: BusEvent) -> None:
    lines.drawdown_disbursement_failed(loan_id=event.payload["loan_id"], message=event.payload.get("message", ""))


@subscribe("lending.repayment_received", name="lending.lines.restore_on_repayment")
def restore_on_repayment(event: BusEvent) -> None:
    lines.credit_line_restore_sync(loan_id=event.payload["loan_id"])


@subscribe("lending.repayment_reversed", name="lending.lines.restore_on_reversal")
def restore_on_reversal(event: BusEvent) -> None:
    lines.credit_line_restore_sync(loan_id=event.payload["loan_id"])
