"""Celery tasks: thin wrappers, ids in, one service call, idempotent."""

from celery import shared_task
from django.core.management import call_command

from jikuai.core.workdays import get_business_date
from lifestyle.services import deposits, ledger, reconciliation, settlement, vouchers


@shared_task(name="lifestyle.tasks.activate_pending_points")
def activate_pending_points() -> int:
    return ledger.lots_activate_due()


@shared_task(name="lifestyle.tasks.expire_points")
def expire_points() -> dict:
    return ledger.lots_expire_due()


@shared_task(name="lifestyle.tasks.expire_vouchers")
def expire_vouchers() -> int:
    return vouchers.vouchers_expire_due()


@shared_task(name="lifestyle.tasks.reconcile_points")
def reconcile_points() -> bool:
    call_command("reconcile_points")
    return True


@shared_task(name="lifestyle.tasks.settlement_daily")
def settlement_daily() -> dict:
    """Batches due today, auto-confirmation of unanswered statements, payouts, and the daily check."""
    created = settlement.settlement_batches_create_due(business_date=get_business_date())
    confirmed = settlement.settlements_auto_confirm()
    paid = settlement.settlement_pay_confirmed()
    check = reconciliation.settlement_check()
    return {"created": len(created), "auto_confirmed": confirmed, **paid, "check_ok": check.ok}


@shared_task(name="lifestyle.tasks.deposit_month_close")
def deposit_month_close() -> int:
    closed = 0
    for institution, month in deposits.deposit_months_to_close():
        deposits.deposit_growth_close(institution=institution, month=month)
        closed += 1
    return closed
