"""lifestyle test helpers: rules, merchants with portal users, benefits, customer logins, ledger assertions."""

import datetime as dt
import itertools
from decimal import Decimal

from django.utils import timezone
from guardian.shortcuts import assign_perm

from jikuai.customers.models import Region
from jikuai.org.models import User
from jikuai.web.middleware import CUSTOMER_SESSION_KEY, CUSTOMER_SESSION_VERSION_KEY
from lifestyle.models import Benefit, EarningRule, Merchant, PointValueRate
from lifestyle.services import earning, reconciliation

_seq = itertools.count(1)


def make_rule(*, topic: str, code: str | None = None, points_fixed: int = 10, institution=None, **fields) -> EarningRule:
    rule = EarningRule(
        code=code or f"rule-{next(_seq)}",
        name=fields.pop("name", "测试规则"),
        topic=topic,
        points_fixed=points_fixed,
        institution=institution,
        **fields,
    )
    return earning.rule_save(rule=rule, user=None)


def give_points(customer, points: int, *, ref: str | None = None, validity_days: int = 365, now=None):
    """Award ``points`` active points through a real rule (topic lifestyle.checkin, fixed points)."""
    code = f"grant-{points}-{validity_days}"
    rule = EarningRule.objects.filter(code=code).first() or make_rule(
        topic="lifestyle.checkin", code=code, points_fixed=points, validity_days=validity_days, name="测试发放"
    )
    source = earning.EarningSource(customer_id=customer.pk, source_ref=ref or f"grant:{next(_seq)}", reason="测试发放")
    result = earning.points_award(rule=rule, customer=customer, source=source, now=now)
    assert result.status == "awarded", result
    return result.lot


def make_region(code: str = "220182100001", name: str = "测试村", level: int = 5) -> Region:
    region, _ = Region.objects.get_or_create(code=code, defaults={"name": name, "level": level})
    return region


def make_merchant(*, institution, state: str = Merchant.State.ACTIVE, code: str | None = None, **fields) -> Merchant:
    n = next(_seq)
    merchant = Merchant(
        institution=institution,
        code=code or f"M{n:05d}",
        name=fields.pop("name", f"测试商户{n}"),
        category=fields.pop("category", Merchant.Category.SUPERMARKET),
        region=fields.pop("region", None) or make_region(),
        state=state,
        settlement_account=fields.pop("settlement_account", "6217000012345678"),
        settlement_account_name=fields.pop("settlement_account_name", "测试商户"),
        **fields,
    )
    merchant.save()
    return merchant


def make_merchant_user(merchant: Merchant, *, username: str | None = None, password: str = "Shop-Passw0rd!") -> User:
    """Merchant staff: a login user WITHOUT a Staff profile, granted only this merchant (guardian)."""
    user = User.objects.create_user(username=username or f"shop{next(_seq)}", password=password, is_staff=False)
    assign_perm("lifestyle.operate_merchant", user, merchant)
    return user


def set_point_value(institution, yuan_per_point: str = "0.010000", *, at=None) -> PointValueRate:
    return PointValueRate.objects.create(
        institution=institution,
        yuan_per_point=Decimal(yuan_per_point),
        effective_from=at or timezone.now() - dt.timedelta(days=1),
    )


def make_benefit(*, institution, merchants=(), points_price: int = 100, **fields) -> Benefit:
    stock = fields.pop("stock", None)
    benefit = Benefit.objects.create(
        institution=institution,
        name=fields.pop("name", "10元满减券"),
        kind=fields.pop("kind", Benefit.Kind.AMOUNT_OFF),
        face_value=fields.pop("face_value", Decimal("10.00")),
        points_price=points_price,
        stock_total=stock,
        stock_remaining=stock,
        available_from=fields.pop("available_from", timezone.now() - dt.timedelta(days=1)),
        **fields,
    )
    if merchants:
        benefit.merchants.set(merchants)
    return benefit


def login_customer(client, customer) -> None:
    """Log a customer in for page tests the way the web login does: the two session keys."""
    customer.refresh_from_db()
    if not customer.web_enabled:
        from jikuai.customers.services import customer_set_password

        customer_set_password(customer=customer, password="Cust-Passw0rd!2026")
        customer.refresh_from_db()
    session = client.session
    session[CUSTOMER_SESSION_KEY] = customer.pk
    session[CUSTOMER_SESSION_VERSION_KEY] = customer.password[-16:]
    session.save()


def assert_ledger_ok(account_ids=None) -> None:
    check = reconciliation.points_check(account_ids=account_ids)
    assert check.ok, check.mismatches
