"""Performance test helpers: a small bank with branches in two peer groups, account managers, a branch
manager and an institution admin, the standard library, and event publishing."""

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth.models import Group

from jikuai.core import bus
from jikuai.core.workdays import get_business_date
from jikuai.org import roles
from jikuai.org.models import Branch, Institution, Staff
from performance.catalogue import GRADES, build_scheme, ensure_library
from performance.models import Period, Position, SchemeItem, StaffPosition
from performance.services.common import end_of_business_day
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff

W = SchemeItem.Kind.WEIGHTED


@dataclass
class Bank:
    institution: Institution
    branch_a: Branch
    branch_b: Branch
    admin: Staff
    manager_a: Staff
    manager_b: Staff
    am1: Staff
    am2: Staff
    am3: Staff


def make_bank(code: str = "PERF") -> Bank:
    institution = InstitutionFactory(code=code)
    branch_a = BranchFactory(institution=institution, code=f"{code}A", name="城区支行", size_group="large")
    branch_b = BranchFactory(institution=institution, code=f"{code}B", name="乡镇支行", size_group="small")
    bank = Bank(
        institution=institution,
        branch_a=branch_a,
        branch_b=branch_b,
        admin=make_staff(role=roles.INSTITUTION_ADMIN, institution=institution, name="管理员"),
        manager_a=make_staff(role=roles.BRANCH_MANAGER, branch=branch_a, name="行长甲"),
        manager_b=make_staff(role=roles.BRANCH_MANAGER, branch=branch_b, name="行长乙"),
        am1=make_staff(role=roles.ACCOUNT_MANAGER, branch=branch_a, name="客户经理一"),
        am2=make_staff(role=roles.ACCOUNT_MANAGER, branch=branch_a, name="客户经理二"),
        am3=make_staff(role=roles.ACCOUNT_MANAGER, branch=branch_b, name="客户经理三"),
    )
    ensure_library()
    return bank


def ensure_role_groups() -> None:
    for role in roles.ALL_ROLES:
        Group.objects.get_or_create(name=role)


def simple_scheme(bank: Bank, *, code="AM", incentive=None, grading=None, items=None, renormalise=True):
    """客户经理 scheme: loans 60 (F1 cap 1.2), new credit customers 40 (F1), NPL ratio gate (F14 cap 60)."""
    return build_scheme(
        institution=bank.institution,
        code=code,
        name="客户经理月度考核",
        position=Position.ACCOUNT_MANAGER,
        items=items
        or [
            ("loan_disbursed_amount", W, 60, "F1-120", {}),
            ("new_credit_customers", W, 40, "F1-120", {}),
        ],
        grading=grading or GRADES,
        incentive=incentive,
        renormalise=renormalise,
    )


def publish_event(topic: str, payload: dict, *, django_capture_on_commit_callbacks=None):
    """Publish inside a transaction and deliver it (the bus dispatches after commit)."""
    event = bus.publish(topic, payload)
    bus.dispatch(event.pk)
    return event


def disbursed(bank: Bank, *, loan_id: int, customer, amount: str, day: dt.date, manager: Staff | None = None, first=True) -> dict:
    from decimal import Decimal

    return {
        "institution_id": bank.institution.pk,
        "branch_id": (manager.branch_id if manager else customer.branch_id),
        "account_manager_id": manager.pk if manager else None,
        "loan_id": loan_id,
        "customer_id": customer.pk,
        "product_code": "GXD",
        "amount": amount,
        "amount_fen": int(Decimal(amount) * 100),
        "business_date": day.isoformat(),
        "first_drawdown": first,
    }


def assign(staff: Staff, position: str = Position.TELLER, peer_group: str = "") -> StaffPosition:
    return StaffPosition.objects.update_or_create(staff=staff, defaults={"position": position, "peer_group": peer_group})[0]


__all__ = ["Bank", "assign", "disbursed", "make_bank", "make_customer", "publish_event", "simple_scheme"]


def close_appeal_window(period: Period) -> None:
    """The appeal window has passed: its last business date is the day before the current business date."""
    last_day = get_business_date() - dt.timedelta(days=1)
    Period.objects.filter(pk=period.pk).update(appeal_closes_at=end_of_business_day(last_day))
