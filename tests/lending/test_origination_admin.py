# ruff: noqa: F811 - pytest fixtures imported from tests.lending.origination_helpers
"""Back office of origination: product form (validation, versioning), status actions, applications list
scoped to the viewer with read-only decision fields and the state history."""

import json

import pytest
from django.db.models import JSONField

from jikuai.org import roles
from lending.admin_origination import ProductForm
from lending.models import Product, ProductStatus
from lending.services.origination import application_create, application_submit
from tests.factories import BranchFactory, make_staff
from tests.lending.origination_helpers import applicant, branch, policy, products, seeded_policy  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    staff = make_staff(role=roles.PROVINCE_ADMIN, superuser=True)
    client.force_login(staff.user)
    return client


def form_data(product: Product, **changes) -> dict:
    form = ProductForm(instance=product)
    data = {}
    for name in form.fields:
        value = form[name].value()
        model_field = Product._meta.get_field(name)
        if isinstance(model_field, JSONField):
            value = json.dumps(value if not isinstance(value, str) else json.loads(value))
        data[name] = "" if value is None else value
    for name, value in changes.items():
        data[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return {k: v for k, v in data.items() if v is not False}


def test_saving_a_change_to_an_active_product_bumps_its_version(admin_client, products):
    product = products["ydd"]
    version = product.version
    response = admin_client.post(f"/admin/lending/product/{product.pk}/change/", form_data(product, term_options=[12, 24]))
    assert response.status_code == 302, response.content.decode()[:2000]
    product.refresh_from_db()
    assert product.version == version + 1 and product.term_options == [12, 24]
    # saving without a change keeps the version
    admin_client.post(f"/admin/lending/product/{product.pk}/change/", form_data(product))
    product.refresh_from_db()
    assert product.version == version + 1


def test_invalid_configuration_is_refused_with_a_chinese_message(admin_client, products):
    product = products["ydd"]
    response = admin_client.post(f"/admin/lending/product/{product.pk}/change/", form_data(product, allowed_methods=["balloon"]))
    assert response.status_code == 200 and "还款方式须为以下代码的列表" in response.content.decode()
    response = admin_client.post(f"/admin/lending/product/{product.pk}/change/", form_data(product, lpr_spreads_bp={"A": 10}))
    assert response.status_code == 200 and "LPR加点须为各等级的基点数" in response.content.decode()
    product.refresh_from_db()
    assert product.allowed_methods == ["equal_installment", "equal_principal"]


def test_new_product_starts_as_draft_and_is_activated_by_action(admin_client, products):
    data = form_data(products["ydd"], code="newp", name="新产品")
    response = admin_client.post("/admin/lending/product/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    created = Product.objects.get(code="newp")
    assert created.status == ProductStatus.DRAFT and created.is_active is False
    # a draft may be saved before its rule sets are configured; activating it then asks for them
    bare = form_data(products["ydd"], code="newq", name="草稿产品", admission_ruleset="", limit_ruleset="")
    assert admin_client.post("/admin/lending/product/add/", bare).status_code == 302
    draft = Product.objects.get(code="newq")
    admin_client.post("/admin/lending/product/", {"action": "activate", "_selected_action": [draft.pk]})
    draft.refresh_from_db()
    assert draft.status == ProductStatus.DRAFT
    response = admin_client.post("/admin/lending/product/", {"action": "activate", "_selected_action": [created.pk]}, follow=True)
    created.refresh_from_db()
    assert created.status == ProductStatus.ACTIVE and created.is_active is True
    admin_client.post("/admin/lending/product/", {"action": "suspend", "_selected_action": [created.pk]})
    created.refresh_from_db()
    assert created.status == ProductStatus.SUSPENDED and created.is_active is False
    assert admin_client.get("/admin/lending/product/?status__exact=suspended").status_code == 200


def test_applications_are_scoped_and_show_the_state_history(client, products, branch):
    customer = applicant(branch=branch)
    app = application_create(
        customer=customer,
        product=products["ydd"],
        amount="30000",
        term_months=36,
        repayment_method="equal_installment",
        channel="web",
    )
    app = application_submit(application_id=app.pk)
    reviewer = make_staff(role=roles.CREDIT_REVIEWER, institution=branch.institution)
    client.force_login(reviewer.user)
    listing = client.get("/admin/lending/loanapplication/")
    assert listing.status_code == 200 and app.application_no in listing.content.decode()
    page = client.get(f"/admin/lending/loanapplication/{app.pk}/change/").content.decode()
    assert "deciding" in page and "approved" in page and customer.masked_name in page
    assert 'name="approved_amount"' not in page  # read-only
    outsider = make_staff(role=roles.CREDIT_REVIEWER, institution=BranchFactory().institution)
    client.force_login(outsider.user)
    assert app.application_no not in client.get("/admin/lending/loanapplication/").content.decode()
    assert client.get(f"/admin/lending/loanapplication/{app.pk}/change/").status_code == 404
