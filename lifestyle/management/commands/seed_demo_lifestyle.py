"""python manage.py seed_demo_lifestyle — idempotent 漫生活 demo data on top of the kernel demo: point values,
earning rules (deposit rule compliance-signed by the risk officer), a campaign, merchants with portal logins,
a benefits catalogue, an activity, and some points and a voucher for the web demo customers."""

import datetime as dt
import io
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from jikuai.core.demo import DEMO_CUSTOMER_MOBILES, DEMO_PASSWORD
from jikuai.customers.models import Customer, Region
from jikuai.customers.services import mobile_index
from jikuai.org.models import Institution, Staff, User
from lifestyle import reasons
from lifestyle.models import Activity, Benefit, Campaign, EarningRule, Merchant, PointValueRate, Voucher
from lifestyle.services import community, earning, merchants, reconciliation, vouchers

BANK_PREFIX = {"YSRCB": "ys", "YBRCB": "yb", "DHRCB": "dh", "WQRCB": "wq", "YTRCU": "yt"}

RULES = [
    # code suffix, name, topic, fields
    (
        "ontime",
        "按时还款奖励",
        "lending.installment_paid",
        {"condition_expression": "on_time == true", "points_expression": "floor(amount_fen / 10000)", "cap_per_month": 500},
    ),
    (
        "first-drawdown",
        "首次用信奖励",
        "lending.loan_disbursed",
        {"condition_expression": "first_drawdown == true", "points_fixed": 200, "cap_per_customer": 200},
    ),
    ("kyc", "实名认证奖励", "customers.kyc_verified", {"points_fixed": 50, "cap_per_customer": 50}),
    ("welcome", "新客户注册礼", "customers.customer_created", {"points_fixed": 500, "cap_per_customer": 500}),
    ("card", "社保卡激活奖励", "lifestyle.card_activated", {"points_fixed": 100}),
    ("referral", "推荐好友奖励", "lifestyle.referral_qualified", {"points_fixed": 300, "cap_per_month": 1500}),
    (
        "checkin",
        "每日签到（每7天加赠）",
        "lifestyle.checkin",
        {"points_expression": "streak % 7 == 0 ? 20 : 5", "validity_days": 180},
    ),
    ("activity", "参加社区活动", "lifestyle.activity_attended", {"points_fixed": 30, "cap_per_month": 90}),
    (
        "deposit",
        "存款日均增长奖励",
        "lifestyle.deposit_growth",
        {
            "deposit_unit_fen": 1_000_000,
            "deposit_points_per_unit": 100,
            "deposit_min_growth_fen": 500_000,
            "cap_per_month": 1000,
            "hold_days": 30,
            "funding_source": "deposit_marketing",
        },
    ),
]

MERCHANTS = [
    ("惠民超市", "supermarket"),
    ("丰收农资店", "agri_supplies"),
    ("仁和大药房", "pharmacy"),
    ("老味道饭店", "catering"),
]

BENEFITS = [
    ("10元超市购物券", "amount_off", 1000, Decimal("10.00"), 200, "bank", Decimal("1"), [0]),
    ("农资9折券（最高优惠50元）", "discount", 800, Decimal("50.00"), 100, "co_funded", Decimal("0.5000"), [1]),
    ("5元药店抵用券", "amount_off", 500, Decimal("5.00"), None, "bank", Decimal("1"), [2]),
    ("农家菜满100减20", "amount_off", 1500, Decimal("20.00"), 50, "merchant", Decimal("0"), [3]),
    ("粮油礼包（5斤大米）", "goods", 2500, Decimal("25.00"), 30, "bank", Decimal("1"), [0, 1]),
]


def licence_image(name: str) -> bytes:
    image = Image.new("RGB", (900, 640), (250, 246, 232))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 880, 620), outline=(180, 40, 40), width=6)
    draw.text((60, 60), f"BUSINESS LICENCE (DEMO) {abs(hash(name)) % 10**8:08d}", fill=(60, 60, 60))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


