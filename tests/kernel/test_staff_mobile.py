"""Staff work mobile (工作手机): stored encrypted like customers' PII, normalised and validated in the admin
form, shown masked in the staff list."""

import pytest
from django.db import connection
from django.urls import reverse

from jikuai.org.admin import StaffForm
from jikuai.org.models import Staff
from tests.factories import make_staff

pytestmark = pytest.mark.django_db
MOBILE = "13812345678"


def test_mobile_is_stored_encrypted():
    staff = make_staff(role=None, name="周行长")
    staff.mobile = MOBILE
    staff.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT mobile FROM org_staff WHERE id = %s", [staff.pk])
        raw = cursor.fetchone()[0]
        cursor.execute("SELECT mobile FROM org_historicalstaff WHERE id = %s", [staff.pk])
        history = [row[0] for row in cursor.fetchall()]
    assert MOBILE not in raw and raw.startswith("sm4gcm:")
    assert all(MOBILE not in value for value in history)
    assert Staff.objects.get(pk=staff.pk).mobile == MOBILE


def test_admin_list_shows_the_mobile_masked(client):
    superuser = make_staff(role=None, superuser=True, name="管理员")
    staff = make_staff(role=None, name="周行长")
    staff.mobile = MOBILE
    staff.save()
    client.force_login(superuser.user)
    response = client.get(reverse("admin:org_staff_changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "138****5678" in content and MOBILE not in content


@pytest.mark.parametrize(("value", "stored"), [("+86 138-1234-5678", MOBILE), ("", "")])
def test_admin_form_normalises_the_mobile(value, stored):
    staff = make_staff(role=None, name="周行长")
    data = {
        "user": staff.user_id,
        "employee_no": staff.employee_no,
        "name": staff.name,
        "rank": staff.rank,
        "is_active": "on",
        "mobile": value,
    }
    form = StaffForm(data=data, instance=staff)
    assert form.is_valid(), form.errors
    assert form.save().mobile == stored


def test_admin_form_refuses_a_bad_mobile():
    staff = make_staff(role=None, name="周行长")
    form = StaffForm(
        data={"user": staff.user_id, "employee_no": staff.employee_no, "name": staff.name, "rank": staff.rank, "mobile": "12345"},
        instance=staff,
    )
    assert not form.is_valid() and "mobile" in form.errors
    staff.refresh_from_db()
    assert staff.mobile == ""
