"""lifestyle models: points ledger, rules and campaigns, merchants, benefits and vouchers, settlement,
referrals, activities, check-in, deposit balances, reconciliation reports."""

from lifestyle.models.benefits import (
    VOUCHER_ALPHABET,
    VOUCHER_CODE_LENGTH,
    Benefit,
    PayableLine,
    SettlementBatch,
    Voucher,
    VoucherTokenUse,
)
from lifestyle.models.common import FundingSource, SegmentFields, Topic
from lifestyle.models.community import (
    Activity,
    ActivitySignup,
    CardActivation,
    DailyCheckin,
    DeviceSighting,
    ReferralBinding,
)
from lifestyle.models.deposits import DepositDailyBalance, DepositMonthClose, DepositMonthlyBalance
from lifestyle.models.merchants import Merchant, ReviewTask
from lifestyle.models.points import (
    LedgerEntry,
    LedgerLeg,
    PointsAccount,
    PointsAllocation,
    PointsDebit,
    PointsLot,
    PointValueRate,
)
from lifestyle.models.reports import ReconciliationReport
from lifestyle.models.rules import Campaign, EarningRule

__all__ = [
    "VOUCHER_ALPHABET",
    "VOUCHER_CODE_LENGTH",
    "Activity",
    "ActivitySignup",
    "Benefit",
    "Campaign",
    "CardActivation",
    "DailyCheckin",
    "DepositDailyBalance",
    "DepositMonthClose",
    "DepositMonthlyBalance",
    "DeviceSighting",
    "EarningRule",
    "FundingSource",
    "LedgerEntry",
    "LedgerLeg",
    "Merchant",
    "PayableLine",
    "PointValueRate",
    "PointsAccount",
    "PointsAllocation",
    "PointsDebit",
    "PointsLot",
    "ReconciliationReport",
    "ReferralBinding",
    "ReviewTask",
    "SegmentFields",
    "SettlementBatch",
    "Topic",
    "Voucher",
    "VoucherTokenUse",
]
