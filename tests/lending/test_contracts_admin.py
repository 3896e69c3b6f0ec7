"""Contract back office: scoped list and page, read-only, PDF download through the admin view, verify
action and button."""

import pytest

from jikuai.org import roles
from lending.contracts.services import contract_pdf_bytes, contract_prepare_for_application, contract_send_code, contract_sign
from tests.factories import make_staff
from tests.lending.contracts_factories import make_approved_application, private_media  # noqa: F401
from tests.web.factories import last_code

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("private_media")]


@pytest.fixture
def contract():
    return contract_prepare_for_application(application_id=make_approved_application().pk)


def _signed(contract):
    contract_send_code(contract_id=contract.pk, customer=contract.customer)
    return contract_sign(contract_id=contract.pk, customer=contract.customer, code=last_code(contract.customer.mobile))


def _login(client, role, institution, branch=None):
    staff = make_staff(role=role, institution=institution, branch=branch)
    client.force_login(staff.user)
    return staff


def test_staff_see_contracts_of_their_institution_only_and_read_only(client, contract):
    other = contract_prepare_for_application(application_id=make_approved_application().pk)  # another institution
    _login(client, roles.OPERATIONS, contract.institution)
    listing = client.get("/admin/lending/contract/")
    html = listing.content.decode()
    assert listing.status_code == 200 and contract.contract_no in html and other.contract_no not in html
    assert contract.customer.name not in html and contract.customer.masked_name in html
    page = client.get(f"/admin/lending/contract/{contract.pk}/change/")
    assert page.status_code == 200 and "下载合同 PDF" in page.content.decode() and 'name="_save"' not in page.content.decode()
    assert client.get(f"/admin/lending/contract/{other.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/lending/contract/{other.pk}/pdf/").status_code == 404
    assert client.get("/admin/lending/contract/add/").status_code == 403
    assert client.post(f"/admin/lending/contract/{contract.pk}/delete/").status_code == 403


def test_download_and_verify_from_the_admin(client, contract):
    staff_client = client
    _login(staff_client, roles.ACCOUNT_MANAGER, contract.institution, branch=contract.branch)
    # an account manager sees only contracts of customers assigned to them
    assert staff_client.get(f"/admin/lending/contract/{contract.pk}/pdf/").status_code == 404
    _login(staff_client, roles.INSTITUTION_ADMIN, contract.institution)
    unsigned = staff_client.get(f"/admin/lending/contract/{contract.pk}/pdf/")
    assert unsigned.status_code == 200 and unsigned.content == contract_pdf_bytes(contract)[0]
    warned = staff_client.get(f"/admin/lending/contract/{contract.pk}/verify/", follow=True)
    assert "尚未签署" in warned.content.decode()

    signed = _signed(contract)
    download = staff_client.get(f"/admin/lending/contract/{contract.pk}/pdf/")
    assert download.content == contract_pdf_bytes(signed)[0] and "attachment" in download["Content-Disposition"]
    checked = staff_client.get(f"/admin/lending/contract/{contract.pk}/verify/", follow=True)
    assert "签章有效" in checked.content.decode()
    action = staff_client.post(
        "/admin/lending/contract/", {"action": "verify_signatures", "_selected_action": [contract.pk]}, follow=True
    )
    assert "签章有效" in action.content.decode()


def test_staff_without_a_role_cannot_download(client, contract):
    _login(client, None, contract.institution)
    assert client.get(f"/admin/lending/contract/{contract.pk}/pdf/").status_code in (403, 404)
