"""Demo data for 吉快·智能绩效 (idempotent), on top of the kernel demo:

the indicator library and formula presets; per institution a policy, positions and peer groups (two tellers
and two more account managers are added), schemes for 客户经理 / 柜员 / 支行行长 / 网点, targets (rank
defaults decomposed from annual targets, a personal override, branch targets); business facts of the previous
month (loans, cards, merchants, deposits, classifications, points, complaints; fed through the same
attribution code as bus events, but never published on the bus so other apps do not react to demo loans);
a claim split between two account managers; the previous month closed for every scheme: computed,
published, an appeal accepted, calibrated and finalised with incentives, deferrals and PDF reports.
"""

import calendar
import datetime as dt
import random
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from jikuai.core.bus import BusEvent
from jikuai.core.demo import DEMO_PASSWORD
from jikuai.core.workdays import get_business_date
from jikuai.customers.models import Customer
from jikuai.org import roles
from jikuai.org.models import Branch, Institution, Staff, User
from performance.catalogue import GRADES, build_scheme, ensure_library
from performance.models import (
    Appeal,
    AttributionClaim,
    Fact,
    Indicator,
    ManualEntry,
    PerformancePolicy,
    Period,
    Position,
    Scheme,
    SchemeItem,
    StaffPosition,
    SubjectResult,
    Target,
)
from performance.services import appeals, attribution, close, pay
from performance.services.common import end_of_business_day
from performance.services.targets import TargetSpec, targets_set

W, B, D, G = SchemeItem.Kind.WEIGHTED, SchemeItem.Kind.BONUS, SchemeItem.Kind.DEDUCTION, SchemeItem.Kind.GATE

RISK_POOL = {
    "method": "pool",
    "pool_amount": "60000.00",
    "pool_scope": "peer_group",
    "grade_coefficients": {"A": "1.2", "B": "1.0", "C": "0.8", "D": "0"},
    "risk_relevant": True,
    "deferral_ratio": "0.40",
    "deferral_years": 3,
    "clawback_rate": "0.01",
}


def previous_month(today: dt.date) -> tuple[dt.date, dt.date]:
    first = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


