"""Deposit feed from core banking and the month-end deposit-growth earning (存款日均增长奖励).

The feed keeps, next to every daily row, a running monthly sum per customer (月积数), so the month-end job reads
one row per customer and month. The job is set-based SQL (INSERT … SELECT … ON CONFLICT DO NOTHING) over
customer-id chunks, one short transaction per chunk with the JobRun cursor, so it is restartable and a rerun
creates nothing.
"""

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from jikuai.core import crypto
from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.jobs import job_run_finish, job_run_progress, job_run_start
from jikuai.core.models import OutboxEvent
from jikuai.customers.models import Customer, Region
from jikuai.org.models import Institution
from lifestyle import reasons
from lifestyle.models import (
    DepositDailyBalance,
    DepositMonthClose,
    DepositMonthlyBalance,
    EarningRule,
    LedgerEntry,
    PointsAccount,
    PointsLot,
    Topic,
)
from lifestyle.services.ledger import Book, Leg, db_date, db_datetime, post_entry

logger = logging.getLogger(__name__)

MAX_ROWS_PER_BATCH = 5000
MAX_BALANCE_FEN = 10**15  # ten trillion yuan: anything larger is a feed error
ACCOUNT_RE = re.compile(r"^[0-9]{6,32}$")
JOB_NAME = "lifestyle.deposit_growth"


