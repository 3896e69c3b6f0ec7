"""Posting to the loan ledger: balanced, immutable, balances updated in the same transaction.

``post`` writes one posting; ``post_batch`` writes the nightly close's chunk postings with bulk SQL
(PostgreSQL COPY for the legs, one UPDATE for the balances). Both refuse unbalanced legs before
touching the database; on PostgreSQL triggers enforce the same at the database level.
"""

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db import connection, transaction

from jikuai.core.exceptions import ApplicationError
from lending.models import LedgerAccount, Posting, PostingLeg

ZERO = Decimal("0.00")


class UnbalancedPosting(ApplicationError):
    code = "unbalanced_posting"
    status = 500


def account_ids(institution_id: int) -> dict[str, int]:
    """The institution's ledger accounts by code (created on first use)."""
    rows = dict(LedgerAccount.objects.filter(institution_id=institution_id).values_list("code", "id"))
    missing = [code for code, _label in LedgerAccount._meta.get_field("code").choices if code not in rows]
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(institution_id=institution_id, code=code) for code in missing], ignore_conflicts=True
        )
        rows = dict(LedgerAccount.objects.filter(institution_id=institution_id).values_list("code", "id"))
    return rows


def check_balanced(legs) -> None:
    total = ZERO
    for _code, _loan_id, amount in legs:
        if amount == 0:
            raise UnbalancedPosting("分录金额不能为0。", "a leg amount cannot be zero")
        total += amount
    if total != 0 or len(legs) < 2:
        raise UnbalancedPosting(f"借贷不平衡（差额 {total}）。", f"posting does not balance (difference {total})")


def _apply_balances(deltas: dict[int, Decimal]) -> None:
    """Add each delta to its account balance; accounts locked in ascending id order (no deadlocks)."""
    items = sorted((account_id, amount) for account_id, amount in deltas.items() if amount)
    if not items:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            values = ",".join(["(%s::bigint, %s::numeric)"] * len(items))
            params = [x for item in items for x in item]
            cursor.execute(
                f"UPDATE lending_ledgeraccount AS a SET balance = a.balance + v.delta "  # noqa: S608 (identifiers from code, values bound)
                f"FROM (VALUES {values}) AS v(id, delta) WHERE a.id = v.id",
                params,
            )
        else:
            cursor.executemany(
                "UPDATE lending_ledgeraccount SET balance = balance + %s WHERE id = %s",
                [(str(amount), account_id) for account_id, amount in items],
            )


def post(
    *,
    institution_id: int,
    kind: str,
    business_date: dt.date,
    legs: list[tuple[str, int | None, Decimal]],
    loan_id: int | None = None,
    repayment_id: int | None = None,
    reverses_id: int | None = None,
    description: str = "",
    accounts: dict[str, int] | None = None,
) -> Posting:
    """One balanced posting: ``legs`` are (account code, loan id or None, amount with debit positive)."""
    legs = [leg for leg in legs if leg[2]]
    check_balanced(legs)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("post() must run inside the business transaction")
    accounts = accounts or account_ids(institution_id)
    posting = Posting.objects.create(
        institution_id=institution_id,
        loan_id=loan_id,
        repayment_id=repayment_id,
        kind=kind,
        business_date=business_date,
        reverses_id=reverses_id,
        description=description[:200],
    )
    PostingLeg.objects.bulk_create(
        [
            PostingLeg(posting=posting, account_id=accounts[code], loan_id=leg_loan, amount=amount)
            for code, leg_loan, amount in legs
        ]
    )
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    for code, _loan, amount in legs:
        deltas[accounts[code]] += amount
    _apply_balances(deltas)
    return posting


def merge_legs(legs) -> list[tuple[str, int | None, Decimal]]:
    """Net legs per (account, loan), dropping zeros (keeps the first-seen order)."""
    merged: dict[tuple[str, int | None], Decimal] = {}
    for code, loan_id, amount in legs:
        key = (code, loan_id)
        merged[key] = merged.get(key, ZERO) + amount
    return [(code, loan_id, amount) for (code, loan_id), amount in merged.items() if amount]


def post_batch(
    *,
    institution_id: int,
    kind: str,
    business_date: dt.date,
    loan_legs: list[tuple[str, int, Decimal]],
    aggregate_accounts: frozenset[str],
    description: str = "",
    accounts: dict[str, int] | None = None,
) -> tuple[Posting | None, int]:
    """A nightly-close posting for a chunk of loans: legs on ``aggregate_accounts`` (income, memo
    contra) are summed into one leg per account; the others keep one leg per loan. Returns the
    posting and the number of legs written."""
    aggregated: dict[str, Decimal] = defaultdict(Decimal)
    rows: list[tuple[str, int | None, Decimal]] = []
    for code, loan_id, amount in loan_legs:
        if not amount:
            continue
        if code in aggregate_accounts:
            aggregated[code] += amount
        else:
            rows.append((code, loan_id, amount))
    rows.extend((code, None, amount) for code, amount in aggregated.items() if amount)
    if not rows:
        return None, 0
    check_balanced(rows)
    accounts = accounts or account_ids(institution_id)
    posting = Posting.objects.create(
        institution_id=institution_id, kind=kind, business_date=business_date, description=description[:200]
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy("COPY lending_postingleg (posting_id, account_id, loan_id, amount) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int8", "numeric"])
                pid = posting.pk
                for code, loan_id, amount in rows:
                    copy.write_row((pid, accounts[code], loan_id, amount))
    else:
        PostingLeg.objects.bulk_create(
            [
                PostingLeg(posting=posting, account_id=accounts[code], loan_id=loan_id, amount=amount)
                for code, loan_id, amount in rows
            ],
            batch_size=2000,
        )
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    for code, _loan, amount in rows:
        deltas[accounts[code]] += amount
    _apply_balances(deltas)
    return posting, len(rows)
