"""Points balance and history for a customer through the signed API, scoped to the caller's institution."""

import pytest

from lifestyle.services import vouchers
from tests.factories import InstitutionFactory, SignedApi, make_client, make_customer
from tests.lifestyle.factories import give_points, make_benefit, make_merchant, make_rule, set_point_value

pytestmark = pytest.mark.django_db


def test_balance_and_history_with_reasons_and_merchant(client, institution, customer):
    make_rule(topic="customers.kyc_verified", code="kyc", points_fixed=20, hold_days=10)
    from lifestyle.services import earning

    earning.points_award_for_event(topic="customers.kyc_verified", payload={"customer_id": customer.pk})
    give_points(customer, 500, validity_days=30)
    shop = make_merchant(institution=institution, name="丰收农资店")
    set_point_value(institution)
    benefit = make_benefit(institution=institution, merchants=[shop], points_price=200, name="农资券")
    voucher = vouchers.voucher_issue(customer=customer, benefit_id=benefit.pk, request_token=vouchers.new_request_token())
    vouchers.voucher_verify(merchant=shop, user=None, token=vouchers.voucher_qr_token(voucher=voucher).value)
    api = SignedApi(client, make_client(institution=institution, scopes=["points:read"]))
    balance = api.get(f"/api/v1/points/customers/{customer.pk}/balance").json()
    assert (balance["balance"], balance["pending"], balance["debt"]) == (300, 20, 0)
    assert balance["expiring"][0]["points"] == 300
    history = api.get(f"/api/v1/points/customers/{customer.pk}/history").json()
    rows = history["results"]
    assert history["count"] == 3
    spend = next(r for r in rows if r["kind"] == "spend")
    assert spend["points"] == -200 and spend["merchant"] == "丰收农资店" and "农资券" in spend["reason"]
    kyc = next(r for r in rows if r["rule_code"] == "kyc")
    assert kyc["status"] == "pending" and kyc["reason"] == "完成实名认证"


def test_other_institution_customer_is_404_and_scope_required(client, institution, customer):
    foreign = make_customer(institution=InstitutionFactory(), name="外行")
    api = SignedApi(client, make_client(institution=institution, scopes=["points:read"]))
    assert api.get(f"/api/v1/points/customers/{foreign.pk}/balance").status_code == 404
    assert api.get(f"/api/v1/points/customers/{foreign.pk}/history").status_code == 404
    writer = SignedApi(client, make_client(institution=institution, scopes=["points:write"]))
    assert writer.get(f"/api/v1/points/customers/{customer.pk}/balance").status_code == 403
    empty = api.get(f"/api/v1/points/customers/{customer.pk}/history").json()
    assert empty["count"] == 0 and empty["results"] == []
