"""Reviewer's workbench (/loans/review/) and the review-task admin: queues, claim next, the task page with
masked customer data, KYC images, decision reasons, household and white-list context; decisions through
the form; everything scoped (outside → 404)."""

import datetime as dt
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from jikuai.core.workdays import business_date_set
from jikuai.customers.kyc.models import KycDocument, KycRecord
from jikuai.customers.models import Household, HouseholdMember, PiiAccessLog, Region
from jikuai.org import roles
from lending.models import ReviewTask
from lending.services.review import review_claim, review_task_open
from riskrules.models import ReasonCode
from riskrules.services.lists import list_entry_check, list_entry_create
from tests.factories import make_customer, make_staff, new_id_number
from tests.lending.review_factories import MONDAY, World

pytestmark = pytest.mark.django_db
NINE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
WORKBENCH = "/loans/review/"


def task_url(task, suffix=""):
    return f"/loans/review/tasks/{task.pk}/{suffix}"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"


@pytest.fixture
def world():
    business_date_set(day=MONDAY)
    return World()


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def with_kyc(customer) -> KycDocument:
    record = KycRecord.objects.create(
        customer=customer, state="verified", face_distance=0.31, face_match=True, processed_at=timezone.now()
    )
    data = jpeg()
    return KycDocument.objects.create(
        record=record,
        kind=KycDocument.Kind.SELFIE,
        file=ContentFile(data, name="selfie.jpg"),
        sha256="0" * 64,
        size=len(data),
        width=40,
        height=30,
        source_format="JPEG",
        source_bytes=len(data),
    )


def with_household(world) -> Household:
    town = Region.objects.create(code="220182100", name="测试镇", level=Region.Level.TOWN)
    village = Region.objects.create(code="220182100201", name="幸福村", level=Region.Level.VILLAGE, parent=town)
    household = Household.objects.create(
        institution=world.institution, branch=world.branch, village=village, head=world.customer, household_no="HH0001"
    )
    HouseholdMember.objects.create(household=household, customer=world.customer, name="刘德华", relation="head")
    HouseholdMember.objects.create(household=household, name="朱丽倩", relation="spouse")
    Household.objects.create(
        institution=world.institution,
        village=village,
        head=make_customer(institution=world.institution, name="邻居甲"),
        household_no="HH0002",
    )
    return household


def white_list(world, id_number: str) -> None:
    ReasonCode.objects.get_or_create(
        code="LIST_VILLAGE_CREDIT", defaults={"text_zh": "整村授信预授信白名单", "text_en": "whole-village", "category": "list"}
    )
    maker = make_staff(role=roles.RISK_OFFICER, institution=world.institution, name="录入")
    checker = make_staff(role=roles.RISK_OFFICER, institution=world.institution, name="复核")
    entry = list_entry_create(
        maker=maker,
        list_kind="white",
        key_type="id_number",
        key_value=id_number,
        reason_code="LIST_VILLAGE_CREDIT",
        source="whole_village",
        valid_from=MONDAY - dt.timedelta(days=30),
        institution=world.institution,
    )
    list_entry_check(entry_id=entry.pk, checker=checker, approve=True)


def open_task(world, **fields) -> ReviewTask:
    return review_task_open(application=world.application(**fields), now=NINE)


def test_workbench_counts_and_claim_next(client, world):
    first = open_task(world)
    open_task(world, customer=make_customer(institution=world.institution, branch=world.branch, name="陈小春"))
    client.force_login(world.reviewer.user)
    page = client.get(WORKBENCH)
    assert page.status_code == 200
    html = page.content.decode()
    assert '<strong id="open-total">2</strong>' in html
    assert "刘德华" not in html and "刘**" in html  # masked
    response = client.post(reverse("lending:review:claim_next"))
    assert response.status_code == 302 and response["Location"] == task_url(first)
    first.refresh_from_db()
    assert first.assignee_id == world.reviewer.pk
    assert '<strong id="open-total">1</strong>' in client.get(WORKBENCH).content.decode()


def test_claim_next_on_an_empty_queue(client, world):
    client.force_login(world.reviewer.user)
    response = client.post(reverse("lending:review:claim_next"), follow=True)
    assert "暂无待领取的任务" in response.content.decode()


def test_workbench_needs_a_review_role(client, world):
    client.force_login(world.account_manager.user)
    refused = client.get(WORKBENCH)
    assert refused.status_code == 403 and "无权访问" in refused.content.decode()  # the site's page, not a bare one
    client.logout()
    assert client.get(WORKBENCH).status_code == 302  # to the staff login


def test_task_page_shows_masked_context(client, world):
    id_number = new_id_number()
    world.customer = make_customer(
        institution=world.institution,
        branch=world.branch,
        account_manager=world.account_manager,
        name="刘德华",
        id_number=id_number,
    )
    document = with_kyc(world.customer)
    with_household(world)
    white_list(world, id_number)
    task = open_task(world, decision_ids={"admission": 4242})
    client.force_login(world.reviewer.user)
    response = client.get(task_url(task))
    assert response.status_code == 200
    html = response.content.decode()
    assert "刘德华" not in html and "朱丽倩" not in html and id_number not in html
    assert world.customer.masked_id_number in html and world.customer.masked_mobile in html
    assert f'src="/kyc/documents/{document.pk}/"' in html
    assert "收入未能核实，需人工审核" in html  # the automated decision's reasons
    assert 'href="/rules/decisions/4242/"' in html
    assert "HH0001" in html and "幸福村" in html and "本村共 2 户" in html
    assert "whole_village" in html and "badge-ok" in html
    assert "领取任务" in html and 'id="decide"' not in html  # not claimed yet: no decision form
    # the image itself, through the kernel's access-checked view (logged as a PII access)
    image = client.get(f"/kyc/documents/{document.pk}/")
    assert image.status_code == 200 and image["Cache-Control"] == "private, no-store"
    assert PiiAccessLog.objects.filter(user=world.reviewer.user, customer=world.customer).exists()


