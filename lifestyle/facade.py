"""lifestyle facade: what other apps may read (frozen dataclasses, never models)."""

from dataclasses import dataclass

from django.db.models import Sum


@dataclass(frozen=True)
class PointsBalance:
    customer_id: int
    balance: int
    pending: int
    debt: int


@dataclass(frozen=True)
class MerchantInfo:
    id: int
    code: str
    name: str
    institution_id: int
    branch_id: int | None
    signed_by_staff_id: int | None
    state: str
    category: str


@dataclass(frozen=True)
class ReferralInfo:
    customer_id: int
    referrer_customer_id: int | None
    referrer_staff_id: int | None
    status: str


def points_balance(customer_id: int) -> PointsBalance:
    from lifestyle.models import PointsAccount, PointsLot

    account = PointsAccount.objects.filter(customer_id=customer_id).first()
    if account is None:
        return PointsBalance(customer_id=customer_id, balance=0, pending=0, debt=0)
    pending = PointsLot.objects.filter(account=account, status=PointsLot.Status.PENDING).aggregate(total=Sum("remaining"))[
        "total"
    ]
    return PointsBalance(customer_id=customer_id, balance=account.balance, pending=pending or 0, debt=account.debt)


def merchant_info(merchant_id: int) -> MerchantInfo | None:
    from lifestyle.models import Merchant

    merchant = Merchant.objects.filter(pk=merchant_id).first()
    if merchant is None:
        return None
    return MerchantInfo(
        id=merchant.pk,
        code=merchant.code,
        name=merchant.name,
        institution_id=merchant.institution_id,
        branch_id=merchant.branch_id,
        signed_by_staff_id=merchant.signed_by_id,
        state=merchant.state,
        category=merchant.category,
    )


def referral_of(customer_id: int) -> ReferralInfo | None:
    from lifestyle.models import ReferralBinding

    binding = ReferralBinding.objects.filter(customer_id=customer_id).first()
    if binding is None:
        return None
    return ReferralInfo(
        customer_id=customer_id,
        referrer_customer_id=binding.referrer_customer_id,
        referrer_staff_id=binding.referrer_staff_id,
        status=binding.status,
    )
