"""Social-security card activations (社保卡激活) reported by the integrator."""

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.exceptions import ApplicationError
from jikuai.customers.models import Customer
from lifestyle.models import CardActivation


def card_activation_record(
    *, institution, customer_id, card_ref: str, activated_on: str | dt.date
) -> tuple[CardActivation, bool]:
    """Store one activation and publish ``lifestyle.card_activated``; the same card reported again returns the
    first record and publishes nothing."""
    card_ref = (card_ref or "").strip()
    if not (4 <= len(card_ref) <= 40) or not card_ref.replace("-", "").isalnum():
        raise ApplicationError(
            "卡片标识应为4至40位字母数字。", "card_ref must be 4-40 letters or digits", code="invalid_card_ref"
        )
    try:
        day = activated_on if isinstance(activated_on, dt.date) else dt.date.fromisoformat(str(activated_on))
    except ValueError as exc:
        raise ApplicationError("激活日期格式应为 YYYY-MM-DD。", "activated_on must be YYYY-MM-DD", code="invalid_date") from exc
    if day > timezone.localdate():
        raise ApplicationError("激活日期不能晚于今天。", "activated_on is in the future", code="invalid_date")
    try:
        customer = Customer.objects.filter(pk=int(customer_id), institution=institution).first()
    except (TypeError, ValueError):
        customer = None
    if customer is None:
        raise ApplicationError("客户不存在或不属于本机构。", "unknown customer", code="unknown_customer")
    existing = CardActivation.objects.filter(institution=institution, card_ref=card_ref).first()
    if existing is not None:
        if existing.customer_id != customer.pk:
            raise ApplicationError(
                "该卡片已登记在其他客户名下。", "card already recorded for another customer", code="card_conflict"
            )
        return existing, False
    try:
        with transaction.atomic():
            record = CardActivation.objects.create(
                institution=institution, customer=customer, card_ref=card_ref, activated_on=day
            )
            bus.publish(
                "lifestyle.card_activated",
                {
                    "customer_id": customer.pk,
                    "card_ref": card_ref,
                    "business_date": day.isoformat(),
                    "institution_id": institution.pk,
                    "branch_id": customer.branch_id,
                    "account_manager_id": customer.account_manager_id,
                },
            )
    except IntegrityError:
        return CardActivation.objects.get(institution=institution, card_ref=card_ref), False
    return record, True
