"""Reasons of points movements in the reader's language: the stored Chinese text is the record (and what the
Chinese page shows, unchanged); English is built from each row's structured data, the stored text where it cannot be."""

import datetime as dt
import html
import re

import pytest
from django.utils import timezone, translation

from lifestyle import reasons
from lifestyle.models import PointsDebit, PointsLot
from lifestyle.services import earning, ledger, vouchers
from tests.factories import SignedApi, make_client, make_staff
from tests.lifestyle.factories import assert_ledger_ok, login_customer, make_benefit, make_merchant, make_rule, set_point_value

pytestmark = pytest.mark.django_db

HAN = re.compile(r"[\u4e00-\u9fff]")
# a history row: the reason (the text before the kind / status line) and the points
HISTORY_ROW = re.compile(
    r'<td class="small">[^<]*</td>\s*<td>(.*?)\s*<div class="muted small">.*?</div></td>\s*<td class="num[^"]*">([^<]*)</td>',
    re.S,
)


def history_cells(page: str) -> list[tuple[str, str]]:
    return [(html.unescape(reason), points) for reason, points in HISTORY_ROW.findall(page)]


def reason_cells(page: str) -> list[str]:
    return [reason for reason, _ in history_cells(page)]


def repaid(customer, *, loan_id: int, number: int, now=None) -> PointsLot:
    payload = {"loan_id": loan_id, "customer_id": customer.pk, "installment_number": number, "on_time": True}
    source = earning.source_from_event("lending.installment_paid", payload)
    (result,) = earning.points_award_source(topic="lending.installment_paid", source=source, now=now)
    assert result.status == "awarded", result
    return result.lot


@pytest.fixture
def movements(institution, customer):
    """An earning expired (loan 12 installment 2), one earning partly spent on a benefit (installment 3), and a
    KYC reward reversed by a staff member."""
    make_rule(topic="lending.installment_paid", code="ontime", points_fixed=50, validity_days=365)
    make_rule(topic="customers.kyc_verified", code="kyc", points_fixed=20, validity_days=1000)
    old = repaid(customer, loan_id=12, number=2, now=timezone.now() - dt.timedelta(days=400))
    ledger.lots_expire_due()
    repaid(customer, loan_id=12, number=3)
    (kyc,) = earning.points_award_for_event(topic="customers.kyc_verified", payload={"customer_id": customer.pk})
    shop = make_merchant(institution=institution, name="Harvest Shop")
    set_point_value(institution)
    benefit = make_benefit(institution=institution, merchants=[shop], points_price=40, name="Rice 5kg")
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    staff = make_staff(role=None, institution=institution, username="ops01")
    ledger.lot_reverse(lot_id=kyc.lot.pk, reason="duplicate event", actor=staff.user)
    assert_ledger_ok()
    return {"expired_lot": old, "voucher": voucher, "shop": shop}


ENGLISH = {
    "On-time repayment (loan 12, installment 2)",  # earned, then expired
    "Points expired",
    "On-time repayment (loan 12, installment 3)",
    "Identity verified",
    "Benefit redeemed: Rice 5kg",
    "Reward reversed: duplicate event (handled by ops01)",
}
CHINESE = [  # newest first, as the page lists them
    "撤销奖励：duplicate event（经办 ops01）",
    "兑换权益：Rice 5kg",
    "完成实名认证",
    "按时还款（贷款 12 第 3 期）",
    "积分到期",
    "按时还款（贷款 12 第 2 期）",
]


def test_english_history_words_each_reason_from_the_rows_data(client, customer, movements):
    login_customer(client, customer)
    client.cookies["django_language"] = "en"
    rows = history_cells(client.get("/life/points/").content.decode())
    assert rows == [  # newest first
        ("Reward reversed: duplicate event (handled by ops01)", "-20"),
        ("Benefit redeemed: Rice 5kg", "-40"),
        ("Identity verified", "+20"),
        ("On-time repayment (loan 12, installment 3)", "+50"),
        ("Points expired", "-50"),
        ("On-time repayment (loan 12, installment 2)", "+50"),
    ]
    assert {reason for reason, _ in rows} == ENGLISH
    assert [reason for reason, _ in rows if HAN.search(reason)] == []


def _without_csrf(page: str) -> str:
    return re.sub(r'(csrfmiddlewaretoken" value="|CSRFToken": ")[^"]*"', "", page)


def test_chinese_history_shows_the_stored_text_exactly_as_before(client, customer, movements, monkeypatch):
    login_customer(client, customer)
    page = client.get("/life/points/").content.decode()
    stored = list(PointsLot.objects.values_list("reason", flat=True)) + list(PointsDebit.objects.values_list("reason", flat=True))
    assert reason_cells(page) == CHINESE and sorted(CHINESE) == sorted(stored)
    # before: every row printed its stored reason as it is
    monkeypatch.setattr(reasons, "lot_reason", lambda *, reason, **_: reason)
    monkeypatch.setattr(reasons, "debit_reason", lambda *, reason, **_: reason)
    before = client.get("/life/points/").content.decode()
    assert _without_csrf(page) == _without_csrf(before)