class Command(BaseCommand):
    help = "Load 吉快·漫生活 demo data (idempotent)."

    def handle(self, *args, **options):
        institutions = list(Institution.objects.filter(code__in=BANK_PREFIX))
        if not institutions:
            self.stdout.write("lifestyle demo: no demo institutions found (run seed_demo first)")
            return
        for institution in institutions:
            self._seed(institution, BANK_PREFIX[institution.code])
        report = reconciliation.reconcile_points()
        self.stdout.write(f"lifestyle demo data ready; points ledger {'balanced' if report.ok else 'NOT balanced'}")

    def _seed(self, institution: Institution, prefix: str) -> None:
        staff = {
            s.user.username.split("_", 1)[1]: s for s in Staff.objects.filter(institution=institution).select_related("user")
        }
        admin, risk, ops = staff.get("admin"), staff.get("risk"), staff.get("merchant")
        if not (admin and risk and ops and staff.get("am1")):
            self.stdout.write(f"lifestyle demo: staff of {institution.code} missing, skipped")
            return
        if not PointValueRate.objects.filter(institution=institution).exists():
            PointValueRate.objects.create(
                institution=institution, yuan_per_point=Decimal("0.010000"), effective_from=timezone.now() - dt.timedelta(days=30)
            )
        rules = self._rules(institution, prefix, admin, risk)
        self._campaign(institution, prefix, rules["ontime"])
        shops = self._merchants(institution, prefix, staff, ops)
        self._benefits(institution, shops)
        self._activity(institution, staff["am1"])
        self._customers(institution, shops)

    def _rules(self, institution, prefix, admin, risk) -> dict:
        rules = {}
        for suffix, name, topic, fields in RULES:
            code = f"{prefix}-{suffix}"
            rule = EarningRule.objects.filter(code=code).first()
            if rule is None:
                rule = earning.rule_save(
                    rule=EarningRule(code=code, name=name, topic=topic, institution=institution, **fields), user=admin.user
                )
            if rule.deposit_linked and not rule.is_signed_off:
                checker = User.objects.get(pk=risk.user_id)
                if checker.has_perm("lifestyle.sign_off_rule"):
                    earning.rule_sign_off(rule_id=rule.pk, user=checker)
            rules[suffix] = rule
        return rules

    def _campaign(self, institution, prefix, rule) -> None:
        code = f"{prefix}-spring-double"
        if Campaign.objects.filter(code=code).exists():
            return
        today = timezone.localdate()
        campaign = Campaign.objects.create(
            institution=institution,
            code=code,
            name="春耕按时还款双倍积分",
            starts_at=timezone.make_aware(dt.datetime(today.year, 1, 1)),
            ends_at=timezone.make_aware(dt.datetime(today.year + 1, 1, 1)),
            multiplier=Decimal("2"),
            budget_total=100_000,
            per_customer_limit=6,
        )
        campaign.rules.add(rule)

    def _merchants(self, institution, prefix, staff, ops) -> list[Merchant]:
        villages = list(
            Region.objects.filter(level=Region.Level.VILLAGE, is_demo=True, code__startswith=institution.region_code).order_by(
                "code"
            )
        )
        if not villages:
            villages = list(Region.objects.filter(level=Region.Level.VILLAGE).order_by("code")[:4])
        if not villages:
            return []
        reviewer = User.objects.get(pk=ops.user_id)
        shops = []
        for index, (name, category) in enumerate(MERCHANTS):
            full_name = f"{villages[index % len(villages)].name}{name}"
            merchant = Merchant.objects.filter(institution=institution, name=full_name).first()
            if merchant is None:
                with transaction.atomic():
                    merchant = merchants.merchant_apply(
                        institution=institution,
                        branch=staff["am1"].branch,
                        name=full_name,
                        category=category,
                        region=villages[index % len(villages)],
                        address=f"{villages[index % len(villages)].name}主街{index + 1}号",
                        contact_name="店主",
                        settlement_account=f"62170000{institution.pk:04d}{index:04d}",
                        settlement_account_name=full_name,
                        licence_image=licence_image(full_name),
                        settlement_cycle=["t1", "weekly", "monthly", "t1"][index],
                        fee_rate="0.0050",
                        signed_by=staff["am1"],
                        is_demo=True,
                    )
                if reviewer.has_perm("lifestyle.review_merchant"):
                    for action in ("start_review", "approve", "activate"):
                        merchants.merchant_transition(merchant_id=merchant.pk, action=action, user=reviewer, comment="演示数据")
            username = f"{prefix}_shop{index + 1}"
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username=username, password=DEMO_PASSWORD, is_staff=False)
            merchants.merchant_staff_grant(merchant=merchant, user=user)
            shops.append(merchant)
        return shops

    def _benefits(self, institution, shops) -> None:
        if not shops:
            return
        for name, kind, price, face, stock, funding, share, shop_indexes in BENEFITS:
            if Benefit.objects.filter(institution=institution, name=name).exists():
                continue
            benefit = Benefit.objects.create(
                institution=institution,
                name=name,
                kind=kind,
                points_price=price,
                face_value=face,
                stock_total=stock,
                stock_remaining=stock,
                per_customer_limit=2 if stock else None,
                funding=funding,
                bank_share=share,
                voucher_validity_days=30,
                available_from=timezone.now() - dt.timedelta(days=30),
                description="演示权益，核销后由银行按积分价值与商户结算。",
            )
            benefit.merchants.set([shops[i] for i in shop_indexes if i < len(shops)])

    def _activity(self, institution, organiser) -> None:
        if Activity.objects.filter(institution=institution, title="金融知识进万家").exists():
            return
        village = (
            Region.objects.filter(level=Region.Level.VILLAGE, code__startswith=institution.region_code).order_by("code").first()
        )
        if village is None:
            return
        start = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
        community.activity_create(
            organiser=organiser,
            village=village,
            kind=Activity.Kind.LIFE,
            title="金融知识进万家",
            venue=f"{village.name}村委会",
            starts_at=start,
            ends_at=start + dt.timedelta(hours=2),
            capacity=60,
            description="防范电信诈骗、征信常识、惠农贷款政策宣讲。",
        )

    def _customers(self, institution, shops) -> None:
        indexes = [mobile_index(m) for m in DEMO_CUSTOMER_MOBILES]
        for customer in Customer.objects.filter(institution=institution, mobile_index__in=indexes):
            earning.points_award_for_event(
                topic="customers.customer_created", payload={"customer_id": customer.pk, "channel": "web"}
            )
            rule = EarningRule.objects.filter(institution=institution, topic="lifestyle.checkin").first()
            if rule is not None:
                start = timezone.now() - dt.timedelta(days=8)
                for day in range(7):
                    reason, why = reasons.record("checkin", streak=day + 1)
                    source = earning.EarningSource(
                        customer_id=customer.pk,
                        source_ref="checkin",
                        period=timezone.localdate(start + dt.timedelta(days=day)).isoformat(),
                        context={"streak": day + 1},
                        reason=reason,
                        reference=why,
                    )
                    earning.points_award(rule=rule, customer=customer, source=source, now=start + dt.timedelta(days=day))
            benefit = Benefit.objects.filter(institution=institution, points_price__lte=500).order_by("points_price").first()
            if benefit and not Voucher.objects.filter(customer=customer).exists():
                try:
                    vouchers.voucher_issue(
                        customer=customer, benefit_id=benefit.pk, request_token=f"demo-voucher-{customer.pk:010d}"
                    )
                except Exception as exc:  # not enough points is fine for a demo rerun
                    self.stdout.write(f"lifestyle demo: no voucher for customer {customer.pk}: {exc}")