def test_out_of_scope_is_404(client, world):
    task = open_task(world)
    client.force_login(world.foreign_reviewer.user)
    assert client.get(task_url(task)).status_code == 404
    assert client.post(task_url(task, "claim/")).status_code == 404
    assert client.post(task_url(task, "decide/"), {"action": "approve"}).status_code == 404
    big = open_task(world, amount="200000.00", customer=make_customer(institution=world.institution, branch=world.branch))
    client.force_login(world.other_manager.user)  # branch manager of another branch
    assert client.get(task_url(big)).status_code == 404
    assert ReviewTask.objects.filter(status="open").count() == 2


def test_claim_decide_through_the_pages(client, world):
    task = open_task(world, amount="60000.00", decided="50000.00")
    client.force_login(world.reviewer.user)
    assert client.post(task_url(task, "claim/")).status_code == 302
    page = client.get(task_url(task)).content.decode()
    assert 'id="decide"' in page and 'value="50000.00"' in page and 'value="6.5000"' in page
    # above the limit: the form comes back with the error, nothing changed
    response = client.post(
        task_url(task, "decide/"), {"action": "approve", "approved_amount": "60000", "annual_rate_percent": "6.5", "comment": ""}
    )
    assert response.status_code == 400 and "不能超过申请金额或自动决策额度" in response.content.decode()
    task.application.refresh_from_db()
    assert task.application.state == "referred"
    response = client.post(
        task_url(task, "decide/"),
        {"action": "approve", "approved_amount": "48000", "annual_rate_percent": "7.2", "comment": "核实无误"},
    )
    assert response.status_code == 302 and response["Location"] == WORKBENCH
    task.application.refresh_from_db()
    assert task.application.state == "approved"
    assert task.application.approved_amount == Decimal("48000.00") and task.application.annual_rate == Decimal("0.072")
    # deciding twice
    response = client.post(task_url(task, "decide/"), {"action": "reject", "comment": "再拒绝"})
    assert response.status_code == 400 and "不能重复审批" in response.content.decode()


def test_rate_error_is_shown_on_the_field(client, world):
    task = open_task(world)
    review_claim(task_id=task.pk, staff=world.reviewer)
    client.force_login(world.reviewer.user)
    response = client.post(task_url(task, "decide/"), {"action": "approve", "annual_rate_percent": "25", "comment": ""})
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["annual_rate_percent"]


def test_pass_up_and_release_through_the_pages(client, world):
    task = open_task(world, amount="150000.00")
    ReviewTask.objects.filter(pk=task.pk).update(queue_role=roles.CREDIT_REVIEWER)
    review_claim(task_id=task.pk, staff=world.reviewer)
    client.force_login(world.reviewer.user)
    response = client.post(task_url(task, "decide/"), {"action": "approve", "comment": ""})
    assert response.status_code == 400 and "超出您的审批权限" in response.content.decode()
    response = client.post(task_url(task, "decide/"), {"action": "pass_up", "comment": "建议行长审批"})
    assert response.status_code == 302
    new_task = ReviewTask.objects.get(status="open")
    assert new_task.queue_role == roles.BRANCH_MANAGER
    client.force_login(world.manager.user)
    page = client.get(task_url(new_task)).content.decode()
    assert "建议行长审批" in page and 'id="history"' in page
    client.post(task_url(new_task, "claim/"))
    assert client.post(task_url(new_task, "release/")).status_code == 302
    new_task.refresh_from_db()
    assert new_task.status == "open" and new_task.assignee_id is None


def test_admin_lists_scoped_tasks_read_only_with_actions(client, world):
    mine = open_task(world)
    foreign_world = World()
    theirs = review_task_open(application=foreign_world.application(), now=NINE)
    client.force_login(world.reviewer.user)
    changelist = client.get("/admin/lending/reviewtask/")
    assert changelist.status_code == 200
    ids = {row.pk for row in changelist.context["cl"].result_list}
    assert mine.pk in ids and theirs.pk not in ids
    assert client.get(f"/admin/lending/reviewtask/{theirs.pk}/change/").status_code == 404
    detail = client.get(f"/admin/lending/reviewtask/{mine.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content  # read-only
    client.post("/admin/lending/reviewtask/", {"action": "claim", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.assignee_id == world.reviewer.pk
    client.post("/admin/lending/reviewtask/", {"action": "release", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.status == "open"


def _queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm the per-process caches (content types, admin sidebar)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_workbench_and_admin_list_query_counts_do_not_grow(client, world):
    def add_claimed(count):
        for _ in range(count):
            customer = make_customer(institution=world.institution, branch=world.branch)
            review_claim(task_id=open_task(world, customer=customer).pk, staff=world.reviewer)
            open_task(world, customer=make_customer(institution=world.institution, branch=world.branch))

    add_claimed(1)
    client.force_login(world.reviewer.user)
    one = (_queries(client, WORKBENCH), _queries(client, "/admin/lending/reviewtask/"))
    add_claimed(6)
    many = (_queries(client, WORKBENCH), _queries(client, "/admin/lending/reviewtask/"))
    assert one == many
