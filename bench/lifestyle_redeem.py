"""Redemption under contention (积分兑换并发): 16 concurrent clients redeem a benefit, ~30% of attempts on one hot
account and the rest spread over ``--size`` accounts, on PostgreSQL.

    python -m bench.lifestyle_redeem --size 1000 [--ops 2000] [--clients 16]

The service path (``voucher_issue``: voucher, guarded balance update, allocation by earliest expiry, debit and
allocation rows, balanced postings) is compared, in the same run and on fresh accounts with the same balances,
with a reference that performs the same writes as hand-written SQL around the same guarded UPDATE
(``UPDATE … SET balance = balance - x WHERE id = … AND balance >= x``). A bare single-statement guarded UPDATE
per transaction is also measured, as the floor of what the hot row allows. Rounds alternate (service,
reference, …, three rounds by default) and the best round of each counts. Afterwards: zero overspend on every account
and the ledger invariants hold (Σ lots remaining = balance = −Σ liability legs).
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection, connections, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from jikuai.customers.models import Customer  # noqa: E402
from jikuai.org.models import Institution  # noqa: E402
from lifestyle.models import (  # noqa: E402
    Benefit,
    LedgerEntry,
    LedgerLeg,
    Merchant,
    PointsAccount,
    PointsLot,
    PointValueRate,
    Voucher,
)
from lifestyle.services import ledger, reconciliation, vouchers  # noqa: E402

NAME = "lifestyle_redeem"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
PRICE = 10
SPREAD_BALANCE = 10_000
HOT_SHARE = 0.3


def _institution() -> Institution:
    institution, _ = Institution.objects.get_or_create(code="BENCH-LS", defaults={"name": "漫生活压测行", "short_name": "压测"})
    return institution


def _fixture(institution: Institution) -> tuple[Merchant, Benefit]:
    from jikuai.customers.models import Region

    region, _ = Region.objects.get_or_create(code="229999999999", defaults={"name": "压测村", "level": 5})
    merchant = Merchant.objects.filter(code="BENCHLS01").first()
    if merchant is None:
        merchant = Merchant(
            institution=institution,
            code="BENCHLS01",
            name="压测商户",
            category="supermarket",
            region=region,
            state="active",
            settlement_account="621700000000000001",
            settlement_account_name="压测商户",
        )
        merchant.save()
    if not PointValueRate.objects.filter(institution=institution).exists():
        PointValueRate.objects.create(
            institution=institution, yuan_per_point="0.010000", effective_from=timezone.now() - dt.timedelta(days=1)
        )
    benefit = Benefit.objects.filter(institution=institution, name="压测权益").first()
    if benefit is None:
        benefit = Benefit.objects.create(
            institution=institution,
            name="压测权益",
            kind="amount_off",
            points_price=PRICE,
            voucher_validity_days=30,
            available_from=timezone.now() - dt.timedelta(days=1),
        )
        benefit.merchants.add(merchant)
    return merchant, benefit


def _accounts(institution: Institution, count: int, tag: str, hot_balance: int) -> list[int]:
    """``count`` spread accounts plus one hot account (first id), each with one active lot; one balanced entry."""
    now = timezone.now()
    stamp = f"{tag}{int(time.time() * 1000) % 10**9}"
    customers = Customer.objects.bulk_create(
        [
            Customer(
                institution=institution,
                name="压测",
                id_number_index=f"bench-{stamp}-{i}",
                mobile_index=f"bench-{stamp}-{i}",
                gender="M",
                birth_date=dt.date(1980, 1, 1),
                referral_code=f"B{stamp}{i}"[-12:].rjust(12, "X"),
                is_demo=True,
            )
            for i in range(count + 1)
        ],
        batch_size=2000,
    )
    balances = [hot_balance] + [SPREAD_BALANCE] * count
    accounts = PointsAccount.objects.bulk_create(
        [PointsAccount(customer=c, institution=institution, balance=b) for c, b in zip(customers, balances, strict=True)],
        batch_size=2000,
    )
    PointsLot.objects.bulk_create(
        [
            PointsLot(
                account=a,
                rule_key="bench",
                source="bench",
                source_ref=stamp,
                amount=b,
                remaining=b,
                base_points=b,
                funding_source="bank_marketing",
                status="active",
                earned_at=now,
                expires_on=timezone.localdate() + dt.timedelta(days=365),
                reason="压测发放",
            )
            for a, b in zip(accounts, balances, strict=True)
        ],
        batch_size=2000,
    )
    entry = LedgerEntry.objects.create(kind="earn", memo=f"bench {stamp}")
    LedgerLeg.objects.bulk_create(
        [LedgerLeg(entry=entry, book="expense", funding_source="bank_marketing", points=sum(balances))]
        + [LedgerLeg(entry=entry, book="liability", account=a, points=-b) for a, b in zip(accounts, balances, strict=True)],
        batch_size=2000,
    )
    return [a.pk for a in accounts]


def _plan(account_ids: list[int], ops: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    hot, spread = account_ids[0], account_ids[1:]
    return [hot if rng.random() < HOT_SHARE else rng.choice(spread) for _ in range(ops)]


def _run(plan: list[int], clients: int, work) -> dict:
    cursor = iter(range(len(plan)))
    lock = threading.Lock()
    counts = {"ok": 0, "refused": 0, "error": 0}
    errors: list[str] = []

    def worker():
        try:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                try:
                    ok = work(plan[index], index)
                    key = "ok" if ok else "refused"
                except ledger.InsufficientPoints:
                    key = "refused"
                except Exception as exc:  # reported in the JSON; a benchmark never hides failures
                    key = "error"
                    errors.append(repr(exc)[:200])
                with lock:
                    counts[key] += 1
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        **counts,
        "seconds": round(seconds, 3),
        "ops_per_second": round(len(plan) / seconds, 1),
        "redemptions_per_second": round(counts["ok"] / seconds, 1),
        "errors_sample": errors[:3],
    }


def _service_work(customers: dict[int, Customer], benefit_id: int):
    def work(account_id: int, index: int) -> bool:
        vouchers.voucher_issue(
            customer=customers[account_id], benefit_id=benefit_id, request_token=f"bench-{time.time_ns()}-{index:08d}"
        )
        return True

    return work


def _reference_work(benefit: Benefit, institution_id: int):
    """The same statements as the service's PostgreSQL path, as raw SQL without the service layer: benefit and
    account reads, voucher insert, entry + legs (one statement), the guarded UPDATE, the allocation statement."""
    voucher_t, account_t, benefit_t = Voucher._meta.db_table, PointsAccount._meta.db_table, Benefit._meta.db_table
    entry_t, leg_t = LedgerEntry._meta.db_table, LedgerLeg._meta.db_table
    allocate = ledger._ALLOCATE_SQL.format(
        lots=PointsLot._meta.db_table, debits="lifestyle_pointsdebit", allocations="lifestyle_pointsallocation"
    )
    customer_of = dict(
        PointsAccount.objects.filter(institution_id=institution_id).values_list("pk", "customer_id")
    )  # the service gets the customer object

    def work(account_id: int, index: int) -> bool:
        now = timezone.now()
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT id, points_price, voucher_validity_days FROM {benefit_t} WHERE id = %s AND institution_id = %s",
                [benefit.pk, institution_id],
            )
            benefit_id, price, validity = cur.fetchone()
            customer_id = customer_of[account_id]
            cur.execute(f"SELECT id FROM {account_t} WHERE customer_id = %s", [customer_id])
            account_id = cur.fetchone()[0]
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f"INSERT INTO {voucher_t} (code, institution_id, customer_id, account_id, benefit_id, points, status, request_token, "
                "issued_at, expires_at, redeemed_channel, otp_hash, otp_attempts) "
                "VALUES (%s, %s, %s, %s, %s, %s, 'issued', %s, %s, %s, '', '', 0) RETURNING id",
                [
                    vouchers.new_voucher_code(),
                    institution_id,
                    customer_id,
                    account_id,
                    benefit_id,
                    price,
                    f"ref-{time.time_ns()}-{index:08d}",
                    now,
                    now + dt.timedelta(days=validity),
                ],
            )
            voucher_id = cur.fetchone()[0]
            cur.execute(
                f"WITH entry AS (INSERT INTO {entry_t} (kind, memo, business_key, created_at) VALUES ('voucher_issue', %s, NULL, %s) RETURNING id), "
                f"legs AS (INSERT INTO {leg_t} (entry_id, book, account_id, merchant_id, funding_source, points) "
                "SELECT entry.id, v.book, v.account_id, NULL, '', v.points FROM entry, "
                "(VALUES ('liability', %s::bigint, %s::bigint), ('vouchers', NULL::bigint, %s::bigint)) AS v(book, account_id, points)) "
                "SELECT id FROM entry",
                ["兑换权益：压测权益", now, account_id, price, -price],
            )
            cur.execute(
                f"UPDATE {account_t} SET balance = balance - %s, updated_at = %s WHERE id = %s AND balance >= %s",
                [price, now, account_id, price],
            )
            if cur.rowcount != 1:
                raise ledger.InsufficientPoints("积分不足", "insufficient")
            cur.execute(
                allocate,
                {
                    "account": account_id,
                    "points": price,
                    "kind": "spend",
                    "reason": "兑换权益：压测权益",
                    "voucher": voucher_id,
                    "reference": "{}",
                    "now": now,
                },
            )
            _debit_id, allocated = cur.fetchone()
            if allocated != price:
                raise RuntimeError("lots do not cover the balance")
        return True

    return work


def _bare_work(account_id: int, index: int) -> bool:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "UPDATE lifestyle_pointsaccount SET balance = balance - %s WHERE id = %s AND balance >= %s",
            [PRICE, account_id, PRICE],
        )
        return cur.rowcount == 1


def _overspend(account_ids: list[int], initial: dict[int, int]) -> dict:
    """Points that left an account beyond what it had, and vouchers not covered by points (both must be zero)."""
    balances = dict(PointsAccount.objects.filter(pk__in=account_ids).values_list("pk", "balance"))
    spent_vouchers = dict(
        Voucher.objects.filter(account_id__in=account_ids)
        .values_list("account_id")
        .annotate(total=Sum("points"))
        .values_list("account_id", "total")
    )
    negative = sum(1 for b in balances.values() if b < 0)
    mismatched = sum(1 for pk in account_ids if initial[pk] - balances[pk] != spent_vouchers.get(pk, 0))
    return {
        "negative_balances": negative,
        "accounts_where_spent_differs_from_vouchers": mismatched,
        "hot_account_final_balance": balances[account_ids[0]],
        "hot_redemptions": spent_vouchers.get(account_ids[0], 0) // PRICE,
    }


def run(size: int, ops: int, clients: int, rounds_count: int = 3) -> dict:
    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark needs PostgreSQL (set DATABASE_URL)")
    institution = _institution()
    _merchant, benefit = _fixture(institution)
    # the hot account can pay for about half of the attempts it receives: the rest must be refused, never overspent
    hot_balance = PRICE * max(1, int(ops * HOT_SHARE / 2))
    rounds = {"service": [], "reference": [], "bare_guarded_update": []}
    checks = []
    for round_no in range(rounds_count):
        for kind in ("service", "reference"):
            ids = _accounts(institution, size, f"{kind[0]}{round_no}", hot_balance)
            initial = dict(PointsAccount.objects.filter(pk__in=ids).values_list("pk", "balance"))
            plan = _plan(ids, ops, seed=round_no)
            if kind == "service":
                customers = {a.pk: a.customer for a in PointsAccount.objects.filter(pk__in=ids).select_related("customer")}
                result = _run(plan, clients, _service_work(customers, benefit.pk))
            else:
                result = _run(plan, clients, _reference_work(benefit, institution.pk))
            result["overspend"] = _overspend(ids, initial)
            ledger_check = reconciliation.points_check(account_ids=ids)
            result["ledger_ok"] = ledger_check.ok
            checks.append(
                ledger_check.ok
                and result["overspend"]["negative_balances"] == 0
                and result["overspend"]["accounts_where_spent_differs_from_vouchers"] == 0
            )
            rounds[kind].append(result)
            print(
                f"round {round_no} {kind}: {result['redemptions_per_second']}/s ok={result['ok']} refused={result['refused']} "
                f"errors={result['error']}",
                file=sys.stderr,
                flush=True,
            )
    ids = _accounts(institution, size, "bare", hot_balance)
    rounds["bare_guarded_update"].append(_run(_plan(ids, ops, seed=0), clients, _bare_work))
    best = {kind: max(results, key=lambda r: r["redemptions_per_second"]) for kind, results in rounds.items()}
    ratio = best["service"]["redemptions_per_second"] / best["reference"]["redemptions_per_second"]
    zero_overspend = all(checks) and all(r["error"] == 0 for r in rounds["service"] + rounds["reference"])
    return {
        "benchmark": NAME,
        "size": size,
        "figures": {
            "clients": clients,
            "attempts_per_round": ops,
            "hot_share": HOT_SHARE,
            "hot_account_balance": hot_balance,
            "service_redemptions_per_second": best["service"]["redemptions_per_second"],
            "service_rounds": rounds["service"],
            "zero_overspend": zero_overspend,
        },
        "baseline": {
            "reference_same_writes_raw_sql_per_second": best["reference"]["redemptions_per_second"],
            "reference_rounds": rounds["reference"],
            "bare_single_guarded_update_per_second": best["bare_guarded_update"]["redemptions_per_second"],
        },
        "ratios": {
            "service_vs_reference": round(ratio, 3),
            "service_vs_bare_guarded_update": round(
                best["service"]["redemptions_per_second"] / best["bare_guarded_update"]["redemptions_per_second"], 3
            ),
        },
        "target": {"service_vs_reference_min": 0.8, "met": ratio >= 0.8 and zero_overspend, "zero_overspend": True},
        "python": platform.python_version(),
        "database": connection.vendor,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="spread accounts (plus one hot account)")
    parser.add_argument("--ops", type=int, default=None, help="redemption attempts per round (default 2 × size, min 500)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of service and reference; the best of each counts"
    )
    args = parser.parse_args(argv)
    result = run(args.size, args.ops or max(500, 2 * args.size), args.clients, args.rounds)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["target"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