def account_index(account_no: str) -> str:
    return crypto.blind_index(account_no, purpose="lifestyle.deposit_account")


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def parse_month(month: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", month or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ApplicationError("月份格式应为 YYYY-MM。", "month must be YYYY-MM", code="invalid_month")
    return int(match.group(1)), int(match.group(2))


def previous_month(month: str) -> str:
    year, mon = parse_month(month)
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def days_in(month: str) -> int:
    year, mon = parse_month(month)
    return calendar.monthrange(year, mon)[1]


@dataclass
class IngestReport:
    accepted: int = 0
    duplicates: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": len(self.errors), "errors": self.errors}


@dataclass(frozen=True)
class _Row:
    index: int
    day: dt.date
    account_index: str
    account_last4: str
    customer_id: int
    balance_fen: int


def _row_error(index: int, code: str, zh: str, en: str) -> dict:
    return {"index": index, "code": code, "detail": f"{zh} / {en}"}


def _parse_rows(institution: Institution, rows: list, today: dt.date, report: IngestReport) -> list[_Row]:
    parsed: list[_Row] = []
    candidates: list[tuple[int, dict]] = []
    for index, raw in enumerate(rows):
        if not isinstance(raw, dict):
            report.errors.append(_row_error(index, "invalid_row", "行格式错误", "row must be an object"))
            continue
        candidates.append((index, raw))
    customer_ids = set()
    for _, raw in candidates:
        try:
            customer_ids.add(int(raw.get("customer_id")))
        except (TypeError, ValueError):
            pass
    known = set(Customer.objects.filter(institution=institution, pk__in=customer_ids).values_list("pk", flat=True))
    closed = set(DepositMonthClose.objects.filter(institution=institution).values_list("month", flat=True))
    seen: set[tuple[str, dt.date]] = set()
    for index, raw in candidates:
        try:
            day = dt.date.fromisoformat(str(raw.get("date", "")))
        except ValueError:
            report.errors.append(_row_error(index, "invalid_date", "日期格式应为 YYYY-MM-DD", "date must be YYYY-MM-DD"))
            continue
        if day > today:
            report.errors.append(_row_error(index, "future_date", "日期不能晚于今天", "date is in the future"))
            continue
        if month_of(day) in closed:
            report.errors.append(_row_error(index, "month_closed", "该月已月结，不再接收", "month already closed"))
            continue
        account_no = str(raw.get("account_no", "")).strip()
        if not ACCOUNT_RE.match(account_no):
            report.errors.append(_row_error(index, "invalid_account", "账号应为6至32位数字", "account_no must be 6-32 digits"))
            continue
        try:
            customer_id = int(raw.get("customer_id"))
        except (TypeError, ValueError):
            customer_id = 0
        if customer_id not in known:
            report.errors.append(_row_error(index, "unknown_customer", "客户不存在或不属于本机构", "unknown customer"))
            continue
        balance_raw = raw.get("balance")
        if isinstance(balance_raw, float) or isinstance(balance_raw, bool) or balance_raw is None:
            report.errors.append(_row_error(index, "invalid_balance", "余额应为字符串金额", "balance must be a decimal string"))
            continue
        try:
            balance = Decimal(str(balance_raw).strip())
        except InvalidOperation:
            report.errors.append(_row_error(index, "invalid_balance", "余额格式错误", "balance is not a number"))
            continue
        if not balance.is_finite() or balance.as_tuple().exponent < -2:
            report.errors.append(_row_error(index, "invalid_balance", "余额最多两位小数", "balance has more than 2 decimals"))
            continue
        if balance < 0:
            report.errors.append(_row_error(index, "negative_balance", "余额不能为负数", "balance must not be negative"))
            continue
        balance_fen = int(balance * 100)
        if balance_fen > MAX_BALANCE_FEN:
            report.errors.append(_row_error(index, "balance_too_large", "余额超出范围", "balance out of range"))
            continue
        index_value = account_index(account_no)
        if (index_value, day) in seen:
            report.errors.append(
                _row_error(index, "duplicate_in_batch", "同一批次内账号和日期重复", "same account and date twice")
            )
            continue
        seen.add((index_value, day))
        parsed.append(_Row(index, day, index_value, account_no[-4:], customer_id, balance_fen))
    return parsed


def deposit_balances_ingest(*, institution: Institution, rows: list, today: dt.date | None = None) -> IngestReport:
    """Store a batch of daily balances. Idempotent by (date, account): a repeated row is counted as a duplicate
    and adds nothing; a repeated row with another balance is refused. Bad rows (negative balance, unknown
    customer, closed month, …) are reported one by one and nothing is written for them."""
    report = IngestReport()
    if not isinstance(rows, list) or not rows:
        raise ApplicationError("rows 必须是非空数组。", "rows must be a non-empty list", code="invalid_batch")
    if len(rows) > MAX_ROWS_PER_BATCH:
        raise ApplicationError(
            f"每批最多 {MAX_ROWS_PER_BATCH} 行。", f"at most {MAX_ROWS_PER_BATCH} rows per batch", code="batch_too_large"
        )
    parsed = _parse_rows(institution, rows, today or timezone.localdate(), report)
    if not parsed:
        return report
    daily = DepositDailyBalance._meta.db_table
    monthly = DepositMonthlyBalance._meta.db_table
    db_now = db_datetime(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        placeholders = ",".join(["(%s,%s,%s,%s,%s,%s,%s)"] * len(parsed))
        params: list = []
        for row in parsed:
            params += [
                institution.pk,
                row.customer_id,
                row.account_index,
                row.account_last4,
                db_date(row.day),
                row.balance_fen,
                db_now,
            ]
        cursor.execute(
            f"INSERT INTO {daily} (institution_id, customer_id, account_index, account_last4, day, balance_fen, received_at) "  # noqa: S608
            f"VALUES {placeholders} ON CONFLICT (institution_id, account_index, day) DO NOTHING "
            "RETURNING account_index, day",
            params,
        )
        inserted = {
            (account, day if isinstance(day, dt.date) else dt.date.fromisoformat(day)) for account, day in cursor.fetchall()
        }
        sums: dict[tuple[int, str], list[int]] = {}
        repeated = []
        for row in parsed:
            if (row.account_index, row.day) in inserted:
                entry = sums.setdefault((row.customer_id, month_of(row.day)), [0, 0])
                entry[0] += row.balance_fen
                entry[1] += 1
            else:
                repeated.append(row)
        if sums:
            placeholders = ",".join(["(%s,%s,%s,%s,%s)"] * len(sums))
            params = []
            for (customer_id, month), (total, count) in sorted(sums.items()):
                params += [institution.pk, customer_id, month, total, count]
            cursor.execute(
                f"INSERT INTO {monthly} (institution_id, customer_id, month, balance_sum_fen, row_count) VALUES {placeholders} "  # noqa: S608
                "ON CONFLICT (month, customer_id) DO UPDATE SET "
                f"balance_sum_fen = {monthly}.balance_sum_fen + excluded.balance_sum_fen, "
                f"row_count = {monthly}.row_count + excluded.row_count",
                params,
            )
        report.accepted = len(inserted)
    if repeated:
        stored = {
            (r.account_index, r.day): r.balance_fen
            for r in DepositDailyBalance.objects.filter(
                institution=institution,
                account_index__in={r.account_index for r in repeated},
                day__in={r.day for r in repeated},
            ).only("account_index", "day", "balance_fen")
        }
        for row in repeated:
            if stored.get((row.account_index, row.day)) == row.balance_fen:
                report.duplicates += 1
            else:
                report.errors.append(
                    _row_error(
                        row.index,
                        "conflicting_balance",
                        "该账号当日余额已上报且金额不同，请走更正流程",
                        "a different balance was already reported for this account and date",
                    )
                )
    report.errors.sort(key=lambda e: e["index"])
    return report


# --- month-end deposit growth ---------------------------------------------------------------------


@dataclass
class MonthCloseResult:
    month: str
    institution_id: int
    lots_created: int = 0
    points_awarded: int = 0
    events_published: int = 0
    customers_scanned: int = 0
    status: str = "closed"


def _deposit_rules(institution: Institution, month_end: dt.date) -> list[EarningRule]:
    rules = (
        EarningRule.objects.filter(topic=Topic.DEPOSIT_GROWTH, is_active=True, deposit_linked=True)
        .filter(Q(institution=institution) | Q(institution__isnull=True))
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=month_end))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=month_end))
        .select_related("segment_region")
        .order_by("id")
    )
    # without compliance sign-off a deposit rule awards nothing (it must not be hidden deposit interest)
    return [rule for rule in rules if rule.is_signed_off]


