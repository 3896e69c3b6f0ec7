"""Bus handlers of credit lines (thin: one service call each, idempotent by construction).

* ``lending.loan_disbursed`` / ``lending.loan_disbursement_failed`` — a drawdown waiting for the
  core-banking callback is marked disbursed, or its hold is released.
* ``lending.repayment_received`` / ``lending.repayment_reversed`` — a revolving line gets back the
  principal repaid (or gives it back after a reversal): the service recomputes the target from the
  loan's state, so a repeated, late or out-of-order event changes nothing twice.
* ``lending.drawdown_disbursed`` — the drawdown's 借款借据 is generated and sealed by the institution.
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


@subscribe("lending.drawdown_disbursed", name="lending.lines.drawdown_receipt")
def drawdown_receipt(event: BusEvent) -> None:
    """借款借据: sealed once the money is out (idempotent: one receipt per drawdown)."""
    from lending.contracts.services import receipt_issue_for_drawdown

    receipt_issue_for_drawdown(drawdown_id=event.payload["drawdown_id"])
