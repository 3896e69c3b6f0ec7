"""The scoping matrix: who sees which customers, in the admin and through the scoped queryset."""

import pytest
from guardian.shortcuts import assign_perm

from jikuai.customers.models import Customer
from jikuai.org import roles
from jikuai.org.scoping import scope_queryset
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    inst_a, inst_b = InstitutionFactory(), InstitutionFactory()
    a1, a2 = BranchFactory(institution=inst_a), BranchFactory(institution=inst_a)
    b1 = BranchFactory(institution=inst_b)
    am1 = make_staff(role=roles.ACCOUNT_MANAGER, branch=a1)
    am2 = make_staff(role=roles.ACCOUNT_MANAGER, branch=a1)
    customers = {
        "a1_am1": make_customer(branch=a1, account_manager=am1, name="甲一"),
        "a1_am2": make_customer(branch=a1, account_manager=am2, name="甲二"),
        "a2": make_customer(branch=a2, name="甲三"),
        "b1": make_customer(branch=b1, name="乙一"),
    }
    return {"inst_a": inst_a, "inst_b": inst_b, "a1": a1, "a2": a2, "b1": b1, "am1": am1, "am2": am2, "c": customers}


def _visible(user, world):
    ids = set(scope_queryset(Customer.objects.all(), user).values_list("pk", flat=True))
    return {key for key, customer in world["c"].items() if customer.pk in ids}


def test_matrix(world):
    province = make_staff(role=roles.PROVINCE_ADMIN)
    inst_admin = make_staff(role=roles.INSTITUTION_ADMIN, institution=world["inst_a"])
    reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=world["inst_a"], branch=world["a2"])
    manager = make_staff(role=roles.BRANCH_MANAGER, branch=world["a1"])
    other_bank = make_staff(role=roles.INSTITUTION_ADMIN, institution=world["inst_b"])
    no_role = make_staff(role=None, institution=world["inst_a"])
    assert _visible(province.user, world) == {"a1_am1", "a1_am2", "a2", "b1"}
    assert _visible(inst_admin.user, world) == {"a1_am1", "a1_am2", "a2"}
    assert _visible(reviewer.user, world) == {"a1_am1", "a1_am2", "a2"}
    assert _visible(manager.user, world) == {"a1_am1", "a1_am2"}
    assert _visible(world["am1"].user, world) == {"a1_am1"}
    assert _visible(other_bank.user, world) == {"b1"}
    assert _visible(no_role.user, world) == set()


def test_inactive_staff_sees_nothing(world):
    world["am1"].is_active = False
    world["am1"].save()
    user = type(world["am1"].user).objects.get(pk=world["am1"].user_id)
    assert _visible(user, world) == set()


def test_guardian_grant_adds_one_object_outside_the_hierarchy(world):
    am1 = world["am1"]
    assign_perm("customers.view_customer", am1.user, world["c"]["a2"])
    user = type(am1.user).objects.get(pk=am1.user_id)
    assert _visible(user, world) == {"a1_am1", "a2"}


def test_admin_list_and_detail_urls_follow_the_scope(world, client):
    staff = make_staff(role=roles.INSTITUTION_ADMIN, institution=world["inst_a"], password="Passw0rd!2026")
    client.force_login(staff.user)
    response = client.get("/admin/customers/customer/")
    assert response.status_code == 200
    html = response.content.decode()
    assert world["c"]["a1_am1"].masked_id_number in html
    assert world["c"]["b1"].masked_id_number not in html
    # full values never in the list
    assert world["c"]["a1_am1"].id_number not in html
    # another institution's customer by URL → 404
    other = client.get(f"/admin/customers/customer/{world['c']['b1'].pk}/change/")
    assert other.status_code == 404
    mine = client.get(f"/admin/customers/customer/{world['c']['a1_am1'].pk}/change/")
    assert mine.status_code == 200


def test_full_pii_needs_the_permission_and_is_logged(world, client):
    from jikuai.customers.models import PiiAccessLog

    customer = world["c"]["a1_am1"]
    am1 = world["am1"]
    client.force_login(am1.user)
    assert client.get(f"/admin/customers/customer/{customer.pk}/pii/").status_code == 403
    assert PiiAccessLog.objects.count() == 0
    manager = make_staff(role=roles.BRANCH_MANAGER, branch=world["a1"])
    client.force_login(manager.user)
    response = client.get(f"/admin/customers/customer/{customer.pk}/pii/")
    assert response.status_code == 200 and customer.id_number in response.content.decode()
    assert PiiAccessLog.objects.filter(user=manager.user, customer=customer).count() == 1
    # a customer of another institution cannot be opened even with the permission
    assert client.get(f"/admin/customers/customer/{world['c']['b1'].pk}/pii/").status_code == 404