def _segment_sql(rule: EarningRule, params: list) -> str:
    parts = []
    if rule.segment_occupations:
        parts.append("c.occupation IN (" + ",".join(["%s"] * len(rule.segment_occupations)) + ")")
        params.extend(rule.segment_occupations)
    if rule.segment_branch_id:
        parts.append("c.branch_id = %s")
        params.append(rule.segment_branch_id)
    if rule.segment_kyc_verified_only:
        parts.append("c.kyc_status = 'verified'")
    if rule.segment_region_id:
        parts.append(f"EXISTS (SELECT 1 FROM {Region._meta.db_table} r WHERE r.id = c.region_id AND r.code LIKE %s)")  # noqa: S608
        params.append(rule.segment_region.code + "%")
    return "".join(f" AND {p}" for p in parts)


def _award_chunk(
    cursor, *, rule: EarningRule, institution_id: int, month: str, lo: int, hi: int, now: dt.datetime, today: dt.date
) -> tuple[int, int]:
    """INSERT the chunk's deposit lots for one rule; returns (lots created, points)."""
    monthly = DepositMonthlyBalance._meta.db_table
    lots = PointsLot._meta.db_table
    accounts = PointsAccount._meta.db_table
    customers = Customer._meta.db_table
    prev = previous_month(month)
    days, prev_days = days_in(month), days_in(prev)
    # deposit rules always hold (rule_validate enforces hold_days >= 1): the lots start pending
    status = PointsLot.Status.PENDING
    activates_at = now + dt.timedelta(days=max(rule.hold_days, 1))
    expires_on = today + dt.timedelta(days=rule.validity_days)
    growth = f"(cur.balance_sum_fen / {days} - COALESCE(prev.balance_sum_fen, 0) / {prev_days})"
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"  # both have a multi-argument form
    # points from the formula, capped per month; the lifetime cap (if any) is applied against earlier lots below
    points = f"(({growth}) / %s) * %s"
    params: list = []
    inner_params: list = [rule.deposit_unit_fen, rule.deposit_points_per_unit]
    if rule.cap_per_month:
        points = f"{least}({points}, %s)"
        inner_params.append(rule.cap_per_month)
    segment_params: list = []
    segment = _segment_sql(rule, segment_params)
    customer_join = f" JOIN {customers} c ON c.id = cur.customer_id" if segment else ""
    inner = (
        f"SELECT cur.customer_id, {points} AS points FROM {monthly} cur"  # noqa: S608
        f"{customer_join} LEFT JOIN {monthly} prev ON prev.customer_id = cur.customer_id AND prev.month = %s "
        f"WHERE cur.month = %s AND cur.institution_id = %s AND cur.customer_id > %s AND cur.customer_id <= %s "
        f"AND {growth} >= %s{segment}"
    )
    inner_params += [prev, month, institution_id, lo, hi, max(rule.deposit_min_growth_fen, 1), *segment_params]
    amount = "amt.points"
    used_join = ""
    used_params: list = []
    if rule.cap_per_customer:
        amount = f"{least}(amt.points, %s - COALESCE(used.total, 0))"
        used_params.append(rule.cap_per_customer)
        used_join = (
            f" LEFT JOIN (SELECT l.account_id, SUM(l.base_points) AS total FROM {lots} l JOIN {accounts} ua ON ua.id = l.account_id "  # noqa: S608
            "WHERE l.rule_key = %s AND l.status <> 'cancelled' AND ua.customer_id > %s AND ua.customer_id <= %s "
            "GROUP BY l.account_id) used ON used.account_id = a.id"
        )
        used_params_join = [rule.code, lo, hi]
    else:
        used_params_join = []
    reason = reasons.chinese("deposit_growth", month=month)  # shown in English from source + period (reasons.py)
    select = (
        f"SELECT a.id, %s, %s, %s, 'deposit', %s, {amount}, {amount}, {amount}, 0, %s, '', %s, %s, %s, %s, %s, '{{}}' "  # noqa: S608
        f"FROM ({inner}) amt JOIN {accounts} a ON a.customer_id = amt.customer_id{used_join} WHERE {amount} > 0"
    )
    params = [
        rule.pk,
        rule.code,
        Topic.DEPOSIT_GROWTH.value,
        month,
        *used_params * 3,
        rule.funding_source,
        status,
        db_datetime(now),
        db_datetime(activates_at),
        db_date(expires_on),
        reason,
        *inner_params,
        *used_params_join,
        *used_params,
    ]
    insert = (
        f"INSERT INTO {lots} (account_id, rule_id, rule_key, source, source_ref, period, amount, remaining, base_points, "
        "campaign_points, funding_source, campaign_funding_source, status, earned_at, activates_at, expires_on, reason, reference) "
        f"{select} ON CONFLICT (account_id, rule_key, source_ref, period) DO NOTHING"
    )
    if connection.vendor == "postgresql":
        cursor.execute(f"WITH ins AS ({insert} RETURNING amount) SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM ins", params)  # noqa: S608
        count, total = cursor.fetchone()
    else:
        cursor.execute(f"{insert} RETURNING amount", params)
        amounts = [row[0] for row in cursor.fetchall()]
        count, total = len(amounts), sum(amounts)
    return int(count), int(total)


