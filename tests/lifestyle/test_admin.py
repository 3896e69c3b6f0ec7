"""Staff back office: scoped lists, review actions through services, sign-off action, reconciliation chart,
role grants, the reconcile command."""

import io

import pytest
from django.core.management import call_command
from PIL import Image

from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from lifestyle.models import EarningRule, Merchant, ReconciliationReport
from tests.factories import InstitutionFactory, make_staff
from tests.lifestyle.factories import give_points, make_merchant, make_region, make_rule

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _groups(db):
    sync_role_permissions()


def _login(client, institution, role, **kwargs):
    staff = make_staff(role=role, institution=institution, **kwargs)
    client.force_login(staff.user)
    return staff


def test_changelists_render_for_province_admin(client, institution, customer):
    give_points(customer, 10)
    make_merchant(institution=institution)
    make_rule(topic="customers.kyc_verified")
    _login(client, None, roles.PROVINCE_ADMIN)
    for model in (
        "earningrule",
        "campaign",
        "merchant",
        "reviewtask",
        "benefit",
        "voucher",
        "settlementbatch",
        "payableline",
        "pointsaccount",
        "pointslot",
        "pointsdebit",
        "ledgerentry",
        "reconciliationreport",
        "activity",
        "referralbinding",
        "cardactivation",
        "depositmonthclose",
        "pointvaluerate",
    ):
        response = client.get(f"/admin/lifestyle/{model}/")
        assert response.status_code == 200, model


def test_merchant_ops_sees_only_own_institution_and_other_is_404(client, institution):
    mine = make_merchant(institution=institution, name="本行商户")
    other = make_merchant(institution=InstitutionFactory(), name="他行商户")
    _login(client, institution, roles.MERCHANT_OPS)
    page = client.get("/admin/lifestyle/merchant/").content.decode()
    assert "本行商户" in page and "他行商户" not in page
    assert client.get(f"/admin/lifestyle/merchant/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/lifestyle/merchant/{other.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/lifestyle/merchant/{other.pk}/transition/").status_code == 404


def test_merchant_review_through_the_admin_form(client, institution):
    signer = make_staff(role=roles.ACCOUNT_MANAGER, institution=institution)
    merchant = make_merchant(institution=institution, state="applied", signed_by=signer)
    _login(client, institution, roles.MERCHANT_OPS)
    url = f"/admin/lifestyle/merchant/{merchant.pk}/transition/"
    assert client.get(url).status_code == 200
    client.post(url, {"action": "start_review", "comment": ""})
    response = client.post(url, {"action": "reject", "comment": ""}, follow=True)
    assert "拒绝时请填写原因" in response.content.decode()
    client.post(url, {"action": "approve", "comment": "资料齐全"})
    client.post(url, {"action": "activate", "comment": ""})
    merchant.refresh_from_db()
    assert merchant.state == Merchant.State.ACTIVE
    staff_url = f"/admin/lifestyle/merchant/{merchant.pk}/staff/"
    client.post(staff_url, {"username": "till_one", "password": "Till-Passw0rd!9", "name": "收银员"})
    from jikuai.org.models import User
    from lifestyle.services.merchants import merchants_for_user

    assert list(merchants_for_user(User.objects.get(username="till_one"))) == [merchant]


