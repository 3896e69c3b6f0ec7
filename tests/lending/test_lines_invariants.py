"""Random sequences of drawdowns (some failing at the core), repayments, reversals, limit changes and
freezes on a revolving line: after every step limit = used + available, used = Σ (held − restored) over
the live drawdowns, nothing restored beyond the principal actually repaid, and every disbursed loan
equals its drawdown — money is neither lost nor created."""

import datetime as dt
import random
from decimal import Decimal

import pytest

from jikuai.core.exceptions import ApplicationError
from jikuai.core.workdays import business_date_set, get_business_date
from lending.models import CreditLineChange, Drawdown, Repayment
from lending.services import prepayment_quote, repayment_record, repayment_reverse
from lending.services.lines import credit_line_request_approve, credit_line_request_submit, drawdown_request
from tests.factories import make_staff
from tests.lending.lines_factories import assert_balanced, open_line

pytestmark = pytest.mark.django_db
ZERO = Decimal("0.00")


def check(line):
    line = assert_balanced(line)
    expected_used = ZERO
    for drawdown in Drawdown.objects.filter(line=line).select_related("loan"):
        restored = sum(
            CreditLineChange.objects.filter(line=line, kind="restore", reference=drawdown.drawdown_no).values_list(
                "amount", flat=True
            ),
            ZERO,
        )
        if drawdown.state == "failed":
            assert restored == 0 and (drawdown.loan is None or drawdown.loan.disbursed_on is None)
            continue
        expected_used += drawdown.amount - restored
        if drawdown.state == "disbursed":
            loan = drawdown.loan
            assert loan.principal == drawdown.amount and loan.disbursed_on is not None
            assert 0 <= restored <= loan.principal - loan.principal_outstanding  # never restore more than repaid
    assert line.used == expected_used
    return line


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sequences_keep_the_line_balanced(seed, settings, django_capture_on_commit_callbacks):
    rng = random.Random(seed)
    line = open_line(amount="60000", day=dt.date(2026, 1, 15))
    maker = make_staff(role="运营", institution=line.institution)
    checker = make_staff(role="运营", institution=line.institution)
    for _step in range(14):
        op = rng.choice(["draw", "draw", "fail", "repay", "repay", "reverse", "adjust", "freeze"])
        try:
            with django_capture_on_commit_callbacks(execute=True):
                if op in ("draw", "fail"):
                    settings.JIKUAI_CORE_BANKING_ADAPTER = (
                        "tests.lending.lines_factories.FailingAdapter" if op == "fail" else "lending.corebanking.LocalAdapter"
                    )
                    drawdown_request(
                        line_id=line.pk,
                        amount=str(rng.randrange(1, 25) * 1000),
                        term_months=rng.choice([3, 6, 12]),
                        repayment_method=rng.choice(["equal_installment", "equal_principal"]),
                        channel="web",
                    )
                elif op == "repay":
                    business_date_set(day=get_business_date() + dt.timedelta(days=rng.randrange(10, 40)))
                    loans = [d.loan for d in Drawdown.objects.filter(line=line, state="disbursed").select_related("loan")]
                    loans = [loan for loan in loans if loan.state in ("active", "overdue")]
                    if loans:
                        loan = rng.choice(loans)
                        quote = prepayment_quote(loan_id=loan.pk)
                        amount = quote.amount_due if quote.amount_due > 0 else quote.payoff
                        kind = "regular" if quote.amount_due > 0 else "prepayment"
                        repayment_record(
                            loan_id=loan.pk,
                            amount=amount,
                            channel="core_banking",
                            kind=kind,
                            prepayment_option="reduce_payment" if kind == "prepayment" else "",
                            external_id=f"S{seed}-{_step}",
                        )
                elif op == "reverse":
                    live = list(Repayment.objects.filter(loan__drawdown__line=line, status="posted").order_by("id"))
                    if live:
                        repayment_reverse(repayment_id=rng.choice(live).pk, reason="退票")
                elif op == "adjust":
                    request = credit_line_request_submit(
                        line_id=line.pk,
                        action="adjust",
                        maker=maker,
                        reason="调额",
                        new_limit=str(rng.randrange(30, 90) * 1000),
                    )
                    credit_line_request_approve(request_id=request.pk, checker=checker)
                elif op == "freeze":
                    for action in ("freeze", "unfreeze"):
                        request = credit_line_request_submit(line_id=line.pk, action=action, maker=maker, reason=action)
                        credit_line_request_approve(request_id=request.pk, checker=checker)
        except ApplicationError:
            pass  # refused steps change nothing; check() proves it
        line = check(line)
    kinds = set(CreditLineChange.objects.filter(line=line).values_list("kind", flat=True))
    assert {"drawdown", "release", "restore", "adjust"} <= kinds  # the sequence exercised the paths
