"""Loan engine services (writes). Other apps use ``lending.facade``; issue 5 calls
``loan_create`` / ``loan_disburse`` / ``loan_create_and_disburse``."""

from lending.services.classification import (
    classification_request_approve,
    classification_request_create,
    classification_request_reject,
    loan_mark_restructured,
)
from lending.services.cob import run_cob
from lending.services.common import LendingError, parse_amount
from lending.services.loans import (
    loan_create,
    loan_create_and_disburse,
    loan_disburse,
    loan_disbursement_failed,
    loan_disbursement_settled,
    loan_write_off,
    validate_offer,
)
from lending.services.reconcile import reconcile_ledger
from lending.services.repayments import (
    prepayment_quote,
    repayment_record,
    repayment_reversal_request_approve,
    repayment_reversal_request_create,
    repayment_reversal_request_reject,
    repayment_reverse,
    staff_repayment_approve,
    staff_repayment_reject,
    staff_repayment_submit,
)
from lending.services.replay import loan_replay

__all__ = [
    "LendingError",
    "classification_request_approve",
    "classification_request_create",
    "classification_request_reject",
    "loan_create",
    "loan_create_and_disburse",
    "loan_disburse",
    "loan_disbursement_failed",
    "loan_disbursement_settled",
    "loan_mark_restructured",
    "loan_replay",
    "loan_write_off",
    "parse_amount",
    "prepayment_quote",
    "reconcile_ledger",
    "repayment_record",
    "repayment_reversal_request_approve",
    "repayment_reversal_request_create",
    "repayment_reversal_request_reject",
    "repayment_reverse",
    "run_cob",
    "staff_repayment_approve",
    "staff_repayment_reject",
    "staff_repayment_submit",
    "validate_offer",
]
