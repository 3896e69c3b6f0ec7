"""Staff field-app entry (/field/): who the staff member is and only the customers in their scope."""

import pytest
from django.urls import reverse

from jikuai.org import roles
from tests.factories import BranchFactory, make_customer, make_staff

pytestmark = pytest.mark.django_db

FIELD = reverse("web:field")


@pytest.fixture
def world(institution, other_institution):
    branch = BranchFactory(institution=institution, name="五棵树支行")
    other_branch = BranchFactory(institution=institution, name="弓棚支行")
    manager = make_staff(role=roles.ACCOUNT_MANAGER, branch=branch, name="刘经理")
    mine = make_customer(institution=institution, branch=branch, account_manager=manager, name="孙悟空")
    same_branch = make_customer(institution=institution, branch=branch, name="猪八戒")
    other_branch_customer = make_customer(institution=institution, branch=other_branch, name="沙和尚")
    elsewhere = make_customer(institution=other_institution, name="唐三藏")
    return {
        "branch": branch,
        "manager": manager,
        "mine": mine,
        "same_branch": same_branch,
        "other_branch": other_branch_customer,
        "elsewhere": elsewhere,
    }


def visible(html, customers):
    return {c.name for c in customers if c.masked_id_number in html}


def test_account_manager_sees_only_assigned_customers_masked(client, world):
    client.force_login(world["manager"].user)
    response = client.get(FIELD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "刘经理" in html and "五棵树支行" in html and roles.ACCOUNT_MANAGER in html
    assert world["branch"].institution.name in html
    everyone = [world[k] for k in ("mine", "same_branch", "other_branch", "elsewhere")]
    assert visible(html, everyone) == {"孙悟空"}
    assert "可查看的客户：1 位" in html
    mine = world["mine"]
    assert mine.masked_name in html and mine.masked_mobile in html
    assert mine.id_number not in html and mine.mobile not in html and mine.name not in html
    assert reverse("admin:customers_customer_change", args=[mine.pk]) in html


def test_branch_manager_sees_the_branch(client, world):
    staff = make_staff(role=roles.BRANCH_MANAGER, branch=world["branch"], name="周行长")
    client.force_login(staff.user)
    html = client.get(FIELD).content.decode()
    everyone = [world[k] for k in ("mine", "same_branch", "other_branch", "elsewhere")]
    assert visible(html, everyone) == {"孙悟空", "猪八戒"}


def test_institution_admin_sees_the_institution_only(client, world, institution):
    staff = make_staff(role=roles.INSTITUTION_ADMIN, institution=institution, name="吴管理员")
    client.force_login(staff.user)
    html = client.get(FIELD).content.decode()
    everyone = [world[k] for k in ("mine", "same_branch", "other_branch", "elsewhere")]
    assert visible(html, everyone) == {"孙悟空", "猪八戒", "沙和尚"}
    assert "可查看的客户：3 位" in html


def test_province_admin_sees_everyone(client, world):
    staff = make_staff(role=roles.PROVINCE_ADMIN, name="省联社管理员甲")
    client.force_login(staff.user)
    html = client.get(FIELD).content.decode()
    assert "省联社" in html
    everyone = [world[k] for k in ("mine", "same_branch", "other_branch", "elsewhere")]
    assert visible(html, everyone) == {"孙悟空", "猪八戒", "沙和尚", "唐三藏"}


def test_staff_without_a_role_sees_no_customer(client, world, institution):
    staff = make_staff(role=None, institution=institution)
    client.force_login(staff.user)
    html = client.get(FIELD).content.decode()
    assert "可查看的客户：0 位" in html and "未分配角色" in html


def test_field_needs_a_staff_login(client, world):
    response = client.get(FIELD)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    # an inactive or non-staff user is refused too
    user = world["manager"].user
    user.is_staff = False
    user.save()
    client.force_login(user)
    assert client.get(FIELD).status_code == 302
