"""Ledger reconciliation (对账): Σ legs = 0 per posting, account balances = Σ legs, loan running
balances = the loan's ledger legs, principal outstanding = unpaid scheduled principal.

``reconcile_ledger()`` checks everything (the management command); the nightly close calls it with
``business_date`` to limit the per-loan checks to loans with single-loan postings that day plus a
random sample (the account and posting checks are always complete).
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from lending import engine

FEN = Decimal("0.01")

# loan-level accounts: every leg on them carries the loan id
PER_LOAN_ACCOUNTS = (
    engine.PRINCIPAL,
    engine.INTEREST_REC,
    engine.PENALTY_REC,
    engine.COMPOUND_REC,
    engine.OFF_BALANCE,
    engine.CLEARING,
    engine.SUSPENSE,
    engine.WRITEOFF,
)
# accounts whose nightly legs are aggregated per chunk: checked per institution (Σ loans = account)
AGGREGATED_ACCOUNTS = (engine.INTEREST_INC, engine.PENALTY_INC, engine.COMPOUND_INC, engine.OFF_CONTRA)


@dataclass
class ReconciliationReport:
    unbalanced_postings: list = field(default_factory=list)
    postings_without_legs: list = field(default_factory=list)
    account_mismatches: list = field(default_factory=list)
    loan_mismatches: list = field(default_factory=list)
    institution_mismatches: list = field(default_factory=list)
    schedule_mismatches: list = field(default_factory=list)
    loans_checked: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced_postings
            or self.postings_without_legs
            or self.account_mismatches
            or self.loan_mismatches
            or self.institution_mismatches
            or self.schedule_mismatches
        )

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "unbalanced_postings": self.unbalanced_postings[:50],
            "postings_without_legs": self.postings_without_legs[:50],
            "account_mismatches": self.account_mismatches[:50],
            "loan_mismatches": self.loan_mismatches[:50],
            "institution_mismatches": self.institution_mismatches[:50],
            "schedule_mismatches": self.schedule_mismatches[:50],
            "loans_checked": self.loans_checked,
        }


def _d(value) -> Decimal:
    """Exact on PostgreSQL (numeric); SQLite sums come back as floats and are rounded to the fen."""
    return value.quantize(FEN) if isinstance(value, Decimal) else Decimal(str(round(float(value or 0), 2))).quantize(FEN)


def _rows(sql: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def reconcile_ledger(
    *, institution_id: int | None = None, business_date: dt.date | None = None, sample: int = 1000, loan_ids=None
) -> ReconciliationReport:
    report = ReconciliationReport()
    inst = " AND p.institution_id = %s" if institution_id else ""
    inst_params = [institution_id] if institution_id else []
    report.unbalanced_postings = [
        {"posting": pid, "sum": str(total), "legs": n}
        for pid, total, n in _rows(
            "SELECT l.posting_id, SUM(l.amount), COUNT(*) FROM lending_postingleg l "  # noqa: S608 (identifiers from code, values bound)
            "JOIN lending_posting p ON p.id = l.posting_id WHERE 1=1" + inst + " GROUP BY l.posting_id "
            "HAVING ABS(SUM(l.amount)) >= 0.005 OR COUNT(*) < 2",
            inst_params,
        )
    ]
    report.postings_without_legs = [
        pid
        for (pid,) in _rows(
            "SELECT p.id FROM lending_posting p WHERE NOT EXISTS (SELECT 1 FROM lending_postingleg l WHERE l.posting_id = p.id)"  # noqa: S608 (identifiers from code, values bound)
            + inst,
            inst_params,
        )
    ]
    acc = " AND a.institution_id = %s" if institution_id else ""
    report.account_mismatches = [
        {"account": aid, "code": code, "balance": str(balance), "legs": str(total)}
        for aid, code, balance, total in _rows(
            "SELECT a.id, a.code, a.balance, COALESCE(s.total, 0) FROM lending_ledgeraccount a "  # noqa: S608 (identifiers from code, values bound)
            "LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM lending_postingleg GROUP BY account_id) s ON s.account_id = a.id "
            "WHERE ABS(a.balance - COALESCE(s.total, 0)) >= 0.005" + acc,
            inst_params,
        )
    ]
    # Σ of the loans' mirror = account balance, per institution and account (all accounts)
    for code, field_name in engine.ACCOUNT_FIELDS.items():
        for inst_id, loans_total, balance in _rows(
            f"SELECT a.institution_id, COALESCE(t.total, 0), a.balance FROM lending_ledgeraccount a "  # noqa: S608 (identifiers from code, values bound)
            f"LEFT JOIN (SELECT institution_id, SUM({field_name}) AS total FROM lending_loan GROUP BY institution_id) t "
            f"ON t.institution_id = a.institution_id WHERE a.code = %s" + acc,
            [code, *inst_params],
        ):
            if _d(loans_total) != _d(balance):
                report.institution_mismatches.append(
                    {"institution": inst_id, "account": code, "loans": str(loans_total), "ledger": str(balance)}
                )
    report.loan_mismatches, report.loans_checked = _loan_mirrors(institution_id, business_date, sample, loan_ids)
    report.schedule_mismatches = _schedule_principal(institution_id, business_date, sample, loan_ids)
    return report


def _loan_filter(institution_id, business_date, sample, loan_ids) -> tuple[str, list]:
    """SQL condition on lending_loan ``lo`` choosing the loans to check in detail."""
    if loan_ids is not None:
        ids = [int(x) for x in loan_ids] or [0]
        return f"lo.id IN ({','.join(['%s'] * len(ids))})", ids
    conditions, params = [], []
    if institution_id:
        conditions.append("lo.institution_id = %s")
        params.append(institution_id)
    if business_date is not None:
        random_fn = "RANDOM()"
        conditions.append(
            "(lo.id IN (SELECT p.loan_id FROM lending_posting p WHERE p.business_date = %s AND p.loan_id IS NOT NULL) "  # noqa: S608 (identifiers from code, values bound)
            f"OR lo.id IN (SELECT id FROM lending_loan ORDER BY {random_fn} LIMIT %s))"
        )
        params.extend([business_date, sample])
    return (" AND ".join(conditions) or "1=1"), params


def _loan_mirrors(institution_id, business_date, sample, loan_ids) -> tuple[list, int]:
    where, params = _loan_filter(institution_id, business_date, sample, loan_ids)
    codes = ",".join(f"'{code}'" for code in PER_LOAN_ACCOUNTS)
    sums: dict[tuple[int, str], object] = {}
    for loan_id, code, total in _rows(
        "SELECT l.loan_id, a.code, SUM(l.amount) FROM lending_postingleg l JOIN lending_ledgeraccount a ON a.id = l.account_id "  # noqa: S608 (identifiers from code, values bound)
        f"WHERE a.code IN ({codes}) AND l.loan_id IN (SELECT lo.id FROM lending_loan lo WHERE {where}) GROUP BY l.loan_id, a.code",
        params,
    ):
        sums[(loan_id, code)] = total
    fields = [engine.ACCOUNT_FIELDS[code] for code in PER_LOAN_ACCOUNTS]
    mismatches, checked = [], 0
    for row in _rows(f"SELECT lo.id, {', '.join('lo.' + f for f in fields)} FROM lending_loan lo WHERE {where}", params):  # noqa: S608 (identifiers from code, values bound)
        checked += 1
        loan_id = row[0]
        for code, value in zip(PER_LOAN_ACCOUNTS, row[1:], strict=True):
            legs = sums.get((loan_id, code), 0) or 0
            if _d(value) != _d(legs):
                mismatches.append({"loan": loan_id, "account": code, "loan_balance": str(value), "legs": str(legs)})
    return mismatches, checked


def _schedule_principal(institution_id, business_date, sample, loan_ids) -> list:
    where, params = _loan_filter(institution_id, business_date, sample, loan_ids)
    return [
        {"loan": loan_id, "principal_outstanding": str(outstanding), "unpaid_schedule": str(unpaid)}
        for loan_id, outstanding, unpaid in _rows(
            "SELECT lo.id, lo.principal_outstanding, COALESCE(s.unpaid, 0) FROM lending_loan lo "  # noqa: S608 (identifiers from code, values bound)
            "LEFT JOIN (SELECT loan_id, SUM(principal - paid_principal) AS unpaid FROM lending_installment "
            "WHERE is_current = %s GROUP BY loan_id) s ON s.loan_id = lo.id "
            f"WHERE lo.state IN ('active', 'overdue', 'settled') AND ABS(lo.principal_outstanding - COALESCE(s.unpaid, 0)) >= 0.005 AND {where}",
            [True, *params],
        )
    ]