def test_merchant_application_with_licence_upload(client, institution):
    staff = _login(client, institution, roles.MERCHANT_OPS)
    image = io.BytesIO()
    Image.new("RGB", (600, 400), (10, 120, 60)).save(image, format="PNG")
    image.seek(0)
    image.name = "licence.png"
    region = make_region()
    response = client.post(
        "/admin/lifestyle/merchant/add/",
        {
            "institution": institution.pk,
            "name": "后台录入商户",
            "category": "pharmacy",
            "region": region.pk,
            "settlement_account_input": "621700001234567890",
            "settlement_account_name": "后台录入商户",
            "settlement_cycle": "weekly",
            "fee_rate": "0.0050",
            "licence_upload": image,
            "address": "",
            "contact_name": "",
            "licence_no": "",
            "contact_mobile_input": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    merchant = Merchant.objects.get(name="后台录入商户")
    assert merchant.licence_image.endswith(".jpg") and merchant.state == "applied"
    assert client.get(f"/admin/lifestyle/merchant/{merchant.pk}/licence/")["Content-Type"] == "image/jpeg"
    assert staff.institution_id == merchant.institution_id


def test_sign_off_action_only_for_compliance(client, institution):
    maker = make_staff(role=roles.INSTITUTION_ADMIN, institution=institution)
    rule = make_rule(
        topic="lifestyle.deposit_growth",
        code="dep-admin",
        institution=institution,
        deposit_unit_fen=100_000,
        deposit_points_per_unit=1,
        hold_days=30,
    )
    EarningRule.objects.filter(pk=rule.pk).update(created_by=maker.user)
    _login(client, institution, roles.OPERATIONS)
    client.post("/admin/lifestyle/earningrule/", {"action": "sign_off", "_selected_action": [rule.pk]})
    rule.refresh_from_db()
    assert not rule.is_signed_off
    _login(client, institution, roles.RISK_OFFICER)
    client.post("/admin/lifestyle/earningrule/", {"action": "sign_off", "_selected_action": [rule.pk]})
    rule.refresh_from_db()
    assert rule.is_signed_off


def test_reconciliation_page_shows_a_chart_and_the_command_reports(client, customer):
    give_points(customer, 100)
    call_command("reconcile_points", stdout=io.StringIO())
    call_command("reconcile_points", stdout=io.StringIO())
    assert ReconciliationReport.objects.filter(kind="points", ok=True).count() == 2
    _login(client, None, roles.PROVINCE_ADMIN)
    page = client.get("/admin/lifestyle/reconciliationreport/").content.decode()
    assert "<svg" in page and "积分负债" in page


def test_reconcile_command_fails_loudly_on_a_broken_ledger(customer):
    from lifestyle.models import PointsAccount

    give_points(customer, 100)
    PointsAccount.objects.filter(customer=customer).update(balance=99)
    out = io.StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("reconcile_points", stdout=out)
    assert info.value.code == 1 and "MISMATCH" in out.getvalue()


def test_role_grants_are_registered():
    from django.contrib.auth.models import Group

    merchant_ops = set(Group.objects.get(name=roles.MERCHANT_OPS).permissions.values_list("codename", flat=True))
    assert {
        "view_merchant",
        "change_merchant",
        "view_benefit",
        "add_benefit",
        "view_settlementbatch",
        "review_merchant",
    } <= merchant_ops
    operations = set(Group.objects.get(name=roles.OPERATIONS).permissions.values_list("codename", flat=True))
    assert "view_settlementbatch" in operations and "change_settlementbatch" not in operations
    assert "sign_off_rule" in set(Group.objects.get(name=roles.RISK_OFFICER).permissions.values_list("codename", flat=True))


def test_change_and_add_pages_render(client, institution, customer, branch):
    import datetime as dt

    from django.utils import timezone

    from lifestyle.models import Activity, Benefit, Campaign, PointsLot, SettlementBatch, Voucher
    from lifestyle.services import community, settlement, vouchers
    from tests.lifestyle.factories import make_benefit, set_point_value

    admin_staff = _login(client, institution, roles.PROVINCE_ADMIN, branch=branch)
    give_points(customer, 1000)
    shop = make_merchant(institution=institution)
    set_point_value(institution)
    benefit = make_benefit(institution=institution, merchants=[shop], points_price=100)
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    vouchers.voucher_verify(merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    today = timezone.localdate()
    batch = settlement.settlement_batch_create(merchant_id=shop.pk, period_start=today, period_end=today + dt.timedelta(days=1))
    rule = make_rule(topic="customers.kyc_verified", institution=institution)
    campaign = Campaign.objects.create(
        code="c1", name="活动", starts_at=timezone.now(), ends_at=timezone.now() + dt.timedelta(days=1), budget_total=100
    )
    activity = community.activity_create(
        organiser=admin_staff,
        village=make_region(),
        kind="life",
        title="讲座",
        venue="村委会",
        starts_at=timezone.now(),
        ends_at=timezone.now() + dt.timedelta(hours=1),
    )
    pages = [
        f"/admin/lifestyle/earningrule/{rule.pk}/change/",
        "/admin/lifestyle/earningrule/add/",
        f"/admin/lifestyle/campaign/{campaign.pk}/change/",
        "/admin/lifestyle/campaign/add/",
        f"/admin/lifestyle/merchant/{shop.pk}/change/",
        "/admin/lifestyle/merchant/add/",
        f"/admin/lifestyle/merchant/{shop.pk}/staff/",
        f"/admin/lifestyle/benefit/{benefit.pk}/change/",
        "/admin/lifestyle/benefit/add/",
        f"/admin/lifestyle/voucher/{voucher.pk}/change/",
        f"/admin/lifestyle/voucher/{voucher.pk}/reverse/",
        f"/admin/lifestyle/settlementbatch/{batch.pk}/change/",
        f"/admin/lifestyle/settlementbatch/{batch.pk}/pdf/",
        f"/admin/lifestyle/pointslot/{PointsLot.objects.first().pk}/change/",
        f"/admin/lifestyle/pointslot/{PointsLot.objects.first().pk}/reverse/",
        f"/admin/lifestyle/activity/{activity.pk}/change/",
        "/admin/lifestyle/activity/add/",
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
    # reversal of a redemption from the admin form
    client.post(f"/admin/lifestyle/voucher/{voucher.pk}/reverse/", {"action": "reverse", "comment": "顾客退货"})
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.REVERSED
    # a new earning rule through the admin form is validated by the service
    response = client.post(
        "/admin/lifestyle/earningrule/add/",
        {
            "code": "bad-expr",
            "name": "坏表达式",
            "topic": "customers.kyc_verified",
            "condition_expression": "a >",
            "points_fixed": 5,
            "validity_days": 365,
            "hold_days": 0,
            "funding_source": "bank_marketing",
            "segment_occupations": "[]",
            "deposit_min_growth_fen": 0,
            "is_active": "on",
        },
        follow=True,
    )
    assert "表达式有误" in response.content.decode()
    assert not EarningRule.objects.filter(code="bad-expr").exists()
    assert Benefit.objects.count() == 1 and Activity.objects.count() == 1 and SettlementBatch.objects.count() == 1
