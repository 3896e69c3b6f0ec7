"""The loan engine: one loan's state in memory, the daily close step and repayment allocation.

No database here. The nightly close, live repayments and the replay after a reversal or a back-dated
transaction all drive the same ``LoanBook`` methods, which is what makes a replay exact: the state
of a loan is a function of (its original schedule, its transactions ordered by value date, approved
manual classes, the last closed business date).

Day conventions (算头不算尾): interest of a period covers its start date up to the day before its due
date; the close of business date D accrues day D on the balances at the end of D (after the day's
repayments and auto-collection). An installment unpaid at the end of its due date d is overdue from
d + 1 (after the grace days): the close of D computes DPD as of the next business date D + 1, so DPD
equals the number of penalty days charged (30 days overdue on 8,333.33 at 6 % × 1.5 → 62.50).

Every money effect is recorded as (posting kind, account, amount) with debits positive; the loan's
mirror balances are updated with it, and the caller writes the postings.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from lending import schedule as sched

FEN = Decimal("0.01")
Q10 = Decimal("1e-10")
ZERO = Decimal("0.00")
ONE_DAY = dt.timedelta(days=1)

# accounts (lending.models.ledger.AccountCode values)
PRINCIPAL = "principal_receivable"
INTEREST_REC = "interest_receivable"
PENALTY_REC = "penalty_receivable"
COMPOUND_REC = "compound_receivable"
INTEREST_INC = "interest_income"
PENALTY_INC = "penalty_income"
COMPOUND_INC = "compound_income"
OFF_BALANCE = "off_balance_interest"
OFF_CONTRA = "off_balance_contra"
CLEARING = "clearing"
SUSPENSE = "suspense"
WRITEOFF = "writeoff_loss"

# account → Loan field holding the loan's share of it
ACCOUNT_FIELDS = {
    PRINCIPAL: "principal_outstanding",
    INTEREST_REC: "interest_receivable",
    PENALTY_REC: "penalty_receivable",
    COMPOUND_REC: "compound_receivable",
    OFF_BALANCE: "off_balance_interest",
    OFF_CONTRA: "off_balance_contra",
    INTEREST_INC: "interest_income",
    PENALTY_INC: "penalty_income",
    COMPOUND_INC: "compound_income",
    CLEARING: "clearing",
    SUSPENSE: "suspense",
    WRITEOFF: "writeoff_loss",
}
ACCOUNTS = tuple(ACCOUNT_FIELDS)

# posting kinds (lending.models.ledger.PostingKind values)
K_DISBURSEMENT = "disbursement"
K_REPAYMENT = "repayment"
K_ACCRUAL = "accrual"
K_PENALTY = "penalty"
K_CLASSIFICATION = "classification"
K_WRITE_OFF = "write_off"

# loan states
ACTIVE = "active"
OVERDUE = "overdue"
SETTLED = "settled"
WRITTEN_OFF = "written_off"
OPEN_STATES = (ACTIVE, OVERDUE)

# installment statuses
PENDING = "pending"
IS_OVERDUE = "overdue"
PAID = "paid"

# classes, best to worst
NORMAL = "normal"
SPECIAL_MENTION = "special_mention"
SUBSTANDARD = "substandard"
DOUBTFUL = "doubtful"
LOSS = "loss"
CLASS_ORDER = (NORMAL, SPECIAL_MENTION, SUBSTANDARD, DOUBTFUL, LOSS)
RANK = {name: index for index, name in enumerate(CLASS_ORDER)}
NPL_CLASSES = frozenset({SUBSTANDARD, DOUBTFUL, LOSS})

# buckets
B_COMPOUND = "compound"
B_PENALTY = "penalty"
B_OVERDUE_INTEREST = "overdue_interest"
B_OVERDUE_PRINCIPAL = "overdue_principal"
B_CURRENT_INTEREST = "current_interest"
B_CURRENT_PRINCIPAL = "current_principal"
B_PREPAYMENT = "prepayment"
DUE_BUCKETS = (B_COMPOUND, B_PENALTY, B_OVERDUE_INTEREST, B_OVERDUE_PRINCIPAL, B_CURRENT_INTEREST, B_CURRENT_PRINCIPAL)

# close-of-day steps on one loan, in their default order (configurable)
STEP_OVERDUE = "overdue"
STEP_PENALTY = "penalty"
STEP_ACCRUAL = "accrual"
STEP_CLASSIFY = "classify"
DEFAULT_LOAN_STEPS = (STEP_OVERDUE, STEP_PENALTY, STEP_ACCRUAL, STEP_CLASSIFY)


def q(value: Decimal) -> Decimal:
    return value.quantize(FEN, ROUND_HALF_UP)


def worse(a: str, b: str) -> str:
    return a if RANK[a] >= RANK[b] else b


class EngineError(Exception):
    """A refused operation; ``code`` and the bilingual message go to ApplicationError in services."""

    def __init__(self, code: str, message_zh: str, message_en: str, **extra):
        super().__init__(message_zh)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.extra = extra


@dataclass(slots=True)
class Inst:
    number: int
    start_date: dt.date
    due_date: dt.date
    principal: Decimal
    interest: Decimal
    paid_principal: Decimal = ZERO
    paid_interest: Decimal = ZERO
    status: str = PENDING
    paid_on: dt.date | None = None
    overdue_on: dt.date | None = None
    id: int | None = None
    changed: bool = False

    @property
    def unpaid_principal(self) -> Decimal:
        return self.principal - self.paid_principal

    @property
    def unpaid_interest(self) -> Decimal:
        return self.interest - self.paid_interest

    def accrued_through(self, day: dt.date) -> Decimal:
        """Contract interest of this period accrued up to and including ``day`` (spread evenly)."""
        if day < self.start_date:
            return ZERO
        if day >= self.due_date - ONE_DAY:
            return self.interest
        days = (self.due_date - self.start_date).days
        return q(self.interest * ((day - self.start_date).days + 1) / days)

    def shape(self) -> tuple:
        return (self.number, self.start_date, self.due_date, self.principal, self.interest)


@dataclass(slots=True)
class Terms:
    method: str
    principal: Decimal
    annual_rate: Decimal
    day_basis: int
    value_date: dt.date
    maturity_date: dt.date
    penalty_markup: Decimal
    grace_days: int
    allocation_order: tuple
    npl_allocation_order: tuple
    npl_principal_first: bool
    overpayment_policy: str
    quarterly_interest: bool
    default_prepayment_option: str = sched.PrepaymentOption.REDUCE_PAYMENT
    reminder_days: int = 3
    penalty_annual_rate: Decimal = field(init=False)

    def __post_init__(self):
        # the penalty rate replaces the contract rate on overdue amounts: r × (1 + markup), exact
        self.penalty_annual_rate = self.annual_rate * (1 + self.penalty_markup)

    def penalty_for(self, amount: Decimal, days: int = 1) -> Decimal:
        """Penalty (or compound) interest on ``amount`` for ``days`` days, at 10 decimals."""
        return (amount * self.penalty_annual_rate * days / self.day_basis).quantize(Q10)


class Classifier:
    """DPD floor from effective-dated tables, plus the restructured floor during its observation."""

    def __init__(self, tables: list[tuple[dt.date, list[tuple[int, int | None, str]]]], observation_months: int = 12):
        self.tables = sorted(tables, key=lambda item: item[0], reverse=True)
        self.observation_months = max(12, observation_months)
        self._by_day: dict[dt.date, list] = {}

    def bands_for(self, day: dt.date):
        bands = self._by_day.get(day)
        if bands is None:
            bands = next((b for start, b in self.tables if start <= day), None) or (self.tables[-1][1] if self.tables else [])
            self._by_day[day] = bands
        return bands

    def floor(self, dpd: int, day: dt.date, restructured_on: dt.date | None = None) -> str:
        result = NORMAL
        for low, high, loan_class in self.bands_for(day):
            if dpd >= low and (high is None or dpd <= high):
                result = loan_class
                break
        if restructured_on is not None and day < sched.add_months(restructured_on, self.observation_months):
            result = worse(result, SUBSTANDARD)
        return result


DEFAULT_TABLES = [
    (
        dt.date(2023, 7, 1),
        [(0, 0, NORMAL), (1, 90, SPECIAL_MENTION), (91, 270, SUBSTANDARD), (271, 360, DOUBTFUL), (361, None, LOSS)],
    ),
    (
        dt.date(2007, 1, 1),
        [(0, 0, NORMAL), (1, 90, SPECIAL_MENTION), (91, 180, SUBSTANDARD), (181, 360, DOUBTFUL), (361, None, LOSS)],
    ),
]


@dataclass(slots=True)
class Allocation:
    parts: dict
    prepaid_principal: Decimal = ZERO
    interest_to_date: Decimal = ZERO
    option: str = ""
    suspense: Decimal = ZERO
    schedule_changed: bool = False
    settled: bool = False

    def as_json(self) -> dict:
        data = {name: f"{value:.2f}" for name, value in self.parts.items() if value}
        if self.interest_to_date:
            data["interest_to_date"] = f"{self.interest_to_date:.2f}"
        if self.prepaid_principal:
            data["prepaid_principal"] = f"{self.prepaid_principal:.2f}"
            data["option"] = self.option
        if self.suspense:
            data["suspense"] = f"{self.suspense:.2f}"
        return data


class LoanBook:
    """One loan's state and the operations that change it."""

    __slots__ = (
        "balances",
        "classifier",
        "compound_accrued",
        "compound_paid",
        "compound_posted",
        "dpd",
        "effects",
        "events",
        "floor_class",
        "installments",
        "last_closed",
        "level_payment",
        "level_principal",
        "loan_class",
        "manual_class",
        "off_balance",
        "overdue_since",
        "paid_to_date",
        "penalty_accrued",
        "penalty_paid",
        "penalty_posted",
        "restructured_on",
        "schedule_version",
        "settled_on",
        "state",
        "steps",
        "terms",
    )

    def __init__(self, terms: Terms, classifier: Classifier, installments: list[Inst], *, steps=DEFAULT_LOAN_STEPS):
        self.terms = terms
        self.classifier = classifier
        self.installments = installments
        self.steps = steps
        self.balances = dict.fromkeys(ACCOUNTS, ZERO)
        self.state = ACTIVE
        self.schedule_version = 1
        self.dpd = 0
        self.overdue_since = None
        self.loan_class = NORMAL
        self.floor_class = NORMAL
        self.manual_class = ""
        self.restructured_on = None
        self.off_balance = False
        self.last_closed = None
        self.settled_on = None
        self.penalty_accrued = Decimal(0)
        self.penalty_posted = ZERO
        self.penalty_paid = ZERO
        self.compound_accrued = Decimal(0)
        self.compound_posted = ZERO
        self.compound_paid = ZERO
        self.paid_to_date = ZERO
        self.level_payment = ZERO
        self.level_principal = ZERO
        self.effects: list[tuple[str, str, Decimal]] = []
        self.events: list[tuple[str, dict]] = []

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def originate(cls, terms: Terms, classifier: Classifier, periods: list[sched.Period], *, steps=DEFAULT_LOAN_STEPS):
        """A freshly disbursed loan: principal receivable against the clearing account."""
        book = cls(
            terms, classifier, [Inst(p.number, p.start_date, p.due_date, p.principal, p.interest) for p in periods], steps=steps
        )
        book.last_closed = terms.value_date - ONE_DAY
        book.level_payment, book.level_principal = level_amounts(terms.method, terms.annual_rate, terms.principal, len(periods))
        book._post(K_DISBURSEMENT, PRINCIPAL, CLEARING, terms.principal)
        return book

    # --- ledger -----------------------------------------------------------------------------------

    def _post(self, kind: str, debit: str, credit: str, amount: Decimal) -> None:
        if not amount:
            return
        balances = self.balances
        balances[debit] += amount
        balances[credit] -= amount
        self.effects.append((kind, debit, amount))
        self.effects.append((kind, credit, -amount))

    def _receivable(self, on_account: str) -> str:
        return OFF_BALANCE if self.off_balance else on_account

    def _income(self, on_account: str) -> str:
        return OFF_CONTRA if self.off_balance else on_account

    def _collect(self, kind: str, receivable: str, income: str, amount: Decimal) -> None:
        """Money received against an owed amount: on-balance it clears the receivable; off-balance
        (non-performing) it is income on a cash basis and the memo entry is released."""
        if not amount:
            return
        if self.off_balance:
            self._post(kind, CLEARING, income, amount)
            self._post(kind, OFF_CONTRA, OFF_BALANCE, amount)
        else:
            self._post(kind, CLEARING, receivable, amount)

    # --- derived figures --------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def penalty_owed(self) -> Decimal:
        return self.penalty_posted - self.penalty_paid

    @property
    def compound_owed(self) -> Decimal:
        return self.compound_posted - self.compound_paid

    @property
    def principal_outstanding(self) -> Decimal:
        return self.balances[PRINCIPAL]

    def overdue_amounts(self) -> tuple[Decimal, Decimal]:
        principal = interest = ZERO
        for inst in self.installments:
            if inst.status == IS_OVERDUE:
                principal += inst.principal - inst.paid_principal
                interest += inst.interest - inst.paid_interest
        return principal, interest

    def buckets(self, day: dt.date) -> dict[str, Decimal]:
        """What is owed on ``day`` by allocation bucket (excluding prepayment)."""
        result = dict.fromkeys(DUE_BUCKETS, ZERO)
        result[B_COMPOUND] = self.compound_owed
        result[B_PENALTY] = self.penalty_owed
        for inst in self.installments:
            if inst.status == IS_OVERDUE:
                result[B_OVERDUE_INTEREST] += inst.interest - inst.paid_interest
                result[B_OVERDUE_PRINCIPAL] += inst.principal - inst.paid_principal
            elif inst.status == PENDING and inst.due_date <= day:
                result[B_CURRENT_INTEREST] += inst.interest - inst.paid_interest
                result[B_CURRENT_PRINCIPAL] += inst.principal - inst.paid_principal
        return result

    def amount_due(self, day: dt.date) -> Decimal:
        return sum(self.buckets(day).values(), ZERO)

    def running_period(self, day: dt.date) -> tuple[Inst | None, list[Inst], Decimal]:
        """(running installment, installments not yet due, principal not yet due) on ``day``."""
        future = [inst for inst in self.installments if inst.status == PENDING and inst.due_date > day]
        balance = sum((inst.principal - inst.paid_principal for inst in future), ZERO)
        running = future[0] if future and future[0].start_date <= day else None
        return running, future, balance

    def interest_to_date(self, day: dt.date) -> tuple[Decimal, Decimal]:
        """(interest from the running period's start to ``day`` at actual days × daily rate, the part
        already accrued by the closes up to ``day`` − 1)."""
        running, _future, balance = self.running_period(day)
        if running is None or running.start_date >= day:
            return ZERO, ZERO
        charged = q(balance * self.terms.annual_rate * (day - running.start_date).days / self.terms.day_basis)
        return charged, running.accrued_through(day - ONE_DAY)

    def payoff(self, day: dt.date) -> Decimal:
        """Amount that settles the loan on ``day`` (结清金额)."""
        _running, _future, balance = self.running_period(day)
        return self.amount_due(day) + self.interest_to_date(day)[0] + balance

    # --- the close of one business day -------------------------------------------------------------

    def close_day(self, day: dt.date) -> None:
        if self.state in OPEN_STATES:
            for step in self.steps:
                if step == STEP_OVERDUE:
                    self._mark_overdue(day)
                elif step == STEP_PENALTY:
                    self._accrue_penalty(day)
                elif step == STEP_ACCRUAL:
                    self._accrue_interest(day)
                elif step == STEP_CLASSIFY:
                    self._classify(day)
            self._due_reminders(day)
            self.last_closed = day

    def _mark_overdue(self, day: dt.date) -> None:
        tomorrow = day + ONE_DAY
        grace = self.terms.grace_days
        for inst in self.installments:
            if inst.status == PENDING and inst.due_date <= day and (tomorrow - inst.due_date).days > grace:
                inst.status = IS_OVERDUE
                inst.overdue_on = tomorrow
                inst.changed = True
                if grace:
                    # grace expired unpaid: the penalty runs from the due date (catch up the grace days)
                    days = (day - inst.due_date).days
                    self.penalty_accrued += self.terms.penalty_for(inst.unpaid_principal, days)
                    self.compound_accrued += self.terms.penalty_for(inst.unpaid_interest, days)
        self._refresh_overdue(tomorrow, day)

    def _refresh_overdue(self, as_of: dt.date, event_day: dt.date) -> None:
        oldest = next((inst for inst in self.installments if inst.status == IS_OVERDUE), None)
        if oldest is None:
            self.dpd = 0
            self.overdue_since = None
            if self.state == OVERDUE:
                self.state = ACTIVE
            return
        self.dpd = (as_of - oldest.due_date).days
        self.overdue_since = oldest.due_date
        if self.state == ACTIVE:
            self.state = OVERDUE
            principal, _interest = self.overdue_amounts()
            self.events.append(
                ("lending.loan_overdue", {"dpd": self.dpd, "overdue_principal": principal, "business_date": event_day})
            )

    def _accrue_penalty(self, day: dt.date) -> None:
        principal, interest = self.overdue_amounts()
        if principal:
            self.penalty_accrued += self.terms.penalty_for(principal)
        if interest:
            self.compound_accrued += self.terms.penalty_for(interest)
        self._post_penalty()

    def _post_penalty(self) -> None:
        delta = q(self.penalty_accrued) - self.penalty_posted
        if delta:
            self._post(K_PENALTY, self._receivable(PENALTY_REC), self._income(PENALTY_INC), delta)
            self.penalty_posted += delta
        delta = q(self.compound_accrued) - self.compound_posted
        if delta:
            self._post(K_PENALTY, self._receivable(COMPOUND_REC), self._income(COMPOUND_INC), delta)
            self.compound_posted += delta

    def _accrue_interest(self, day: dt.date) -> None:
        for inst in self.installments:
            if inst.start_date <= day < inst.due_date and inst.status == PENDING:
                delta = inst.accrued_through(day) - inst.accrued_through(day - ONE_DAY)
                if delta:
                    self._post(K_ACCRUAL, self._receivable(INTEREST_REC), self._income(INTEREST_INC), delta)
                return

    def _classify(self, day: dt.date) -> None:
        self.floor_class = self.classifier.floor(self.dpd, day, self.restructured_on)
        self._set_class(worse(self.floor_class, self.manual_class or NORMAL), day)

    def _set_class(self, new_class: str, day: dt.date) -> None:
        old = self.loan_class
        if new_class == old:
            return
        self.loan_class = new_class
        self.events.append(
            (
                "lending.loan_classified",
                {
                    "old_class": old,
                    "new_class": new_class,
                    "dpd": self.dpd,
                    "business_date": day,
                    "principal_outstanding": self.balances[PRINCIPAL],
                },
            )
        )
        self._move_accrual_basis(new_class in NPL_CLASSES)

    def _move_accrual_basis(self, off: bool) -> None:
        """Non-performing loans keep their interest, penalty and compound receivable off-balance (表外)."""
        if off == self.off_balance:
            return
        balances = self.balances
        if off:
            for receivable, income in ((INTEREST_REC, INTEREST_INC), (PENALTY_REC, PENALTY_INC), (COMPOUND_REC, COMPOUND_INC)):
                amount = balances[receivable]
                if amount:
                    self._post(K_CLASSIFICATION, income, receivable, amount)
                    self._post(K_CLASSIFICATION, OFF_BALANCE, OFF_CONTRA, amount)
        else:
            penalty, compound = self.penalty_owed, self.compound_owed
            interest = balances[OFF_BALANCE] - penalty - compound
            for receivable, income, amount in (
                (INTEREST_REC, INTEREST_INC, interest),
                (PENALTY_REC, PENALTY_INC, penalty),
                (COMPOUND_REC, COMPOUND_INC, compound),
            ):
                if amount:
                    self._post(K_CLASSIFICATION, OFF_CONTRA, OFF_BALANCE, amount)
                    self._post(K_CLASSIFICATION, receivable, income, amount)
        self.off_balance = off

    def _due_reminders(self, day: dt.date) -> None:
        if not self.terms.reminder_days:
            return
        target = day + dt.timedelta(days=self.terms.reminder_days)
        for inst in self.installments:
            if inst.due_date == target and inst.status == PENDING:
                self.events.append(
                    (
                        "lending.installment_due",
                        {
                            "installment_number": inst.number,
                            "due_date": inst.due_date,
                            "amount_due": inst.principal + inst.interest - inst.paid_principal - inst.paid_interest,
                        },
                    )
                )

    # --- manual class and restructuring -------------------------------------------------------------

    def apply_manual_class(self, day: dt.date, requested: str) -> None:
        self.manual_class = requested or ""
        self._set_class(worse(self.floor_class, self.manual_class or NORMAL), day)

    def apply_restructure(self, day: dt.date) -> None:
        self.restructured_on = day
        self.floor_class = worse(self.floor_class, SUBSTANDARD)
        self._set_class(worse(self.floor_class, self.manual_class or NORMAL), day)

    # --- repayments -------------------------------------------------------------------------------

    def _order(self) -> tuple:
        if self.terms.npl_principal_first and self.loan_class in NPL_CLASSES:
            return self.terms.npl_allocation_order
        return self.terms.allocation_order

    def apply_repayment(
        self, day: dt.date, amount: Decimal, *, kind: str = "regular", option: str = "", strict: bool = True
    ) -> Allocation:
        """Allocate ``amount`` received on ``day``. ``strict`` (live operations) refuses what cannot be
        allocated and changes nothing; a replay (not strict) parks it in suspense instead."""
        if amount <= 0 or amount != q(amount):
            raise EngineError(
                "invalid_amount", "还款金额必须大于0，且最多两位小数。", "amount must be positive with at most two decimals"
            )
        if not self.is_open:
            if strict:
                raise EngineError("loan_not_open", "贷款已结清或核销，不能还款。", "the loan is settled or written off")
            self._post("repayment", CLEARING, SUSPENSE, amount)
            self.paid_to_date += amount
            return Allocation(parts={}, suspense=amount)
        buckets = self.buckets(day)
        due_total = sum(buckets.values(), ZERO)
        plan: list[tuple[str, Decimal]] = []
        remaining = amount
        for bucket in self._order():
            if bucket == B_PREPAYMENT or not remaining:
                continue
            take = min(remaining, buckets.get(bucket, ZERO))
            if take > 0:
                plan.append((bucket, take))
                remaining -= take
        prepay = remaining
        option = option or ""
        suspense = ZERO
        itd = accrued = principal_part = ZERO
        running = None
        future: list[Inst] = []
        if prepay > 0:
            wants_prepay = kind == "prepayment" or self.terms.overpayment_policy == "prepay"
            if not wants_prepay:
                if strict:
                    raise EngineError(
                        "overpayment",
                        f"还款金额超过当前应还金额 {due_total:.2f} 元；如需提前还款请使用提前还款。",
                        f"amount exceeds the {due_total:.2f} due; use a prepayment instead",
                        due=str(due_total),
                    )
                suspense, prepay = prepay, ZERO
            else:
                option = option if kind == "prepayment" else self.terms.default_prepayment_option
                running, future, balance = self.running_period(day)
                itd, accrued = self.interest_to_date(day)
                principal_part = prepay - itd
                if balance <= 0 or principal_part <= 0:
                    if strict:
                        raise EngineError(
                            "prepayment_too_small",
                            f"提前还款金额不足：需先结清应还 {due_total:.2f} 元及至今利息 {itd:.2f} 元。",
                            f"a prepayment must first cover {due_total:.2f} due and {itd:.2f} interest to date",
                        )
                    suspense, prepay, itd, principal_part = prepay, ZERO, ZERO, ZERO
                elif principal_part > balance:
                    if strict:
                        payoff = due_total + itd + balance
                        raise EngineError(
                            "above_payoff",
                            f"还款金额超过结清金额 {payoff:.2f} 元。",
                            f"amount exceeds the payoff amount {payoff:.2f}",
                            payoff=str(payoff),
                        )
                    suspense = principal_part - balance
                    principal_part = balance
                if principal_part and principal_part < balance:
                    if option not in sched.PrepaymentOption.ALL:
                        if strict:
                            raise EngineError("invalid_option", "请选择缩期或减额。", "choose shorten_term or reduce_payment")
                        option = self.terms.default_prepayment_option
                    if option == sched.PrepaymentOption.SHORTEN_TERM and self.terms.method in (
                        sched.Method.INTEREST_ONLY,
                        sched.Method.BULLET,
                    ):
                        if strict:
                            raise EngineError(
                                "shorten_not_supported",
                                "该还款方式到期一次还本，不支持缩期，请选择减额。",
                                "this method repays principal at maturity; choose reduce_payment",
                            )
                        option = sched.PrepaymentOption.REDUCE_PAYMENT
        elif kind == "prepayment" and strict:
            raise EngineError(
                "prepayment_too_small",
                f"提前还款金额不足：需先结清应还 {due_total:.2f} 元。",
                f"a prepayment must first cover the {due_total:.2f} due",
            )

        # --- apply (nothing above changed the state) ---
        parts: dict[str, Decimal] = {}
        paid_now: list[Inst] = []
        for bucket, take in plan:
            parts[bucket] = take
            self._apply_bucket(bucket, take, day, paid_now)
        allocation = Allocation(parts=parts, option=option if principal_part else "")
        if principal_part:
            allocation.interest_to_date = itd
            allocation.prepaid_principal = principal_part
            adjustment = itd - accrued
            if adjustment:
                self._post(K_REPAYMENT, self._receivable(INTEREST_REC), self._income(INTEREST_INC), adjustment)
            self._collect(K_REPAYMENT, INTEREST_REC, INTEREST_INC, itd)
            self._post(K_REPAYMENT, CLEARING, PRINCIPAL, principal_part)
            self._reamortise(day, running, future, principal_part, option)
            allocation.schedule_changed = True
        if suspense:
            self._post(K_REPAYMENT, CLEARING, SUSPENSE, suspense)
            allocation.suspense = suspense
        self.paid_to_date += amount
        for inst in paid_now:
            self.events.append(
                (
                    "lending.installment_paid",
                    {
                        "installment_number": inst.number,
                        "due_date": inst.due_date,
                        "paid_date": day,
                        "on_time": (day - inst.due_date).days <= self.terms.grace_days,
                        "amount": inst.principal + inst.interest,
                    },
                )
            )
        self._refresh_overdue(day, day)
        if self._nothing_owed():
            self.state = SETTLED
            self.settled_on = day
            allocation.settled = True
            self.events.append(("lending.loan_settled", {"business_date": day}))
        return allocation

    def _nothing_owed(self) -> bool:
        balances = self.balances
        return (
            balances[PRINCIPAL] == 0
            and balances[INTEREST_REC] == 0
            and balances[PENALTY_REC] == 0
            and balances[COMPOUND_REC] == 0
            and balances[OFF_BALANCE] == 0
            and not any(inst.status != PAID for inst in self.installments)
        )

    def _apply_bucket(self, bucket: str, amount: Decimal, day: dt.date, paid_now: list) -> None:
        if bucket == B_COMPOUND:
            self.compound_paid += amount
            self._collect(K_REPAYMENT, COMPOUND_REC, COMPOUND_INC, amount)
            return
        if bucket == B_PENALTY:
            self.penalty_paid += amount
            self._collect(K_REPAYMENT, PENALTY_REC, PENALTY_INC, amount)
            return
        overdue = bucket in (B_OVERDUE_INTEREST, B_OVERDUE_PRINCIPAL)
        interest = bucket in (B_OVERDUE_INTEREST, B_CURRENT_INTEREST)
        remaining = amount
        for inst in self.installments:
            if not remaining:
                break
            if overdue and inst.status != IS_OVERDUE:
                continue
            if not overdue and not (inst.status == PENDING and inst.due_date <= day):
                continue
            owed = inst.interest - inst.paid_interest if interest else inst.principal - inst.paid_principal
            take = min(owed, remaining)
            if take <= 0:
                continue
            if interest:
                inst.paid_interest += take
            else:
                inst.paid_principal += take
            remaining -= take
            inst.changed = True
            if inst.paid_interest == inst.interest and inst.paid_principal == inst.principal:
                inst.status = PAID
                inst.paid_on = day
                paid_now.append(inst)
        if interest:
            self._collect(K_REPAYMENT, INTEREST_REC, INTEREST_INC, amount)
        else:
            self._post(K_REPAYMENT, CLEARING, PRINCIPAL, amount)

    def _reamortise(self, day: dt.date, running: Inst | None, future: list[Inst], principal_part: Decimal, option: str) -> None:
        balance = sum((inst.principal - inst.paid_principal for inst in future), ZERO) - principal_part
        kept = [inst for inst in self.installments if inst not in future]
        if balance <= 0:
            periods = []
        else:
            first = future[0]
            terms = self.terms
            periods = sched.reamortise(
                method=terms.method,
                balance=balance,
                annual_rate=terms.annual_rate,
                from_date=day,
                period_start=first.start_date if running is not None else day,
                remaining_due_dates=[inst.due_date for inst in future],
                first_number=first.number,
                option=option,
                day_basis=terms.day_basis,
                current_payment=self.level_payment,
                current_principal_per_period=self.level_principal,
                quarterly_interest=terms.quarterly_interest,
            )
            if option == sched.PrepaymentOption.REDUCE_PAYMENT:
                self.level_payment, self.level_principal = level_amounts(terms.method, terms.annual_rate, balance, len(periods))
        for inst in kept:
            inst.changed = True
        self.installments = kept + [
            Inst(p.number, p.start_date, p.due_date, p.principal, p.interest, changed=True) for p in periods
        ]
        self.schedule_version += 1

    def write_off(self, day: dt.date) -> None:
        if not self.is_open:
            raise EngineError("loan_not_open", "只有未结清贷款可以核销。", "only open loans can be written off")
        for account in (PRINCIPAL, INTEREST_REC, PENALTY_REC, COMPOUND_REC):
            self._post(K_WRITE_OFF, WRITEOFF, account, self.balances[account])
        self.off_balance = True
        self.state = WRITTEN_OFF

    # --- snapshots for comparisons --------------------------------------------------------------

    def snapshot(self) -> dict:
        """Everything that defines the loan's state (for replay equality checks and tests)."""
        return {
            "state": self.state,
            "dpd": self.dpd,
            "overdue_since": self.overdue_since,
            "loan_class": self.loan_class,
            "floor_class": self.floor_class,
            "manual_class": self.manual_class,
            "off_balance": self.off_balance,
            "last_closed": self.last_closed,
            "settled_on": self.settled_on,
            "penalty_accrued": self.penalty_accrued,
            "penalty_posted": self.penalty_posted,
            "penalty_paid": self.penalty_paid,
            "compound_accrued": self.compound_accrued,
            "compound_posted": self.compound_posted,
            "compound_paid": self.compound_paid,
            "paid_to_date": self.paid_to_date,
            "balances": dict(self.balances),
            "installments": [
                (
                    i.number,
                    i.start_date,
                    i.due_date,
                    i.principal,
                    i.interest,
                    i.paid_principal,
                    i.paid_interest,
                    i.status,
                    i.paid_on,
                )
                for i in self.installments
            ],
        }


