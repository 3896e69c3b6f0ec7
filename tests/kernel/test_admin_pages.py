import pytest

from jikuai.core.demo import seed_kernel
from jikuai.customers.models import Customer
from jikuai.org.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    seed_kernel(customers_per_bank=4)


def test_seed_is_idempotent(demo):
    before = Customer.objects.count()
    seed_kernel(customers_per_bank=4)
    assert Customer.objects.count() == before


def test_dashboard_counts_are_scoped(client, demo):
    ys_admin = User.objects.get(username="ys_admin")
    client.force_login(ys_admin)
    html = client.get("/admin/").content.decode()
    ys_count = Customer.objects.filter(institution__code="YSRCB").count()
    assert f'data-testid="total-customers">{ys_count}<' in html
    assert "延边农村商业银行" not in html
    province = User.objects.get(username="province_admin")
    client.force_login(province)
    html = client.get("/admin/").content.decode()
    assert f'data-testid="total-customers">{Customer.objects.count()}<' in html


@pytest.mark.parametrize(
    "path",
    [
        "/admin/customers/customer/",
        "/admin/customers/household/",
        "/admin/org/staff/",
        "/admin/org/branch/",
        "/admin/core/outboxevent/",
        "/admin/core/jobrun/",
        "/admin/core/calendarday/",
        "/admin/api/integratorclient/",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_admin_pages_render_for_the_province_admin(client, demo, path):
    client.force_login(User.objects.get(username="admin"))
    assert client.get(path).status_code == 200


def test_customer_list_query_count_does_not_grow_with_rows(client, demo, django_assert_max_num_queries):
    client.force_login(User.objects.get(username="province_admin"))
    with django_assert_max_num_queries(25):
        assert client.get("/admin/customers/customer/").status_code == 200


def test_staff_login_lockout_after_repeated_failures(client, demo):
    for _ in range(5):
        client.post("/admin/login/", {"username": "ys_ops", "password": "wrong-password"})
    response = client.post("/admin/login/", {"username": "ys_ops", "password": "Jikuai@2026"})
    assert response.status_code == 429
    assert "锁定" in response.content.decode()


def test_healthz_reports_components(client):
    data = client.get("/healthz").json()
    assert set(data["checks"]) == {"database", "cache", "broker"}
    assert data["checks"]["database"]["ok"]


def test_periodic_jobs_are_registered_in_beat(demo):
    from django_celery_beat.models import PeriodicTask

    from jikuai.core.scheduling import sync_periodic_tasks

    sync_periodic_tasks()
    assert PeriodicTask.objects.filter(task="jikuai.core.tasks.redeliver_events").exists()


def test_staff_adds_a_customer_in_the_admin_with_validation(client, demo):
    from tests.factories import new_id_number

    ys_admin = User.objects.get(username="ys_admin")
    client.force_login(ys_admin)
    institution = ys_admin.staff.institution
    before = Customer.objects.count()
    bad = client.post(
        "/admin/customers/customer/add/",
        {
            "institution": institution.pk,
            "name": "孙七",
            "id_number_input": "220182198603140011",
            "mobile_input": "13712345678",
            "occupation": "farmer",
            "monthly_income": "3000",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
        },
    )
    assert bad.status_code == 200 and "校验位" in bad.content.decode()
    assert Customer.objects.count() == before
    id_number = new_id_number(age=44)
    ok = client.post(
        "/admin/customers/customer/add/",
        {
            "institution": institution.pk,
            "name": "孙七",
            "id_number_input": id_number,
            "mobile_input": "13712345678",
            "occupation": "farmer",
            "monthly_income": "3000",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
        },
    )
    assert ok.status_code == 302, ok.content.decode()[:2000]
    created = Customer.objects.get(institution=institution, name="孙七")
    assert created.id_number == id_number and created.channel == "field"
    # another institution cannot be chosen by a staff member of this one
    other = client.post(
        "/admin/customers/customer/add/",
        {
            "institution": Customer.objects.exclude(institution=institution).first().institution_id,
            "name": "周八",
            "id_number_input": new_id_number(),
            "mobile_input": "13712345679",
            "occupation": "farmer",
            "monthly_income": "3000",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
        },
    )
    assert other.status_code == 200
    assert not Customer.objects.filter(name="周八").exists()


def test_pages_open_in_chinese_whatever_the_browser_asks(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert 'lang="zh-hans"' in html
    client.cookies["django_language"] = "en"
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'lang="en"' in html