def _publish_month_events(cursor, *, institution_id: int, month: str, lo: int, hi: int, now: dt.datetime) -> int:
    """lifestyle.deposit_month_closed for every customer of the chunk, written set-based into the outbox in the
    chunk's transaction. With a broker the new ids go to the kernel's ``dispatch_events`` task after commit, in
    batches, so workers deliver them in parallel; without one (eager mode) the bus redelivery job picks them up."""
    monthly = DepositMonthlyBalance._meta.db_table
    customers = Customer._meta.db_table
    outbox = OutboxEvent._meta.db_table
    prev = previous_month(month)
    days, prev_days = days_in(month), days_in(prev)
    avg = f"(cur.balance_sum_fen / {days})"
    prev_avg = f"(COALESCE(prev.balance_sum_fen, 0) / {prev_days})"
    if connection.vendor == "postgresql":
        payload = (
            "json_build_object('customer_id', c.id, 'institution_id', c.institution_id, 'branch_id', c.branch_id, "
            "'account_manager_id', c.account_manager_id, 'month', %s, "
            f"'daily_average', to_char({avg} / 100.0, 'FM9999999999999990.00'), 'daily_average_fen', {avg}, "
            f"'previous_daily_average', to_char({prev_avg} / 100.0, 'FM9999999999999990.00'), "
            f"'previous_daily_average_fen', {prev_avg})::jsonb"
        )
    else:
        payload = (
            "json_object('customer_id', c.id, 'institution_id', c.institution_id, 'branch_id', c.branch_id, "
            "'account_manager_id', c.account_manager_id, 'month', %s, "
            f"'daily_average', printf('%%.2f', {avg} / 100.0), 'daily_average_fen', {avg}, "
            f"'previous_daily_average', printf('%%.2f', {prev_avg} / 100.0), 'previous_daily_average_fen', {prev_avg})"
        )
    cursor.execute(
        f"INSERT INTO {outbox} (topic, payload, status, attempts, next_attempt_at, last_error, created_at) "  # noqa: S608
        f"SELECT 'lifestyle.deposit_month_closed', {payload}, 'pending', 0, %s, '', %s "
        f"FROM {monthly} cur JOIN {customers} c ON c.id = cur.customer_id "
        f"LEFT JOIN {monthly} prev ON prev.customer_id = cur.customer_id AND prev.month = %s "
        "WHERE cur.month = %s AND cur.institution_id = %s AND cur.customer_id > %s AND cur.customer_id <= %s RETURNING id",
        [month, db_datetime(now), db_datetime(now), prev, month, institution_id, lo, hi],
    )
    ids = [row[0] for row in cursor.fetchall()]
    if ids and not settings.CELERY_TASK_ALWAYS_EAGER:
        transaction.on_commit(lambda: _enqueue_dispatch(ids))
    return len(ids)


