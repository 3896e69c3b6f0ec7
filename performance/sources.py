"""Data sources of indicators: how a bus event becomes a metric (extractors), and the measure rules.

An indicator lists the extractors that feed it (``Indicator.sources``). Every extractor reads one topic of
docs/events.md and returns the metric (and for daily averages the base-period value) or ``None`` when the
event does not count for it. Extractors are a fixed catalogue: nothing from the database is executed.
"""

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from jikuai.core.money import to_decimal

NON_PERFORMING = {"substandard", "doubtful", "loss", "次级", "可疑", "损失"}

ONE = Decimal(1)
ZERO = Decimal(0)


@dataclass(frozen=True)
class Extracted:
    metric: Decimal
    base: Decimal = ZERO
    fact_date: dt.date | None = None
    subject_kind: str = ""
    subject_id: int | None = None
    source_key: str | None = None  # natural key replacing the event id (e.g. one participation per month)


@dataclass(frozen=True)
class Extractor:
    code: str
    topic: str
    label: str
    attribution: str  # customer | referrer | signer
    func: Callable[[dict], Extracted | None]


def _date(payload: dict, key: str = "business_date") -> dt.date | None:
    """The business date named in the payload, else the date the event was published (``_event_date``,
    added by the handler)."""
    value = payload.get(key) or payload.get("_event_date")
    if not value:
        return None
    return dt.date.fromisoformat(str(value)[:10])


def _amount(payload: dict, key: str) -> Decimal:
    """Events carry yuan strings and integer fen; fen is authoritative when present."""
    fen = payload.get(f"{key}_fen")
    if fen is not None:
        return Decimal(int(fen)) / 100
    return to_decimal(payload.get(key) or "0")


def _month_days(month: str) -> tuple[dt.date, int]:
    year, month_no = (int(part) for part in month.split("-")[:2])
    days = calendar.monthrange(year, month_no)[1]
    return dt.date(year, month_no, days), days


def _loan(payload, metric, *, date_key="business_date"):
    return Extracted(metric=metric, fact_date=_date(payload, date_key), subject_kind="loan", subject_id=payload.get("loan_id"))


def _deposit_daily_average(payload: dict) -> Extracted | None:
    """积数 (balance-days): daily average × days of the month; the period's daily average is Σ 积数 / days."""
    month_end, days = _month_days(payload["month"])
    current = _amount(payload, "daily_average")
    previous = (
        _amount(payload, "previous_daily_average")
        if payload.get("previous_daily_average") is not None or payload.get("previous_daily_average_fen") is not None
        else ZERO
    )
    return Extracted(
        metric=current * days,
        base=previous * days,
        fact_date=month_end,
        subject_kind="customer",
        subject_id=payload.get("customer_id"),
    )


def _points_participation(payload: dict) -> Extracted | None:
    day = _date(payload)
    return Extracted(
        metric=ONE,
        fact_date=day,
        subject_kind="customer",
        subject_id=payload.get("customer_id"),
        # one participation per customer per month, however many points events arrive
        source_key=f"pts:{payload.get('customer_id')}:{day:%Y-%m}" if day else None,
    )


