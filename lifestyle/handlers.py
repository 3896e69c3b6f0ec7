"""Bus handlers: lifestyle learns about lending and customers only through events (never their models)."""

import logging

from django.utils import timezone

from jikuai.core.bus import BusEvent, subscribe
from lifestyle.models import Topic
from lifestyle.services import earning, referrals

logger = logging.getLogger(__name__)

EARNING_TOPICS = [
    Topic.INSTALLMENT_PAID,
    Topic.LOAN_DISBURSED,
    Topic.KYC_VERIFIED,
    Topic.CUSTOMER_CREATED,
    Topic.CARD_ACTIVATED,
    Topic.REFERRAL_QUALIFIED,
    Topic.ACTIVITY_ATTENDED,
]


def _award(event: BusEvent) -> None:
    results = earning.points_award_for_event(topic=event.topic, payload=event.payload, event_id=event.id)
    for result in results:
        logger.debug("event %s %s → %s %s", event.id, event.topic, result.rule_code, result.status)


for _topic in EARNING_TOPICS:
    subscribe(_topic.value, name=f"lifestyle.points:{_topic.value}")(_award)


@subscribe("customers.customer_created", name="lifestyle.referral:customer_created")
def bind_referral_from_registration(event: BusEvent) -> None:
    """A customer registered with a referrer (kernel ``referred_by``): record the binding (first one wins)."""
    referrer_id = event.payload.get("referred_by_id")
    if not referrer_id:
        return
    from jikuai.customers.models import Customer

    customer = Customer.objects.filter(pk=event.payload.get("customer_id")).first()
    referrer = Customer.objects.filter(pk=referrer_id).first()
    if customer is None or referrer is None:
        return
    try:
        referrals.referral_bind(customer=customer, code=referrer.referral_code, channel="registration")
    except referrals.ApplicationError as exc:  # refused bindings are logged, not retried
        logger.info("referral at registration refused for customer %s: %s", customer.pk, exc.code)


@subscribe("customers.kyc_verified", name="lifestyle.referral:kyc_verified")
def referral_kyc(event: BusEvent) -> None:
    referrals.referral_progress(customer_id=int(event.payload.get("customer_id", 0)), step="kyc", at=timezone.now())


@subscribe("lending.loan_disbursed", name="lifestyle.referral:loan_disbursed")
def referral_first_drawdown(event: BusEvent) -> None:
    if event.payload.get("first_drawdown"):
        referrals.referral_progress(
            customer_id=int(event.payload.get("customer_id", 0)), step="first_drawdown", at=timezone.now()
        )


@subscribe("lifestyle.card_activated", name="lifestyle.referral:card_activated")
def referral_card(event: BusEvent) -> None:
    referrals.referral_progress(customer_id=int(event.payload.get("customer_id", 0)), step="card", at=timezone.now())