class Command(BaseCommand):
    help = "Load the performance demo data (idempotent)."

    def handle(self, *args, **options):
        ensure_library()
        institutions = list(Institution.objects.filter(is_active=True).order_by("code"))
        if not institutions:
            institutions = [self._minimal_bank()]
        for institution in institutions:
            summary = self.seed_institution(institution)
            self.stdout.write(f"performance demo {institution.code}: {summary}")

    def _minimal_bank(self) -> Institution:
        institution, _ = Institution.objects.get_or_create(code="DEMO", defaults={"name": "演示农商行", "short_name": "演示"})
        Branch.objects.get_or_create(institution=institution, code="D01", defaults={"name": "营业部", "size_group": "large"})
        return institution

    # ----------------------------------------------------------------------------------------------

    def _staff(self, institution, branch, username, name, rank, role=None) -> Staff:
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        if role:
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        staff, _ = Staff.objects.get_or_create(
            user=user,
            defaults={
                "institution": institution,
                "branch": branch,
                "employee_no": f"{institution.code}-{username[-6:].upper()}",
                "name": name,
                "rank": rank,
            },
        )
        return staff

    def _role_staff(self, institution, role):
        return list(
            Staff.objects.filter(institution=institution, user__groups__name=role, is_active=True)
            .select_related("branch")
            .order_by("id")
        )

    @transaction.atomic
    def seed_institution(self, institution: Institution) -> dict:
        PerformancePolicy.objects.get_or_create(institution=institution)
        branches = list(Branch.objects.filter(institution=institution).order_by("code"))
        prefix = institution.code.lower()
        admins = self._role_staff(institution, roles.INSTITUTION_ADMIN) or [
            self._staff(institution, None, f"{prefix}_perfadmin", "绩效管理员", Staff.Rank.MANAGER, roles.INSTITUTION_ADMIN)
        ]
        managers = self._role_staff(institution, roles.BRANCH_MANAGER) or [
            self._staff(institution, branches[0], f"{prefix}_perfmgr", "行长", Staff.Rank.MANAGER, roles.BRANCH_MANAGER)
        ]
        ams = self._role_staff(institution, roles.ACCOUNT_MANAGER)
        main, second = branches[0], branches[1] if len(branches) > 1 else branches[0]
        extra = [
            self._staff(institution, main, f"{prefix}_am4", "客户经理四", Staff.Rank.JUNIOR, roles.ACCOUNT_MANAGER),
            self._staff(institution, second, f"{prefix}_am5", "客户经理五", Staff.Rank.INTERMEDIATE, roles.ACCOUNT_MANAGER),
        ]
        ams = sorted({s.pk: s for s in [*ams, *extra]}.values(), key=lambda s: s.pk)
        tellers = [
            self._staff(institution, main, f"{prefix}_teller1", "柜员一", Staff.Rank.JUNIOR),
            self._staff(institution, second, f"{prefix}_teller2", "柜员二", Staff.Rank.INTERMEDIATE),
        ]
        for staff in tellers:
            StaffPosition.objects.get_or_create(staff=staff, defaults={"position": Position.TELLER, "peer_group": "柜员"})
        for staff in ams:  # account managers of town branches compete among themselves, city ones likewise
            group = "城区客户经理" if staff.branch and staff.branch.size_group in ("large", "medium") else "乡镇客户经理"
            StaffPosition.objects.get_or_create(staff=staff, defaults={"position": Position.ACCOUNT_MANAGER, "peer_group": group})
        for staff in managers:
            StaffPosition.objects.get_or_create(
                staff=staff, defaults={"position": Position.BRANCH_MANAGER, "peer_group": "支行行长"}
            )

        versions = self._schemes(institution)
        today = timezone.localdate()
        start, end = previous_month(today)
        self._targets(institution, admins[0], branches, ams, tellers, start)
        self._facts(institution, branches, ams, tellers, managers, admins[0], start, end)
        closed = {
            code: self._close(institution, version.scheme, start, admins[0], managers) for code, version in versions.items()
        }
        return {
            "schemes": len(versions),
            "periods": {k: str(v.state) for k, v in closed.items()},
            "facts": Fact.objects.filter(institution=institution).count(),
        }

    def _schemes(self, institution) -> dict:
        return {
            "AM": build_scheme(
                institution=institution,
                code="AM-M",
                name="客户经理月度考核",
                position=Position.ACCOUNT_MANAGER,
                items=[
                    ("loan_disbursed_amount", W, 30, "F1-120", {}),
                    ("new_credit_customers", W, 15, "F4-step", {}),
                    ("deposit_daily_avg_growth", W, 15, "F11-growth", {}),
                    ("social_security_cards", W, 10, "F2-60", {}),
                    ("merchants_signed", W, 10, "F8-interp", {}),
                    ("overdue_rate", W, 10, "F9-ratio", {}),
                    ("npl_ratio", W, 10, "F9-bounded", {}),
                    ("customer_complaints", D, 0, "F7-per-item", {}),
                    ("npl_ratio", G, 0, "F14-npl-cap", {}),
                ],
                grading=GRADES,
                incentive=RISK_POOL,
            ),
            "TELLER": build_scheme(
                institution=institution,
                code="TELLER-M",
                name="柜员月度考核",
                position=Position.TELLER,
                items=[
                    ("social_security_cards", W, 40, "F1-150", {}),
                    ("points_participation", W, 30, "F6-bands", {}),
                    ("new_customers", W, 30, "F12-rank", {}),
                    ("customer_complaints", G, 0, "F14-veto", {}),
                ],
                grading=GRADES,
                incentive={
                    "method": "piece_rate",
                    "rates": {
                        "social_security_cards": [{"lo": "0", "hi": "20", "rate": "5"}, {"lo": "20", "hi": None, "rate": "8"}]
                    },
                    "grade_coefficients": {"A": "1.2", "B": "1.0", "C": "1.0", "D": "0.5"},
                },
            ),
            "BM": build_scheme(
                institution=institution,
                code="BM-M",
                name="支行行长月度考核",
                position=Position.BRANCH_MANAGER,
                aggregation=Scheme.Aggregation.BRANCH,
                items=[
                    ("loan_disbursed_amount", W, 25, "F1-120", {}),
                    ("deposit_daily_avg", W, 25, "F5-deduct", {}),
                    ("merchants_signed", W, 10, "F1-120", {}),
                    ("npl_ratio", W, 25, "F9-linear", {}),
                    ("overdue_rate", W, 15, "F9-binary", {}),
                    ("npl_ratio", G, 0, "F14-npl-cap", {}),
                ],
                grading=GRADES,
                incentive={**RISK_POOL, "pool_amount": "30000.00", "pool_scope": "institution"},
            ),
            "BRANCH": build_scheme(
                institution=institution,
                code="BR-M",
                name="网点月度考核",
                position=Position.BRANCH,
                items=[
                    ("loan_disbursed_amount", W, 40, "F1-120", {}),
                    ("deposit_daily_avg_growth", W, 30, "F11-growth", {}),
                    ("npl_ratio", W, 30, "F9-ratio", {}),
                ],
                grading={
                    "method": "forced",
                    "thresholds": GRADES["thresholds"],
                    "distribution": [
                        {"grade": "A", "percent": "30"},
                        {"grade": "B", "percent": "40"},
                        {"grade": "C", "percent": "20"},
                        {"grade": "D", "percent": "10"},
                    ],
                },
            ),
        }

    def _targets(self, institution, admin, branches, ams, tellers, start):
        if Target.objects.filter(institution=institution, year=start.year).exists():
            return
        ind = {i.code: i for i in Indicator.objects.all()}
        year = start.year
        specs = []
        for rank, factor in (
            (Staff.Rank.JUNIOR, 1),
            (Staff.Rank.INTERMEDIATE, Decimal("1.5")),
            (Staff.Rank.SENIOR, 2),
            (Staff.Rank.PRINCIPAL, 2),
        ):
            specs += [
                TargetSpec(
                    indicator=ind["loan_disbursed_amount"],
                    year=year,
                    month=0,
                    value=Decimal(14_400_000) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
                TargetSpec(
                    indicator=ind["new_credit_customers"],
                    year=year,
                    month=0,
                    value=Decimal(48) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
                TargetSpec(
                    indicator=ind["deposit_daily_avg_growth"],
                    year=year,
                    month=0,
                    value=Decimal(50_000) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
                TargetSpec(
                    indicator=ind["social_security_cards"],
                    year=year,
                    month=0,
                    value=Decimal(120) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
                TargetSpec(
                    indicator=ind["merchants_signed"],
                    year=year,
                    month=0,
                    value=Decimal(24) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
                TargetSpec(
                    indicator=ind["overdue_rate"], year=year, month=0, value=Decimal("2.0"), level=Target.Level.RANK, rank=rank
                ),
                TargetSpec(
                    indicator=ind["npl_ratio"], year=year, month=0, value=Decimal("1.5"), level=Target.Level.RANK, rank=rank
                ),
                TargetSpec(
                    indicator=ind["points_participation"],
                    year=year,
                    month=0,
                    value=Decimal(60) * factor,
                    level=Target.Level.RANK,
                    rank=rank,
                ),
            ]
        if ams:  # a personal override: the first account manager carries a higher loan target this month
            specs.append(
                TargetSpec(
                    indicator=ind["loan_disbursed_amount"],
                    year=year,
                    month=start.month,
                    value=Decimal(1_500_000),
                    level=Target.Level.STAFF,
                    staff=ams[0],
                )
            )
        for branch in branches:
            specs += [
                TargetSpec(
                    indicator=ind["loan_disbursed_amount"],
                    year=year,
                    month=0,
                    value=Decimal(36_000_000),
                    level=Target.Level.BRANCH,
                    branch=branch,
                ),
                TargetSpec(
                    indicator=ind["deposit_daily_avg"],
                    year=year,
                    month=0,
                    value=Decimal(1_000_000),
                    level=Target.Level.BRANCH,
                    branch=branch,
                ),
                TargetSpec(
                    indicator=ind["deposit_daily_avg_growth"],
                    year=year,
                    month=0,
                    value=Decimal(150_000),
                    level=Target.Level.BRANCH,
                    branch=branch,
                ),
                TargetSpec(
                    indicator=ind["merchants_signed"],
                    year=year,
                    month=0,
                    value=Decimal(36),
                    level=Target.Level.BRANCH,
                    branch=branch,
                ),
                TargetSpec(
                    indicator=ind["npl_ratio"], year=year, month=0, value=Decimal("1.5"), level=Target.Level.BRANCH, branch=branch
                ),
                TargetSpec(
                    indicator=ind["overdue_rate"],
                    year=year,
                    month=0,
                    value=Decimal("2.0"),
                    level=Target.Level.BRANCH,
                    branch=branch,
                ),
            ]
        specs.append(
            TargetSpec(
                indicator=ind["loan_disbursed_amount"],
                year=year,
                month=0,
                value=Decimal(20_000_000),
                level=Target.Level.INSTITUTION,
            )
        )
        targets_set(institution=institution, specs=specs, actor=admin)

    def _facts(self, institution, branches, ams, tellers, managers, admin, start, end):
        if Fact.objects.filter(institution=institution, source_key__startswith="ev:-").exists():
            return
        rng = random.Random(f"{institution.code}-performance")
        base_id = -(institution.pk * 1_000_000)
        counter = [0]

        def feed(topic: str, payload: dict):
            counter[0] += 1
            event = BusEvent(
                id=base_id - counter[0],
                topic=topic,
                payload={"institution_id": institution.pk, **payload},
                created_at=timezone.now(),
            )
            attribution.facts_from_event(event)

        customers = list(Customer.objects.filter(institution=institution).select_related("account_manager").order_by("id")[:90])
        # a claim: the fourth account manager shares two customers of the first one (60/40), approved by the manager
        if len(ams) >= 4 and customers:
            owner, newcomer = ams[0], ams[3]
            approver = next((m for m in managers if m.branch_id == newcomer.branch_id), managers[0])
            for customer in [c for c in customers if c.account_manager_id == owner.pk][:2]:
                if not AttributionClaim.objects.filter(customer=customer).exists():
                    claim = attribution.claim_submit(
                        customer=customer,
                        shares=[(newcomer, "60"), (owner, "40")],
                        actor=newcomer,
                        reason="共同营销",
                        requested_on=start,
                    )
                    if approver.pk not in (owner.pk, newcomer.pk):
                        attribution.claim_approve(claim_id=claim.pk, actor=approver, note="演示：共同营销")
        loan_no = institution.pk * 100_000
        days = (end - start).days + 1
        for index, customer in enumerate(customers):
            day = start + dt.timedelta(days=rng.randrange(days))
            manager = customer.account_manager
            common = {
                "customer_id": customer.pk,
                "branch_id": customer.branch_id,
                "account_manager_id": manager.pk if manager else None,
            }
            if index % 2 == 0:
                loan_no += 1
                amount = Decimal(rng.randrange(20, 200)) * 1000
                feed(
                    "lending.loan_disbursed",
                    {
                        **common,
                        "loan_id": loan_no,
                        "product_code": "JNKD",
                        "amount": f"{amount:.2f}",
                        "amount_fen": int(amount * 100),
                        "business_date": day.isoformat(),
                        "first_drawdown": index % 4 == 0,
                    },
                )
                klass = "substandard" if index % 17 == 0 else ("special_mention" if index % 7 == 0 else "normal")
                feed(
                    "lending.loan_classified",
                    {
                        **common,
                        "loan_id": loan_no,
                        "old_class": "normal",
                        "new_class": klass,
                        "dpd": 95 if klass == "substandard" else 0,
                        "business_date": end.isoformat(),
                        "principal_outstanding": f"{amount:.2f}",
                        "principal_outstanding_fen": int(amount * 100),
                    },
                )
                if klass != "normal":
                    overdue = (amount / 10).quantize(Decimal("0.01"))
                    feed(
                        "lending.loan_overdue",
                        {
                            **common,
                            "loan_id": loan_no,
                            "dpd": 35,
                            "overdue_principal": f"{overdue:.2f}",
                            "overdue_principal_fen": int(overdue * 100),
                            "business_date": end.isoformat(),
                        },
                    )
            if index % 3 == 0:
                feed("lifestyle.card_activated", {**common, "card_ref": f"SSC{customer.pk}", "business_date": day.isoformat()})
            if index % 3 == 1:
                previous = Decimal(rng.randrange(10, 80)) * 1000
                current = previous + Decimal(rng.randrange(-5, 30)) * 1000
                feed(
                    "lifestyle.deposit_month_closed",
                    {
                        **common,
                        "month": f"{start:%Y-%m}",
                        "daily_average": f"{current:.2f}",
                        "daily_average_fen": int(current * 100),
                        "previous_daily_average": f"{previous:.2f}",
                        "previous_daily_average_fen": int(previous * 100),
                    },
                )
            if index % 5 == 0:
                feed(
                    "lifestyle.points_earned",
                    {**common, "points": 50, "rule_code": "CAMPAIGN", "lot_id": index, "business_date": day.isoformat()},
                )
        for n, staff in enumerate([*ams, *tellers]):
            for m in range(rng.randrange(1, 4)):
                feed(
                    "lifestyle.merchant_signed",
                    {
                        "merchant_id": institution.pk * 1000 + n * 10 + m,
                        "staff_id": staff.pk,
                        "branch_id": staff.branch_id,
                        "business_date": (start + dt.timedelta(days=m * 5)).isoformat(),
                    },
                )
        for n, teller in enumerate(tellers):
            for m in range(4 + n * 3):
                feed(
                    "customers.customer_created",
                    {
                        "customer_id": None,
                        "channel": "field",
                        "referred_by_id": None,
                        "account_manager_id": teller.pk,
                        "branch_id": teller.branch_id,
                        "business_date": (start + dt.timedelta(days=m)).isoformat(),
                    },
                )
                feed(
                    "lifestyle.card_activated",
                    {
                        "customer_id": None,
                        "card_ref": f"T{teller.pk}-{m}",
                        "account_manager_id": teller.pk,
                        "branch_id": teller.branch_id,
                        "business_date": (start + dt.timedelta(days=m)).isoformat(),
                    },
                )
        # one complaint, entered by operations and approved by another person (maker-checker)
        checker = managers[0] if managers else None
        complained = next((a for a in reversed(ams) if checker and a.branch_id == checker.branch_id), None)
        if complained and checker:
            ind = Indicator.objects.get(code="customer_complaints")
            entry = ManualEntry.objects.create(
                institution=institution,
                indicator=ind,
                staff=complained,
                branch=complained.branch,
                fact_date=start + dt.timedelta(days=10),
                value=Decimal(1),
                note="演示：服务态度投诉",
                entered_by=admin.user,
            )
            attribution.manual_entry_approve(entry_id=entry.pk, actor=checker.user)

    def _close(self, institution, scheme, start, admin, managers) -> Period:
        period = close.period_create(scheme=scheme, start=start, actor=admin)
        if period.state == Period.State.OPEN:
            period = close.period_confirm_data(period_id=period.pk, actor=admin, comment="演示数据确认")
        if period.state in (Period.State.CONFIRMED, Period.State.FAILED):
            period = close.period_compute_start(period_id=period.pk, actor=admin)
        if period.state == Period.State.COMPUTING:
            period = close.period_compute_run(period_id=period.pk)
        if period.state == Period.State.COMPUTED:
            period = close.period_publish(period_id=period.pk, actor=admin, comment="演示公示")
            self._appeal(period, managers, admin)
            # the demo shortens the appeal window so the period can be closed in one run
            last_day = get_business_date() - dt.timedelta(days=1)  # the window is counted in business dates
            Period.objects.filter(pk=period.pk).update(appeal_closes_at=end_of_business_day(last_day))
        if period.state == Period.State.PUBLISHED:
            for appeal in Appeal.objects.filter(period=period, state=Appeal.State.SUBMITTED):
                appeals.appeal_decide(
                    appeal_id=appeal.pk,
                    actor=self._decider(appeal.staff_id, appeal.branch_id, managers, admin),
                    accept=False,
                    note="演示：证据不足",
                )
            period = close.period_close_appeals(period_id=period.pk, actor=admin, comment="演示：申诉期结束")
        if period.state == Period.State.CALIBRATING:
            period = pay.period_finalise(period_id=period.pk, actor=admin, comment="演示定稿")
        return period

    def _decider(self, staff_id, branch_id, managers, admin) -> Staff:
        """The appellant's branch manager, else the institution admin (never the appellant)."""
        return next((m for m in managers if m.branch_id == branch_id and m.pk != staff_id), admin)

    def _appeal(self, period, managers, admin):
        result = SubjectResult.objects.filter(period=period, staff__isnull=False).order_by("total", "id").first()
        if result is None or result.staff_id == admin.pk:
            return
        line = result.lines.filter(item__kind=SchemeItem.Kind.WEIGHTED, target__isnull=False).order_by("item__order").first()
        if line is None:
            return
        corrected = (line.actual or 0) + 50000
        appeal = appeals.appeal_submit(
            result_id=result.pk,
            actor=result.staff,
            line_id=line.pk,
            reason="本月一笔放款应计入本人（客户由本人营销）",
            evidence_text="放款通知书编号 DEMO-001",
            requested_actual=corrected,
        )
        appeals.appeal_decide(
            appeal_id=appeal.pk,
            actor=self._decider(result.staff_id, result.branch_id, managers, admin),
            accept=True,
            note="核实：客户经办人为申诉人，采纳",
            corrected_actual=corrected,
        )
