"""Earning points (积分发放): rules matched to events, caps, campaigns with atomic budgets, unique business keys."""

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError, NotFound, PermissionDeniedError
from jikuai.customers.models import Customer
from lifestyle import reasons
from lifestyle.models import Campaign, EarningRule, LedgerEntry, PointsLot, Topic
from lifestyle.services import expressions
from lifestyle.services.ledger import account_get_or_create, account_lock, earn_legs, lot_credit_active, post_entry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarningSource:
    """What an event means for points: who earns, the business key parts and the facts rules look at."""

    customer_id: int
    source_ref: str
    period: str = ""
    context: dict = field(default_factory=dict)
    reason: str = ""
    reference: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AwardResult:
    status: str  # awarded | replayed | skipped
    rule_code: str
    lot: PointsLot | None = None
    detail: str = ""
    campaign_note: str = ""

    @property
    def points(self) -> int:
        return self.lot.amount if self.lot is not None and self.status == "awarded" else 0


def _int(value, default=0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def source_from_event(topic: str, payload: dict, *, event_id: int | None = None) -> EarningSource | None:
    """Built-in meaning of each topic. Returns None when the event does not concern a points earner."""
    reference = {"event_id": event_id, "topic": topic}
    customer_id = _int(payload.get("customer_id"))
    if topic == Topic.INSTALLMENT_PAID:
        loan_id, number = _int(payload.get("loan_id")), _int(payload.get("installment_number"))
        reason, why = reasons.record("installment_paid", loan_id=loan_id, number=number)
        return EarningSource(
            customer_id=customer_id,
            source_ref=f"loan:{loan_id}:installment:{number}",
            context={
                "on_time": bool(payload.get("on_time")),
                "amount_fen": _int(payload.get("amount_fen")),
                "installment_number": number,
            },
            reason=reason,
            reference={**reference, "loan_id": loan_id, **why},
        )
    if topic == Topic.LOAN_DISBURSED:
        loan_id = _int(payload.get("loan_id"))
        reason, why = reasons.record("first_drawdown" if payload.get("first_drawdown") else "drawdown", loan_id=loan_id)
        return EarningSource(
            customer_id=customer_id,
            source_ref=f"loan:{loan_id}:disbursed",
            context={
                "first_drawdown": bool(payload.get("first_drawdown")),
                "amount_fen": _int(payload.get("amount_fen")),
                "product_code": str(payload.get("product_code", "")),
            },
            reason=reason,
            reference={**reference, "loan_id": loan_id, **why},
        )
    if topic == Topic.KYC_VERIFIED:
        reason, why = reasons.record("kyc_verified")
        return EarningSource(customer_id=customer_id, source_ref="kyc", reason=reason, reference={**reference, **why})
    if topic == Topic.CUSTOMER_CREATED:
        reason, why = reasons.record("customer_created")
        return EarningSource(
            customer_id=customer_id,
            source_ref="registered",
            context={"channel": str(payload.get("channel", ""))},
            reason=reason,
            reference={**reference, **why},
        )
    if topic == Topic.CARD_ACTIVATED:
        card_ref = str(payload.get("card_ref", ""))[:60]
        reason, why = reasons.record("card_activated")
        return EarningSource(
            customer_id=customer_id, source_ref=f"card:{card_ref}", reason=reason, reference={**reference, **why}
        )
    if topic == Topic.REFERRAL_QUALIFIED:
        referrer = _int(payload.get("referrer_customer_id"))
        if not referrer:
            return None  # staff referrers earn attribution (performance), not points
        reason, why = reasons.record("referral_qualified")
        return EarningSource(
            customer_id=referrer,
            source_ref=f"referee:{customer_id}",
            reason=reason,
            reference={**reference, "referee_customer_id": customer_id, **why},
        )
    if topic == Topic.ACTIVITY_ATTENDED:
        from lifestyle.models import Activity

        activity_id = _int(payload.get("activity_id"))
        title = Activity.objects.filter(pk=activity_id).values_list("title", flat=True).first()
        reason, why = reasons.record("activity_attended", title=title) if title else reasons.record("community_activity")
        return EarningSource(
            customer_id=customer_id,
            source_ref=f"activity:{activity_id}",
            context={"kind": str(payload.get("kind", ""))},
            reason=reason,
            reference={**reference, "activity_id": activity_id, **why},
        )
    return None


def rules_for(*, topic: str, institution_id: int, today: dt.date):
    return (
        EarningRule.objects.filter(topic=topic, is_active=True)
        .filter(Q(institution_id=institution_id) | Q(institution__isnull=True))
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
        .select_related("segment_region")
        .order_by("id")
    )


def points_award_for_event(*, topic: str, payload: dict, event_id: int | None = None) -> list[AwardResult]:
    """Apply every active rule for ``topic`` to one event (bus handlers call this)."""
    source = source_from_event(topic, payload, event_id=event_id)
    if source is None or not source.customer_id:
        return []
    return points_award_source(topic=topic, source=source)


def points_award_source(*, topic: str, source: EarningSource, now: dt.datetime | None = None) -> list[AwardResult]:
    now = now or timezone.now()
    customer = Customer.objects.select_related("region").filter(pk=source.customer_id).first()
    if customer is None:
        logger.warning("points: event for unknown customer %s (%s)", source.customer_id, topic)
        return []
    rules = list(rules_for(topic=topic, institution_id=customer.institution_id, today=timezone.localdate(now)))
    return [points_award(rule=rule, customer=customer, source=source, now=now) for rule in rules]


def _skip(rule: EarningRule, detail: str) -> AwardResult:
    return AwardResult(status="skipped", rule_code=rule.code, detail=detail)


def _base_points(rule: EarningRule, context: dict) -> int:
    if rule.points_expression:
        return expressions.points_from(rule.points_expression, context)
    return rule.points_fixed


def _capped(rule: EarningRule, account_id: int, points: int, now: dt.datetime) -> int:
    if not (rule.cap_per_day or rule.cap_per_month or rule.cap_per_customer):
        return points
    lots = PointsLot.objects.filter(account_id=account_id, rule_key=rule.code).exclude(status=PointsLot.Status.CANCELLED)
    local = timezone.localtime(now)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    caps = [
        (rule.cap_per_day, lots.filter(earned_at__gte=day_start)),
        (rule.cap_per_month, lots.filter(earned_at__gte=month_start)),
        (rule.cap_per_customer, lots),
    ]
    for cap, queryset in caps:
        if cap:
            used = queryset.aggregate(total=Sum("base_points"))["total"] or 0
            points = min(points, max(cap - used, 0))
    return points


def _campaign_bonus(*, rule: EarningRule, customer: Customer, account_id: int, base: int, now: dt.datetime):
    """(campaign, bonus points, note). The budget is taken with one conditional UPDATE, so concurrent awards
    can never spend more than the total; an exhausted campaign simply gives no bonus."""
    campaigns = (
        Campaign.objects.filter(rules=rule, is_active=True, starts_at__lte=now, ends_at__gt=now)
        .filter(Q(institution_id=customer.institution_id) | Q(institution__isnull=True))
        .select_related("segment_region")
        .order_by("id")
    )
    note = ""
    for campaign in campaigns:
        if not campaign.segment_matches(customer):
            continue
        bonus = int((Decimal(base) * (campaign.multiplier - 1)).to_integral_value(rounding=ROUND_FLOOR)) + campaign.bonus_points
        if bonus <= 0:
            continue
        if campaign.per_customer_limit is not None:
            times = PointsLot.objects.filter(account_id=account_id, campaign=campaign).exclude(status=PointsLot.Status.CANCELLED)
            if times.count() >= campaign.per_customer_limit:
                note = f"{campaign.name}：已达每客户上限"
                continue
        taken = Campaign.objects.filter(pk=campaign.pk, budget_used__lte=F("budget_total") - bonus).update(
            budget_used=F("budget_used") + bonus
        )
        if not taken:
            note = f"{campaign.name}：活动预算已用完"
            continue
        return campaign, bonus, ""
    return None, 0, note


def points_award(*, rule: EarningRule, customer: Customer, source: EarningSource, now: dt.datetime | None = None) -> AwardResult:
    """Award points for one (rule, customer, source, period). A replay of the same key creates nothing."""
    now = now or timezone.now()
    if not rule.is_active:
        return _skip(rule, "rule_inactive")
    if rule.deposit_linked and not rule.is_signed_off:
        return _skip(rule, "compliance_sign_off_missing")
    if rule.institution_id and rule.institution_id != customer.institution_id:
        return _skip(rule, "other_institution")
    if not rule.segment_matches(customer):
        return _skip(rule, "segment")
    context = {**source.context, "customer": {"occupation": customer.occupation, "kyc_status": customer.kyc_status}}
    if rule.min_amount_fen is not None and _int(context.get("amount_fen")) < rule.min_amount_fen:
        return _skip(rule, "below_minimum_amount")
    try:
        if not expressions.condition_holds(rule.condition_expression, context):
            return _skip(rule, "condition_false")
        base = _base_points(rule, context)
    except expressions.ExpressionError as exc:
        logger.warning("points rule %s: %s", rule.code, exc.message_en)
        return _skip(rule, "expression_error")
    if base <= 0:
        return _skip(rule, "zero_points")

    account = account_get_or_create(customer=customer)
    with transaction.atomic():
        account = account_lock(account.pk)
        existing = PointsLot.objects.filter(
            account_id=account.pk, rule_key=rule.code, source_ref=source.source_ref, period=source.period
        ).first()
        if existing is not None:
            return AwardResult(status="replayed", rule_code=rule.code, lot=existing, detail="duplicate_business_key")
        base = _capped(rule, account.pk, base, now)
        if base <= 0:
            return _skip(rule, "cap_reached")
        campaign, bonus, note = _campaign_bonus(rule=rule, customer=customer, account_id=account.pk, base=base, now=now)
        pending = rule.hold_days > 0
        lot = PointsLot(
            account=account,
            rule=rule,
            rule_key=rule.code,
            source=rule.topic,
            source_ref=source.source_ref,
            period=source.period,
            amount=base + bonus,
            remaining=base + bonus,
            base_points=base,
            campaign=campaign,
            campaign_points=bonus,
            funding_source=rule.funding_source,
            campaign_funding_source=campaign.funding_source if campaign else "",
            status=PointsLot.Status.PENDING if pending else PointsLot.Status.ACTIVE,
            earned_at=now,
            activates_at=now + dt.timedelta(days=rule.hold_days) if pending else None,
            expires_on=timezone.localdate(now) + dt.timedelta(days=rule.validity_days),
            reason=(source.reason or rule.name)[:200],
            reference=source.reference,
        )
        try:
            with transaction.atomic():
                lot.save()
        except IntegrityError:
            # the unique business key is the real guard; the campaign budget taken above rolls back with us
            transaction.set_rollback(True)
            return AwardResult(status="replayed", rule_code=rule.code, detail="duplicate_business_key")
        post_entry(kind=LedgerEntry.Kind.EARN, legs=earn_legs(lot=lot), memo=f"{rule.code} {source.source_ref}")
        if not pending:
            lot_credit_active(account=account, lot=lot)
        bus.publish(
            "lifestyle.points_earned",
            {
                "customer_id": customer.pk,
                "institution_id": customer.institution_id,
                "branch_id": customer.branch_id,
                "account_manager_id": customer.account_manager_id,
                "points": lot.amount,
                "rule_code": rule.code,
                "lot_id": lot.pk,
            },
        )
    logger.info("points: %s +%s for customer %s (%s)", rule.code, lot.amount, customer.pk, lot.status)
    return AwardResult(status="awarded", rule_code=rule.code, lot=lot, campaign_note=note)


# --- rule administration ---------------------------------------------------------------------


def rule_validate(rule: EarningRule) -> None:
    """Check what admin forms cannot: expressions parse, the formula fits the topic."""
    expressions.expression_validate(rule.condition_expression)
    expressions.expression_validate(rule.points_expression)
    if rule.topic == Topic.DEPOSIT_GROWTH:
        if not (rule.deposit_unit_fen and rule.deposit_unit_fen > 0 and rule.deposit_points_per_unit):
            raise ApplicationError(
                "存款增长规则需填写计分单位和每单位积分。", "deposit rules need a unit and points per unit", code="invalid_rule"
            )
        if rule.hold_days < 1:
            raise ApplicationError(
                "存款类奖励必须设置冻结期（至少1天）。",
                "deposit rewards need a hold period of at least one day",
                code="invalid_rule",
            )
        if rule.points_expression:
            raise ApplicationError(
                "存款增长规则按单位计分，不支持公式。", "deposit rules use unit pricing, not formulas", code="invalid_rule"
            )
    elif not rule.points_expression and rule.points_fixed <= 0:
        raise ApplicationError("请填写固定积分或积分公式。", "give fixed points or a formula", code="invalid_rule")


def rule_save(*, rule: EarningRule, user, changed_fields: list[str] | tuple = ()) -> EarningRule:
    """Create or change a rule. Deposit topics are always deposit-linked; changing what a signed-off rule awards
    clears the sign-off, so compliance must sign again."""
    if rule.topic == Topic.DEPOSIT_GROWTH:
        rule.deposit_linked = True
    rule_validate(rule)
    if rule.pk and rule.is_signed_off and set(changed_fields) & set(EarningRule.AWARD_FIELDS):
        rule.compliance_signed_at = None
        rule.compliance_signed_by = None
    if rule.pk is None and rule.created_by_id is None and user is not None:
        rule.created_by = user
    rule.save()
    return rule


@transaction.atomic
def rule_sign_off(*, rule_id: int, user) -> EarningRule:
    """合规签批: a compliance officer (not the rule's creator) approves a deposit-linked rule."""
    rule = EarningRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("规则不存在。", "rule not found")
    if not user.has_perm("lifestyle.sign_off_rule"):
        raise PermissionDeniedError("无合规签批权限。", "not allowed to sign off rules", code="sign_off_not_allowed")
    if rule.created_by_id == user.pk:
        raise PermissionDeniedError(
            "规则创建人不能签批自己的规则（双人复核）。", "the maker cannot sign off their own rule", code="maker_is_checker"
        )
    if rule.is_signed_off:
        return rule
    rule.compliance_signed_by = user
    rule.compliance_signed_at = timezone.now()
    rule.save(update_fields=["compliance_signed_by", "compliance_signed_at"])
    return rule