def level_amounts(method: str, annual_rate: Decimal, balance: Decimal, periods: int) -> tuple[Decimal, Decimal]:
    """(level installment of 等额本息, level principal of 等额本金) for ``balance`` over ``periods`` months;
    缩期 keeps these after a prepayment, 减额 recomputes them."""
    if periods <= 0 or balance <= 0:
        return ZERO, ZERO
    if method == sched.Method.EQUAL_INSTALLMENT:
        return sched.annuity_for_rate(balance, annual_rate, periods), ZERO
    if method == sched.Method.EQUAL_PRINCIPAL:
        return ZERO, q(balance / periods)
    return ZERO, ZERO


@dataclass(slots=True)
class Txn:
    """An entry of a loan's timeline for replay."""

    value_date: dt.date
    order: tuple
    kind: str  # "repayment" | "prepayment" | "manual_class" | "restructure"
    amount: Decimal = ZERO
    option: str = ""
    loan_class: str = ""
    ref: int | None = None


def replay(
    terms: Terms,
    classifier: Classifier,
    periods: list[sched.Period],
    timeline: list[Txn],
    *,
    through: dt.date,
    steps=DEFAULT_LOAN_STEPS,
) -> tuple[LoanBook, dict[int, tuple[Allocation, list]]]:
    """Recompute a loan from its origin: each day applies that day's transactions, then closes the day,
    up to ``through``; transactions dated ``through`` + 1 (today, not closed yet) are applied last.

    Returns the book and, per repayment ref, its allocation and the ledger effects it caused."""
    book = LoanBook.originate(terms, classifier, periods, steps=steps)
    results: dict[int, tuple[Allocation, list]] = {}
    ordered = sorted(timeline, key=lambda t: (t.value_date, t.order))
    index = 0
    day = terms.value_date
    end = through + ONE_DAY
    while day <= end:
        while index < len(ordered) and ordered[index].value_date <= day:
            txn = ordered[index]
            index += 1
            if txn.kind in ("repayment", "prepayment"):
                start = len(book.effects)
                allocation = book.apply_repayment(
                    day, txn.amount, kind="prepayment" if txn.kind == "prepayment" else "regular", option=txn.option, strict=False
                )
                results[txn.ref] = (allocation, book.effects[start:])
            elif txn.kind == "manual_class":
                book.apply_manual_class(day, txn.loan_class)
            elif txn.kind == "restructure":
                book.apply_restructure(day)
        if day == end:
            break
        book.close_day(day)
        if book.state in (SETTLED, WRITTEN_OFF) and index >= len(ordered):
            break
        day += ONE_DAY
    return book, results