def _enqueue_dispatch(ids: list[int], batch: int = 2000) -> None:
    from jikuai.core.tasks import dispatch_events

    for start in range(0, len(ids), batch):
        try:
            dispatch_events.delay(ids[start : start + batch])
        except Exception:  # broker down: the redelivery job delivers them later
            logger.warning("deposit month events: could not enqueue %s events", len(ids) - start)
            return


def _ensure_accounts(cursor, *, institution_id: int, month: str, lo: int, hi: int, now: dt.datetime) -> None:
    monthly = DepositMonthlyBalance._meta.db_table
    accounts = PointsAccount._meta.db_table
    customers = Customer._meta.db_table
    cursor.execute(
        f"INSERT INTO {accounts} (customer_id, institution_id, branch_id, balance, debt, created_at, updated_at) "  # noqa: S608
        f"SELECT c.id, c.institution_id, c.branch_id, 0, 0, %s, %s FROM {monthly} cur JOIN {customers} c ON c.id = cur.customer_id "
        f"WHERE cur.month = %s AND cur.institution_id = %s AND cur.customer_id > %s AND cur.customer_id <= %s "
        f"AND NOT EXISTS (SELECT 1 FROM {accounts} x WHERE x.customer_id = cur.customer_id) "
        "ON CONFLICT (customer_id) DO NOTHING",
        [db_datetime(now), db_datetime(now), month, institution_id, lo, hi],
    )