def test_writers_store_the_chinese_record_and_the_structure_to_word_it(customer, movements):
    lot = PointsLot.objects.get(source_ref="loan:12:installment:3")
    assert lot.reason == "按时还款（贷款 12 第 3 期）"
    assert lot.reference["loan_id"] == 12  # the keys written before stay
    assert (lot.reference["reason_key"], lot.reference["reason_args"]) == ("installment_paid", {"loan_id": 12, "number": 3})
    spend = PointsDebit.objects.get(kind=PointsDebit.Kind.SPEND)
    assert spend.reference["reason_args"] == {"benefit": "Rice 5kg"} and "benefit_id" in spend.reference
    reversal = PointsDebit.objects.get(kind=PointsDebit.Kind.REVERSAL)
    assert reversal.reference["reason_args"] == {"note": "duplicate event", "staff": "ops01"} and reversal.reference["actor_id"]


def test_old_rows_without_the_structured_keys(client, customer, movements):
    """Rows written before the reason keys existed: the on-time repayment is rebuilt from its source reference and
    the expiry from its kind; the benefit's name and the staff note are nowhere else, so the stored text shows."""
    for row in [*PointsLot.objects.all(), *PointsDebit.objects.all()]:
        kept = {key: value for key, value in row.reference.items() if not key.startswith("reason_")}
        type(row).objects.filter(pk=row.pk).update(reference=kept)
    login_customer(client, customer)
    client.cookies["django_language"] = "en"
    cells = set(reason_cells(client.get("/life/points/").content.decode()))
    assert cells == {
        "On-time repayment (loan 12, installment 2)",
        "Points expired",
        "On-time repayment (loan 12, installment 3)",
        "Identity verified",
        "兑换权益：Rice 5kg",
        "撤销奖励：duplicate event（经办 ops01）",
    }


def test_free_text_or_truncated_reasons_show_as_stored(client, customer, movements):
    """Keys that do not reproduce the stored text (a truncated name, a rule's own wording) are not trusted."""
    PointsDebit.objects.filter(kind=PointsDebit.Kind.SPEND).update(reason="兑换权益：Rice 5")  # cut at 200 characters
    PointsLot.objects.filter(source_ref="loan:12:installment:3").update(reason="按时还款奖励")
    login_customer(client, customer)
    client.cookies["django_language"] = "en"
    cells = set(reason_cells(client.get("/life/points/").content.decode()))
    assert {"兑换权益：Rice 5", "按时还款奖励"} <= cells
    assert "Benefit redeemed: Rice 5kg" not in cells and "On-time repayment (loan 12, installment 3)" not in cells


def test_refund_and_debt_settlement_in_english(client, institution, customer, movements):
    """A redemption reversed at the merchant returns points as a new lot; a reversed earning that was spent becomes
    debt, repaid from the next earning (the settlement quotes that earning's reason, in the reader's language)."""
    voucher = movements["voucher"]
    vouchers.voucher_verify(merchant=movements["shop"], user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    vouchers.voucher_redemption_reverse(voucher_id=voucher.pk, user=None, reason="returned goods")
    spent_lot = PointsLot.objects.get(source_ref="loan:12:installment:3")
    ledger.lot_reverse(lot_id=spent_lot.pk, reason="repayment reversed")
    repaid(customer, loan_id=12, number=4)
    settlement = PointsDebit.objects.get(kind=PointsDebit.Kind.DEBT_SETTLEMENT)
    assert settlement.reason == "抵扣欠分（按时还款（贷款 12 第 4 期））"
    assert_ledger_ok()
    login_customer(client, customer)
    client.cookies["django_language"] = "en"
    cells = set(reason_cells(client.get("/life/points/").content.decode()))
    assert {
        "Points returned, redemption reversed: Rice 5kg (returned goods)",
        "Reward reversed: repayment reversed",
        "On-time repayment (loan 12, installment 4)",
        "Points owed repaid from: On-time repayment (loan 12, installment 4)",
    } <= cells
    assert [cell for cell in cells if HAN.search(cell)] == []
    del client.cookies["django_language"]
    chinese = reason_cells(client.get("/life/points/").content.decode())
    assert {"核销撤销退回：Rice 5kg（returned goods）", "撤销奖励：repayment reversed", settlement.reason} <= set(chinese)


def test_api_gives_the_recorded_reason_and_its_english_wording(client, institution, customer, movements):
    api = SignedApi(client, make_client(institution=institution, scopes=["points:read"]))
    rows = api.get(f"/api/v1/points/customers/{customer.pk}/history").json()["results"]
    assert [row["reason"] for row in rows] == CHINESE
    assert {row["reason_en"] for row in rows} == ENGLISH
    spend = next(row for row in rows if row["kind"] == "spend")
    assert (spend["points"], spend["reason_en"]) == (-40, "Benefit redeemed: Rice 5kg")
    # the visitor's language cookie does not change what the API says
    client.cookies["django_language"] = "en"
    again = api.get(f"/api/v1/points/customers/{customer.pk}/history").json()["results"]
    assert [(row["reason"], row["reason_en"]) for row in again] == [(row["reason"], row["reason_en"]) for row in rows]


def test_every_reason_has_an_english_wording_with_the_same_placeholders():
    placeholder = re.compile(r"%\(\w+\)s")
    with translation.override("en"):
        for key, template in reasons.TEMPLATES.items():
            english = translation.gettext(template)
            assert english != template and not HAN.search(english), key
            assert sorted(placeholder.findall(english)) == sorted(placeholder.findall(template)), key


def test_data_names_stay_as_written_in_english():
    with translation.override("en"):
        shown = reasons.debit_reason(
            reason="兑换权益：农资券",
            kind="spend",
            reference={"reason_key": "benefit_redeemed", "reason_args": {"benefit": "农资券"}},
        )
    assert shown == "Benefit redeemed: 农资券"
