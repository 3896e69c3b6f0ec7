"""Settlement: batches per merchant and period, statement PDF, confirm / dispute, payout (local and HTTP adapters,
idempotent reference), reversals as negative lines in the next batch, and the daily checks."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from jikuai.core.exceptions import ApplicationError, Conflict
from jikuai.core.workdays import business_date_set
from lifestyle import payouts
from lifestyle.models import LedgerLeg, PayableLine, ReconciliationReport, ReviewTask, SettlementBatch, Voucher
from lifestyle.services import reconciliation, settlement, uploads, vouchers
from tests.lifestyle.factories import assert_ledger_ok, give_points, make_benefit, make_merchant, set_point_value

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(institution):
    return make_merchant(institution=institution, fee_rate=Decimal("0.0060"), settlement_cycle="t1")


def _redeem(customer, shop, *, price=500, share="1"):
    funding = {"1": "bank", "0": "merchant"}.get(share, "co_funded")
    benefit = make_benefit(
        institution=shop.institution, merchants=[shop], points_price=price, funding=funding, bank_share=Decimal(share)
    )
    give_points(customer, price)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    return vouchers.voucher_verify(merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)


def test_t1_batch_statement_confirm_pay_and_checks(institution, customer, shop):
    set_point_value(institution, "0.010000")
    business_date_set(day=dt.date(2026, 6, 1))
    _redeem(customer, shop, price=1000)  # 10.00
    _redeem(customer, shop, price=550, share="0.6")  # 5.50 × 0.6 = 3.30
    assert settlement.period_due("t1", dt.date(2026, 6, 2)) == (dt.date(2026, 6, 1), dt.date(2026, 6, 1))
    [batch] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    assert (batch.line_count, batch.points, batch.gross_amount) == (2, 1550, Decimal("13.30"))
    assert (batch.fee_amount, batch.net_amount) == (Decimal("0.08"), Decimal("13.22"))
    pdf = uploads.private_read(batch.statement_file)
    assert pdf.startswith(b"%PDF") and b"STSong-Light" in pdf
    # creating the same period again returns the same batch
    assert (
        settlement.settlement_batch_create(
            merchant_id=shop.pk, period_start=dt.date(2026, 6, 1), period_end=dt.date(2026, 6, 1)
        ).pk
        == batch.pk
    )
    with pytest.raises(Conflict):
        settlement.settlement_pay(batch_id=batch.pk)  # not confirmed yet
    settlement.settlement_confirm(batch_id=batch.pk, merchant_id=shop.pk, user=None)
    paid = settlement.settlement_pay(batch_id=batch.pk)
    assert paid.state == SettlementBatch.State.PAID and paid.payout_bank_reference == f"LOCAL-{batch.payout_reference}"
    assert settlement.settlement_pay(batch_id=batch.pk).state == SettlementBatch.State.PAID  # repeat: no-op
    settled = LedgerLeg.objects.filter(book="settled", merchant=shop).values_list("points", flat=True)
    assert list(settled) == [-1550]
    assert reconciliation.settlement_check().ok
    assert reconciliation.reconcile_points().ok


def test_reversal_becomes_a_negative_line_in_the_next_batch(institution, customer, shop):
    set_point_value(institution, "0.010000")
    business_date_set(day=dt.date(2026, 6, 1))
    first = _redeem(customer, shop, price=1000)
    [batch1] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    business_date_set(day=dt.date(2026, 6, 2))
    vouchers.voucher_redemption_reverse(voucher_id=first.pk, user=None, reason="顾客退货")
    _redeem(customer, shop, price=3000)
    [batch2] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 3))
    kinds = sorted(batch2.lines.values_list("kind", "amount"))
    assert kinds == [("redemption", Decimal("30.00")), ("reversal", Decimal("-10.00"))]
    assert batch2.gross_amount == Decimal("20.00") and batch1.gross_amount == Decimal("10.00")
    assert reconciliation.settlement_check().ok
    assert_ledger_ok()


def test_negative_period_carries_forward(institution, customer, shop):
    set_point_value(institution)
    business_date_set(day=dt.date(2026, 6, 1))
    voucher = _redeem(customer, shop, price=1000)
    settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    business_date_set(day=dt.date(2026, 6, 2))
    vouchers.voucher_redemption_reverse(voucher_id=voucher.pk, user=None, reason="整单退")
    assert settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 3)) == []
    assert PayableLine.objects.filter(batch__isnull=True, kind="reversal").count() == 1


def test_dispute_creates_a_review_task_and_void_releases_lines(institution, customer, shop):
    set_point_value(institution)
    business_date_set(day=dt.date(2026, 6, 1))
    _redeem(customer, shop)
    [batch] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    with pytest.raises(ApplicationError):
        settlement.settlement_dispute(batch_id=batch.pk, merchant_id=shop.pk, user=None, reason=" ")
    settlement.settlement_dispute(batch_id=batch.pk, merchant_id=shop.pk, user=None, reason="少了一笔")
    task = ReviewTask.objects.get(kind="settlement_dispute")
    assert task.settlement_id == batch.pk and task.status == "open"
    with pytest.raises(Conflict):
        settlement.settlement_confirm(batch_id=batch.pk, merchant_id=shop.pk, user=None)
    settlement.settlement_resolve(batch_id=batch.pk, user=None, uphold=False, comment="重新对账")
    batch.refresh_from_db()
    assert batch.state == "voided" and not batch.lines.exists()
    task.refresh_from_db()
    assert task.status == "done"
    [again] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 3))
    assert again.line_count == 1


def test_other_merchant_cannot_confirm(institution, customer, shop):
    set_point_value(institution)
    business_date_set(day=dt.date(2026, 6, 1))
    _redeem(customer, shop)
    [batch] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    other = make_merchant(institution=institution)
    with pytest.raises(settlement.NotFound):
        settlement.settlement_confirm(batch_id=batch.pk, merchant_id=other.pk, user=None)
    batch.refresh_from_db()
    assert batch.state == "issued"


def test_weekly_and_monthly_periods():
    monday = dt.date(2026, 6, 8)
    assert settlement.period_due("weekly", monday) == (dt.date(2026, 6, 1), dt.date(2026, 6, 7))
    assert settlement.period_due("weekly", monday + dt.timedelta(days=1)) is None
    assert settlement.period_due("monthly", dt.date(2026, 7, 1)) == (dt.date(2026, 6, 1), dt.date(2026, 6, 30))
    assert settlement.period_due("monthly", dt.date(2026, 7, 2)) is None


class _CoreBanking(BaseHTTPRequestHandler):
    """Stand-in for the core-banking payout endpoint (outside the platform): idempotent by Idempotency-Key."""

    seen: dict = {}
    fail_first = False

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        if type(self).fail_first:
            type(self).fail_first = False
            self.send_response(503)
            self.end_headers()
            return
        if key not in self.seen:
            self.seen[key] = {"status": "succeeded", "bank_reference": f"CB{len(self.seen) + 1:06d}", "amount": body["amount"]}
        answer = json.dumps(self.seen[key]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_http_payout_adapter_is_idempotent_and_retries_after_failure(institution, customer, shop):
    server = HTTPServer(("127.0.0.1", 0), _CoreBanking)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _CoreBanking.seen = {}
        _CoreBanking.fail_first = True
        adapter = payouts.HttpPayoutAdapter(url=f"http://127.0.0.1:{server.server_port}/payouts", secret="s3cret")
        set_point_value(institution)
        business_date_set(day=dt.date(2026, 6, 1))
        _redeem(customer, shop, price=2000)
        [batch] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
        settlement.settlement_confirm(batch_id=batch.pk, merchant_id=shop.pk, user=None)
        failed = settlement.settlement_pay(batch_id=batch.pk, adapter=adapter)
        assert failed.state == "confirmed" and "503" in failed.payout_error
        assert not LedgerLeg.objects.filter(book="settled").exists()
        paid = settlement.settlement_pay(batch_id=batch.pk, adapter=adapter)
        assert paid.state == "paid" and paid.payout_bank_reference == "CB000001"
        # the core answers the same reference with the same payment: a duplicate call cannot pay twice
        again = adapter.pay(
            payouts.PayoutRequest(
                reference=batch.payout_reference, amount=batch.net_amount, account_no="1", account_name="x", merchant_code="m"
            )
        )
        assert again.bank_reference == "CB000001" and len(_CoreBanking.seen) == 1
        assert _CoreBanking.seen[batch.payout_reference]["amount"] == str(batch.net_amount)
    finally:
        server.shutdown()


def test_auto_confirm_after_three_days(institution, customer, shop):
    set_point_value(institution)
    business_date_set(day=dt.date(2026, 6, 1))
    _redeem(customer, shop)
    [batch] = settlement.settlement_batches_create_due(business_date=dt.date(2026, 6, 2))
    assert settlement.settlements_auto_confirm(now=timezone.now() + dt.timedelta(days=2)) == 0
    assert settlement.settlements_auto_confirm(now=timezone.now() + dt.timedelta(days=4)) == 1
    batch.refresh_from_db()
    assert batch.state == "confirmed"


def test_settlement_check_detects_a_missing_payable_line(institution, customer, shop):
    set_point_value(institution)
    voucher = _redeem(customer, shop)
    assert reconciliation.settlement_check().ok
    PayableLine.objects.filter(voucher=voucher).delete()
    report = reconciliation.settlement_check()
    assert not report.ok and report.mismatches == 1
    assert ReconciliationReport.objects.filter(kind="settlement", ok=False).exists()
    assert Voucher.objects.get(pk=voucher.pk).status == "redeemed"
