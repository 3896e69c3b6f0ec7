"""Loan engine models: products, loans, schedules, repayments, ledger, classification, operations."""

from lending.models.classification import (
    ClassificationBand,
    ClassificationRequest,
    ClassificationSnapshot,
    ClassificationTable,
)
from lending.models.common import CLASS_RANK, NON_PERFORMING, Bucket, LoanClass
from lending.models.ledger import AccountCode, LedgerAccount, Posting, PostingKind, PostingLeg
from lending.models.loans import (
    Installment,
    InstallmentStatus,
    Loan,
    LoanState,
    Repayment,
    RepaymentChannel,
    RepaymentKind,
    RepaymentStatus,
    ScheduleVersion,
)
from lending.models.operations import CobQuarantine, CobRun, CollectionAttempt, PortfolioLoan, RepaymentRequest
from lending.models.products import OverpaymentPolicy, Product

__all__ = [
    "CLASS_RANK",
    "NON_PERFORMING",
    "AccountCode",
    "Bucket",
    "ClassificationBand",
    "ClassificationRequest",
    "ClassificationSnapshot",
    "ClassificationTable",
    "CobQuarantine",
    "CobRun",
    "CollectionAttempt",
    "Installment",
    "InstallmentStatus",
    "LedgerAccount",
    "Loan",
    "LoanClass",
    "LoanState",
    "OverpaymentPolicy",
    "PortfolioLoan",
    "Posting",
    "PostingKind",
    "PostingLeg",
    "Product",
    "Repayment",
    "RepaymentChannel",
    "RepaymentKind",
    "RepaymentRequest",
    "RepaymentStatus",
    "ScheduleVersion",
]
