"""The ledger's balance trigger after migration 0010 (one index lookup per posting a statement touches
instead of a walk over every leg): it still refuses every unbalanced posting of a statement and
accepts balanced ones, whatever else the statement or the ledger holds."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from lending.models import AccountCode, LedgerAccount, Posting, PostingLeg
from tests.factories import BranchFactory, make_customer
from tests.lending.factories import make_loan
from tests.lending.helpers import assert_reconciled

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the ledger triggers exist on PostgreSQL only"),
]

DAY = dt.date(2026, 3, 10)


@pytest.fixture
def accounts():
    from jikuai.core.workdays import business_date_set

    business_date_set(day=DAY)
    loan = make_loan(customer=make_customer(branch=BranchFactory()), value_date=DAY)  # the ledger is not empty
    institution = loan.institution
    clearing = LedgerAccount.objects.get_or_create(institution=institution, code=AccountCode.CLEARING)[0]
    suspense = LedgerAccount.objects.get_or_create(institution=institution, code=AccountCode.SUSPENSE)[0]
    return institution, clearing, suspense


def _postings(institution, n):
    return [Posting.objects.create(institution=institution, kind="adjustment", business_date=DAY) for _ in range(n)]


def test_one_statement_with_several_balanced_postings_is_accepted(accounts):
    institution, clearing, suspense = accounts
    before = PostingLeg.objects.count()
    with transaction.atomic():
        postings = _postings(institution, 3)
        PostingLeg.objects.bulk_create(
            [PostingLeg(posting=p, account=clearing, amount=Decimal("2.50")) for p in postings]
            + [PostingLeg(posting=p, account=suspense, amount=Decimal("-1.25")) for p in postings]
            + [PostingLeg(posting=p, account=suspense, amount=Decimal("-1.25")) for p in postings]
        )
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred per-posting check too
        assert PostingLeg.objects.count() == before + 9
        transaction.set_rollback(True)  # raw legs without balance updates: keep the ledger reconciled
    assert_reconciled()


@pytest.mark.parametrize("bad_index", [0, 1, 2])
def test_an_unbalanced_posting_anywhere_in_a_statement_is_refused(accounts, bad_index):
    institution, clearing, suspense = accounts
    before = PostingLeg.objects.count()
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        postings = _postings(institution, 3)
        legs = []
        for index, posting in enumerate(postings):
            credit = Decimal("-4.99") if index == bad_index else Decimal("-5.00")
            legs += [
                PostingLeg(posting=posting, account=clearing, amount=Decimal("5.00")),
                PostingLeg(posting=posting, account=suspense, amount=credit),
            ]
        PostingLeg.objects.bulk_create(legs)
    assert PostingLeg.objects.count() == before
    assert_reconciled()


def test_a_single_leg_posting_is_refused_even_next_to_balanced_ones(accounts):
    institution, clearing, suspense = accounts
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        good, lonely = _postings(institution, 2)
        PostingLeg.objects.bulk_create(
            [
                PostingLeg(posting=good, account=clearing, amount=Decimal("1.00")),
                PostingLeg(posting=good, account=suspense, amount=Decimal("-1.00")),
                PostingLeg(posting=lonely, account=clearing, amount=Decimal("1.00")),
            ]
        )


def test_legs_added_later_must_keep_an_existing_posting_balanced(accounts):
    """The check sums every leg of a touched posting, not only the statement's own legs."""
    institution, clearing, suspense = accounts
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        [posting] = _postings(institution, 1)
        PostingLeg.objects.bulk_create(
            [
                PostingLeg(posting=posting, account=clearing, amount=Decimal("3.00")),
                PostingLeg(posting=posting, account=suspense, amount=Decimal("-3.00")),
            ]
        )
        # balanced on its own, but the posting now has a fourth leg that leaves it at +1.00
        PostingLeg.objects.bulk_create(
            [
                PostingLeg(posting=posting, account=clearing, amount=Decimal("1.00")),
            ]
        )
