"""Assertions shared by the lending DB tests."""

from jikuai.core.models import OutboxEvent
from lending.models import Installment, Loan, Posting, PostingLeg, Repayment
from lending.services.reconcile import reconcile_ledger


def assert_reconciled(**kwargs):
    report = reconcile_ledger(**kwargs)
    assert report.ok, report.as_dict()
    return report


def counts() -> dict:
    """Row counts of everything a refused operation must leave untouched."""
    return {
        "loans": Loan.objects.count(),
        "postings": Posting.objects.count(),
        "legs": PostingLeg.objects.count(),
        "repayments": Repayment.objects.count(),
        "installments": Installment.objects.count(),
        "events": OutboxEvent.objects.count(),
    }


def events(topic: str) -> list[dict]:
    return [e.payload for e in OutboxEvent.objects.filter(topic=topic).order_by("id")]
