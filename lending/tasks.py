"""Celery tasks of the loan engine (thin: call one service)."""

from celery import shared_task


@shared_task(name="lending.tasks.run_cob", acks_late=True)
def run_cob_task(date: str | None = None) -> list[dict]:
    """Nightly close of the current business date (idempotent: a rerun resumes or does nothing)."""
    import datetime as dt

    from lending.services.cob import run_cob

    results = run_cob(date=dt.date.fromisoformat(date) if date else None)
    return [
        {
            "business_date": r.business_date.isoformat(),
            "ok": r.ok,
            "steps": [(s.step, s.ran, s.processed, s.failed, s.error) for s in r.steps],
        }
        for r in results
    ]


@shared_task(name="lending.tasks.reconcile_ledger")
def reconcile_ledger_task() -> dict:
    from lending.services.reconcile import reconcile_ledger

    return reconcile_ledger().as_dict()


@shared_task(name="lending.tasks.application_expire_due")
def application_expire_due_task(date: str | None = None) -> int:
    """Expire approved applications not signed by their sign-by date (idempotent)."""
    import datetime as dt

    from lending.services.origination import application_expire_due

    return application_expire_due(business_date=dt.date.fromisoformat(date) if date else None)


@shared_task(name="lending.tasks.review_escalate_overdue")
def review_escalate_overdue_task() -> int:
    """超时升级: move overdue review tasks to the next queue (idempotent per run)."""
    from lending.services.review import review_escalate_overdue

    return review_escalate_overdue()


@shared_task(name="lending.tasks.credit_lines_expire")
def credit_lines_expire_task(date: str | None = None) -> int:
    """授信到期: lines past their validity become expired (idempotent)."""
    import datetime as dt

    from lending.services.lines import credit_lines_expire

    return credit_lines_expire(business_date=dt.date.fromisoformat(date) if date else None)


@shared_task(name="lending.tasks.drawdowns_resume")
def drawdowns_resume_task() -> int:
    """用信续办: finish drawdowns interrupted between hold and disbursement (idempotent)."""
    from lending.services.lines import drawdowns_resume

    return drawdowns_resume()