EXTRACTORS: dict[str, Extractor] = {
    e.code: e
    for e in [
        Extractor(
            "disbursed_amount",
            "lending.loan_disbursed",
            "放款金额 amount disbursed",
            "customer",
            lambda p: _loan(p, _amount(p, "amount")),
        ),
        Extractor("disbursed_count", "lending.loan_disbursed", "放款笔数 loans disbursed", "customer", lambda p: _loan(p, ONE)),
        Extractor(
            "disbursed_balance",
            "lending.loan_disbursed",
            "放款后余额 balance at disbursement",
            "customer",
            lambda p: _loan(p, _amount(p, "amount")),
        ),
        Extractor(
            "first_drawdown_customer",
            "lending.loan_disbursed",
            "首次用信客户 new credit customer",
            "customer",
            lambda p: (
                Extracted(metric=ONE, fact_date=_date(p), subject_kind="customer", subject_id=p.get("customer_id"))
                if p.get("first_drawdown")
                else None
            ),
        ),
        Extractor(
            "credit_line_count",
            "lending.credit_line_activated",
            "授信激活 credit lines activated",
            "customer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="credit_line", subject_id=p.get("credit_line_id")),
        ),
        Extractor(
            "credit_line_limit",
            "lending.credit_line_activated",
            "激活授信额度 limit activated",
            "customer",
            lambda p: Extracted(
                metric=_amount(p, "limit"), fact_date=_date(p), subject_kind="credit_line", subject_id=p.get("credit_line_id")
            ),
        ),
        Extractor(
            "classified_balance",
            "lending.loan_classified",
            "分类时贷款余额 balance at classification",
            "customer",
            lambda p: _loan(p, _amount(p, "principal_outstanding")),
        ),
        Extractor(
            "classified_npl_balance",
            "lending.loan_classified",
            "不良贷款余额 non-performing balance",
            "customer",
            lambda p: _loan(p, _amount(p, "principal_outstanding") if p.get("new_class") in NON_PERFORMING else ZERO),
        ),
        Extractor(
            "overdue_principal",
            "lending.loan_overdue",
            "逾期本金 overdue principal",
            "customer",
            lambda p: _loan(p, _amount(p, "overdue_principal")),
        ),
        Extractor(
            "overdue_cleared",
            "lending.installment_paid",
            "还款后逾期清零 overdue cleared by payment",
            "customer",
            lambda p: _loan(p, ZERO, date_key="paid_date") if not p.get("on_time", True) else None,
        ),
        Extractor(
            "collection_recovered",
            "lending.installment_paid",
            "逾期回收 collection recovery",
            "customer",
            lambda p: _loan(p, _amount(p, "amount"), date_key="paid_date") if not p.get("on_time", True) else None,
        ),
        Extractor(
            "settled_zero", "lending.loan_settled", "结清（余额/逾期归零）settled: zero", "customer", lambda p: _loan(p, ZERO)
        ),
        Extractor(
            "customer_created",
            "customers.customer_created",
            "新增客户 new customer",
            "referrer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="customer", subject_id=p.get("customer_id")),
        ),
        Extractor(
            "card_activated",
            "lifestyle.card_activated",
            "社保卡激活 card activated",
            "customer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="customer", subject_id=p.get("customer_id")),
        ),
        Extractor(
            "merchant_signed",
            "lifestyle.merchant_signed",
            "签约商户 merchant signed",
            "signer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="merchant", subject_id=p.get("merchant_id")),
        ),
        Extractor(
            "referral_bound",
            "lifestyle.referral_bound",
            "推荐绑定 referral bound",
            "referrer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="customer", subject_id=p.get("customer_id")),
        ),
        Extractor(
            "referral_qualified",
            "lifestyle.referral_qualified",
            "推荐达标 referral qualified",
            "referrer",
            lambda p: Extracted(metric=ONE, fact_date=_date(p), subject_kind="customer", subject_id=p.get("customer_id")),
        ),
        Extractor(
            "points_participation",
            "lifestyle.points_earned",
            "积分活动参与 points campaign participation",
            "customer",
            _points_participation,
        ),
        Extractor(
            "deposit_daily_average",
            "lifestyle.deposit_month_closed",
            "存款日均积数 deposit balance-days",
            "customer",
            _deposit_daily_average,
        ),
    ]
}

EXTRACTOR_CHOICES = [(code, f"{e.topic} → {e.label}") for code, e in EXTRACTORS.items()]
TOPICS = sorted({e.topic for e in EXTRACTORS.values()})


def extractors_for(topic: str) -> list[Extractor]:
    return [e for e in EXTRACTORS.values() if e.topic == topic]
