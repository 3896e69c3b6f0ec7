"""Back office of credit lines: scoped list and detail with read-only balances and the change journal;
a request made on the line page, approved by a second staff member; the maker cannot approve their own
request; an account manager may make but not approve; bounded queries on the list."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jikuai.org import roles
from lending.models import CreditLine, CreditLineRequest
from lending.services.lines import drawdown_request
from tests.factories import BranchFactory, make_customer, make_staff
from tests.lending.lines_factories import assert_balanced, open_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def branch():
    return BranchFactory()


@pytest.fixture
def line(branch):
    return open_line(customer=make_customer(branch=branch), amount="50000", day=dt.date(2026, 3, 16))


def login(client, role, branch):
    staff = make_staff(
        role=role,
        institution=branch.institution,
        branch=branch if role in (roles.BRANCH_MANAGER, roles.ACCOUNT_MANAGER) else None,
    )
    client.force_login(staff.user)
    return staff


def test_line_pages_are_scoped_and_read_only(client, line, branch):
    drawdown_request(line_id=line.pk, amount="10000", term_months=6, repayment_method="equal_principal", channel="web")
    login(client, roles.OPERATIONS, branch)
    listing = client.get("/admin/lending/creditline/").content.decode()
    assert line.line_no in listing
    html = client.get(f"/admin/lending/creditline/{line.pk}/change/").content.decode()
    assert "50,000.00" in html and "40,000.00" in html and "用信占用" in html and "开立" in html
    assert 'name="limit"' not in html and 'name="available"' not in html  # balances are read-only
    other = open_line(amount="30000")
    assert other.line_no not in client.get("/admin/lending/creditline/").content.decode()
    assert client.get(f"/admin/lending/creditline/{other.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/lending/creditline/{other.pk}/request/").status_code == 404
    assert client.get("/admin/lending/creditline/add/").status_code == 403
    assert line.line_no in client.get("/admin/lending/drawdown/").content.decode()


def test_request_made_on_the_line_and_approved_by_another(client, line, branch):
    drawdown_request(line_id=line.pk, amount="10000", term_months=6, repayment_method="equal_principal", channel="web")
    maker = login(client, roles.OPERATIONS, branch)
    response = client.post(
        f"/admin/lending/creditline/{line.pk}/request/", {"action": "adjust", "new_limit": "5000", "reason": "降额"}
    )
    assert response.status_code == 200 and "不能低于已用额度" in response.content.decode()
    assert CreditLineRequest.objects.count() == 0
    response = client.post(
        f"/admin/lending/creditline/{line.pk}/request/", {"action": "adjust", "new_limit": "80000", "reason": "提额"}
    )
    assert response.status_code == 302
    request = CreditLineRequest.objects.get()
    assert request.maker_id == maker.pk and request.status == "pending"
    client.post("/admin/lending/creditlinerequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    assert request.status == "pending" and assert_balanced(line).limit == Decimal("50000.00")  # maker ≠ checker
    login(client, roles.OPERATIONS, branch)
    client.post("/admin/lending/creditlinerequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    line = assert_balanced(line)
    assert request.status == "approved" and line.limit == Decimal("80000.00") and line.available == Decimal("70000.00")


def test_account_manager_makes_but_cannot_approve(client, line, branch):
    manager = login(client, roles.ACCOUNT_MANAGER, branch)
    other = open_line(customer=make_customer(branch=branch), amount="20000")
    CreditLine.objects.filter(pk=line.pk).update(account_manager=manager)
    assert client.get(f"/admin/lending/creditline/{other.pk}/request/").status_code == 404  # not assigned to them
    response = client.post(f"/admin/lending/creditline/{line.pk}/request/", {"action": "freeze", "reason": "走访发现风险"})
    assert response.status_code == 302
    request = CreditLineRequest.objects.get()
    client.post("/admin/lending/creditlinerequest/", {"action": "approve", "_selected_action": [request.pk]})
    request.refresh_from_db()
    line.refresh_from_db()
    assert request.status == "pending" and line.state == "active"  # approving needs another role


def test_list_query_count_is_bounded(client, branch):
    login(client, roles.OPERATIONS, branch)
    customer = make_customer(branch=branch)
    open_line(customer=customer, amount="10000")
    with CaptureQueriesContext(connection) as one:
        client.get("/admin/lending/creditline/")
    for _ in range(5):
        open_line(customer=make_customer(branch=branch), amount="10000")
    with CaptureQueriesContext(connection) as six:
        client.get("/admin/lending/creditline/")
    assert len(six) == len(one)
