"""Origination test helpers: the published policy of the seven products (seeded once per session), the
seeded products, and applicants the rules can approve."""

import pytest
from django.contrib.auth.models import Group

from jikuai.core.workdays import business_date_set
from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer, Household, HouseholdMember, Region
from jikuai.org import roles
from tests.factories import BranchFactory, make_customer, make_staff

BUSINESS_DATE = __import__("datetime").date(2026, 3, 2)


@pytest.fixture(scope="session")
def seeded_policy(django_db_setup, django_db_blocker):
    """The riskrules catalogue and the published rule sets of the seven products (committed once)."""
    with django_db_blocker.unblock():
        from riskrules.policy.seed import seed_policy

        seed_policy()


@pytest.fixture
def policy(seeded_policy, db):
    from riskrules import features
    from riskrules.services import decisions

    features.clear_caches()
    decisions.clear_caches()
    business_date_set(day=BUSINESS_DATE)
    yield
    features.clear_caches()
    decisions.clear_caches()


@pytest.fixture
def products(policy):
    from lending.demo_origination import seed_products

    return seed_products()


@pytest.fixture
def branch(db):
    return BranchFactory()


def applicant(
    *,
    branch=None,
    institution=None,
    occupation="teacher",
    income="12000",
    age=35,
    verified=True,
    consent=True,
    **extra,
) -> Customer:
    """A customer the rules can approve: KYC verified and consent to the credit report query."""
    branch = branch or BranchFactory(**({"institution": institution} if institution else {}))
    customer = make_customer(branch=branch, occupation=occupation, monthly_income=income, age=age, **extra)
    if verified:
        Customer.objects.filter(pk=customer.pk).update(kyc_status=Customer.KycStatus.VERIFIED)
        customer.kyc_status = Customer.KycStatus.VERIFIED
    if consent:
        customer_services.consent_grant(customer=customer, purpose="credit_report", text_version="t1", channel="web")
    return customer


def whitelisted_farmer(*, branch, limit="150000.00", on_list=True, **kwargs) -> Customer:
    """A farmer heading a household with a whole-village pre-credit limit, on the riskrules white list."""
    from riskrules.services.lists import list_entry_check, list_entry_create

    farmer = applicant(branch=branch, occupation="farmer", **kwargs)
    county = Region.objects.get_or_create(code="220182", defaults={"name": "榆树市", "level": Region.Level.COUNTY})[0]
    village = Region.objects.create(code=f"2201820{farmer.pk:05d}"[:12], name="东岭村", level=Region.Level.VILLAGE, parent=county)
    household = Household.objects.create(
        institution=branch.institution,
        branch=branch,
        village=village,
        head=farmer,
        household_no=f"H{farmer.pk}",
        pre_credit_limit=limit,
    )
    HouseholdMember.objects.create(household=household, customer=farmer, name=farmer.name, relation="head")
    if on_list:
        maker = make_staff(role=roles.RISK_OFFICER, institution=branch.institution)
        checker = make_staff(role=roles.RISK_OFFICER, institution=branch.institution)
        entry = list_entry_create(
            maker=maker,
            list_kind="white",
            key_type="id_number",
            key_value=farmer.id_number,
            reason_code="LIST_VILLAGE_CREDIT",
            source="whole_village",
            valid_from=BUSINESS_DATE.replace(year=2025),
            institution=branch.institution,
        )
        list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
    return farmer


def account_manager(*, branch):
    Group.objects.get_or_create(name=roles.ACCOUNT_MANAGER)
    return make_staff(role=roles.ACCOUNT_MANAGER, branch=branch, institution=branch.institution)