def deposit_growth_close(
    *,
    institution: Institution,
    month: str,
    chunk_size: int = 50_000,
    force: bool = False,
    publish_events: bool = True,
    now: dt.datetime | None = None,
) -> MonthCloseResult:
    """Month-end deposit growth (存款日均增长): for each customer with a monthly sum, growth of the daily average
    over the previous month earns points under every signed-off deposit rule — pending for the hold period,
    capped per month and per customer. Restartable by chunk; a rerun (even ``force``) creates nothing twice."""
    now = now or timezone.now()
    year, mon = parse_month(month)
    month_end = dt.date(year, mon, days_in(month))
    if month_end >= timezone.localdate(now):
        raise Conflict("月份尚未结束，不能月结。", "the month has not ended yet", code="month_not_ended")
    result = MonthCloseResult(month=month, institution_id=institution.pk)
    close, _ = DepositMonthClose.objects.get_or_create(institution=institution, month=month)
    if close.status == DepositMonthClose.Status.CLOSED and not force:
        result.status = "already_closed"
        return result
    publish = publish_events and close.status != DepositMonthClose.Status.CLOSED
    rules = _deposit_rules(institution, month_end)
    run_key = f"{institution.code}:{month}" + (f":force:{now.isoformat()}" if force else "")
    bounds = DepositMonthlyBalance.objects.filter(month=month, institution=institution).aggregate(
        lo=Min("customer_id"), hi=Max("customer_id")
    )
    run, should_work = job_run_start(job=JOB_NAME, business_date=month_end, run_key=run_key)
    if not should_work:
        result.status = "already_closed"
        return result
    if bounds["lo"] is None:
        job_run_finish(run)
        DepositMonthClose.objects.filter(pk=close.pk).update(status=DepositMonthClose.Status.CLOSED, closed_at=now)
        return result
    cursor_from = int(run.cursor.get("after", bounds["lo"] - 1))
    today = timezone.localdate(now)
    try:
        while cursor_from < bounds["hi"]:
            hi = min(cursor_from + chunk_size, bounds["hi"])
            with transaction.atomic(), connection.cursor() as cursor:
                _ensure_accounts(cursor, institution_id=institution.pk, month=month, lo=cursor_from, hi=hi, now=now)
                chunk_lots = chunk_points = 0
                for rule in rules:
                    count, total = _award_chunk(
                        cursor, rule=rule, institution_id=institution.pk, month=month, lo=cursor_from, hi=hi, now=now, today=today
                    )
                    if total:
                        post_entry(
                            kind=LedgerEntry.Kind.EARN,
                            legs=[Leg(Book.EXPENSE, total, funding_source=rule.funding_source), Leg(Book.PENDING, -total)],
                            memo=f"存款日均增长 {month} {rule.code} 客户 {cursor_from + 1}-{hi}",
                            business_key=f"deposit:{institution.pk}:{month}:{rule.pk}:{cursor_from}:{now.timestamp():.0f}",
                        )
                    chunk_lots += count
                    chunk_points += total
                events = 0
                if publish:
                    events = _publish_month_events(
                        cursor, institution_id=institution.pk, month=month, lo=cursor_from, hi=hi, now=now
                    )
                result.lots_created += chunk_lots
                result.points_awarded += chunk_points
                result.events_published += events
                job_run_progress(
                    run, cursor={"after": hi}, add=1, counts={"lots": chunk_lots, "points": chunk_points, "events": events}
                )
            cursor_from = hi
    except Exception as exc:
        job_run_finish(run, error=repr(exc))
        raise
    job_run_finish(run)
    result.customers_scanned = DepositMonthlyBalance.objects.filter(month=month, institution=institution).count()
    DepositMonthClose.objects.filter(pk=close.pk).update(
        status=DepositMonthClose.Status.CLOSED,
        closed_at=now,
        lots_created=close.lots_created + result.lots_created,
        points_awarded=close.points_awarded + result.points_awarded,
        events_published=close.events_published + result.events_published,
    )
    logger.info(
        "deposit month %s closed for institution %s: %s lots, %s points",
        month,
        institution.pk,
        result.lots_created,
        result.points_awarded,
    )
    return result


def deposit_months_to_close(*, today: dt.date | None = None) -> list[tuple[Institution, str]]:
    """(institution, previous month) pairs still open: what the monthly beat job closes."""
    today = today or timezone.localdate()
    month = previous_month(month_of(today))
    closed = set(
        DepositMonthClose.objects.filter(month=month, status=DepositMonthClose.Status.CLOSED).values_list(
            "institution_id", flat=True
        )
    )
    with_data = set(DepositMonthlyBalance.objects.filter(month=month).values_list("institution_id", flat=True).distinct())
    return [(inst, month) for inst in Institution.objects.filter(pk__in=with_data - closed)]
