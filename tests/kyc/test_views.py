"""KYC pages: customer upload and status, private image serving, field upload, admin review queue."""

import io

import pytest
from PIL import Image

from jikuai.customers.kyc.models import KycDocument, KycRecord, KycState
from jikuai.customers.models import Customer, PiiAccessLog
from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from tests.factories import make_customer, make_staff
from tests.kyc import factories as images
from tests.kyc.conftest import (
    PASSWORD,
    assert_nothing_stored,
    kyc_uploads,
    login_customer,
    needs_review_record,
    submitted_record,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _role_permissions(db):
    sync_role_permissions()


def test_pages_need_a_customer_login(client):
    for url in ("/kyc/", "/kyc/upload/", "/kyc/status/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_status_page_before_any_attempt(client, holder):
    login_customer(client, holder)
    text = client.get("/kyc/").content.decode()
    assert "尚未实名认证" in text and 'href="/kyc/upload/"' in text


def test_upload_form_for_phones_and_desktops(client, holder):
    login_customer(client, holder)
    text = client.get("/kyc/upload/").content.decode()
    assert 'enctype="multipart/form-data"' in text
    assert text.count('accept="image/*"') == 3
    assert 'name="selfie"' in text and 'capture="user"' in text
    assert text.count("capture=") == 1  # ID card sides may come from the gallery


def test_refused_upload_shows_the_reason_and_stores_nothing(client, holder, private_media):
    login_customer(client, holder)
    uploads = kyc_uploads()
    uploads["id_back"] = images.upload(images.png_header_only(30000, 30000), "bomb.png", "image/png")
    response = client.post("/kyc/upload/", uploads)
    assert response.status_code == 400
    assert "百万像素" in response.content.decode()
    assert_nothing_stored(private_media)


def test_missing_file_is_a_form_error(client, holder, private_media):
    login_customer(client, holder)
    uploads = kyc_uploads()
    del uploads["selfie"]
    response = client.post("/kyc/upload/", uploads)
    assert response.status_code == 400 and "请上传本人自拍照" in response.content.decode()
    assert_nothing_stored(private_media)


def test_status_while_processing_polls_and_works_without_js(client, holder, django_capture_on_commit_callbacks):
    login_customer(client, holder)
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not run yet
        response = client.post("/kyc/upload/", kyc_uploads())
    assert response.status_code == 302 and response["Location"] == "/kyc/"
    text = client.get("/kyc/").content.decode()
    assert "已上传待识别" in text
    assert 'hx-get="/kyc/status/"' in text  # htmx polling
    assert 'href="/kyc/"' in text  # and a plain refresh link
    fragment = client.get("/kyc/status/").content.decode()
    assert fragment.lstrip().startswith('<div id="kyc-status"') and "<html" not in fragment
    # no second upload while the first is processing: back to the status page with a clear message
    assert client.get("/kyc/upload/")["Location"] == "/kyc/"
    refused = client.post("/kyc/upload/", kyc_uploads(), follow=True)
    assert "正在处理" in refused.content.decode()
    assert KycRecord.objects.count() == 1


def test_review_status_lists_the_reasons(client, holder):
    needs_review_record(holder)
    login_customer(client, holder)
    text = client.get("/kyc/").content.decode()
    assert "待人工审核" in text and "自动识别过程出错" in text
    assert "hx-get" not in text


def test_verified_customer_is_sent_back_from_the_upload_page(client, holder):
    Customer.objects.filter(pk=holder.pk).update(kyc_status=Customer.KycStatus.VERIFIED)
    login_customer(client, holder)
    response = client.get("/kyc/upload/")
    assert response.status_code == 302 and response["Location"] == "/kyc/"


# --- private image serving ---------------------------------------------------------------------


@pytest.fixture
def document(holder):
    record = submitted_record(holder)
    return record.documents.get(kind=KycDocument.Kind.SELFIE)


def _url(document) -> str:
    return f"/kyc/documents/{document.pk}/"


def test_the_customer_sees_their_own_image(client, holder, document):
    login_customer(client, holder)
    response = client.get(_url(document))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = b"".join(response.streaming_content)
    assert Image.open(io.BytesIO(body)).format == "JPEG"
    assert not Image.open(io.BytesIO(body)).getexif()


def test_nobody_else_sees_it(client, holder, document, other_institution):
    assert client.get(_url(document)).status_code == 404  # anonymous
    other_customer = make_customer(institution=holder.institution, name="孙八", password=PASSWORD)
    login_customer(client, other_customer)
    assert client.get(_url(document)).status_code == 404
    assert client.get("/kyc/documents/999999/").status_code == 404


def test_staff_in_scope_see_it_and_the_view_is_logged(client, document, reviewer, account_manager):
    for staff in (reviewer, account_manager):  # institution-wide reviewer; the customer's own account manager
        client.force_login(staff.user)
        response = client.get(_url(document))
        assert response.status_code == 200, staff
        b"".join(response.streaming_content)
    logs = PiiAccessLog.objects.filter(customer_id=document.record.customer_id)
    assert {log.user_id for log in logs} == {reviewer.user_id, account_manager.user_id}
    assert all(log.fields == f"kyc_document:selfie#{document.pk}" for log in logs)


def test_staff_out_of_scope_or_without_the_permission_get_404(client, document, foreign_reviewer, branch, institution):
    other_manager = make_staff(role=roles.ACCOUNT_MANAGER, branch=branch, name="别的客户经理")  # not assigned to the customer
    merchant_ops = make_staff(role=roles.MERCHANT_OPS, institution=institution, name="商户运营")  # in scope, no KYC grant
    for staff in (foreign_reviewer, other_manager, merchant_ops):
        client.force_login(staff.user)
        assert client.get(_url(document)).status_code == 404, staff
    assert not PiiAccessLog.objects.exists()


# --- field app (移动展业) --------------------------------------------------------------------------


def test_field_page_for_the_account_manager(client, holder, account_manager, private_media):
    client.force_login(account_manager.user)
    page = client.get(f"/kyc/field/customers/{holder.pk}/")
    assert page.status_code == 200
    assert 'name="field_photo"' in page.content.decode()
    uploads = {**kyc_uploads(), "field_photo": images.upload(images.jpeg_bytes(images.no_face_image()), "visit.jpg")}
    response = client.post(f"/kyc/field/customers/{holder.pk}/", uploads)
    assert response.status_code == 302
    record = KycRecord.objects.get(customer=holder)
    assert record.channel == KycRecord.Channel.FIELD and record.created_by_staff == account_manager
    assert record.documents.count() == 4
    assert "已上传待识别" in client.get(f"/kyc/field/customers/{holder.pk}/").content.decode()


def test_field_page_is_404_outside_the_scope_and_login_is_needed(client, holder, foreign_reviewer):
    assert client.get(f"/kyc/field/customers/{holder.pk}/").status_code == 302
    client.force_login(foreign_reviewer.user)
    assert client.get(f"/kyc/field/customers/{holder.pk}/").status_code == 404


# --- admin review -------------------------------------------------------------------------------


def test_review_queue_and_approval_in_admin(client, holder, reviewer, django_capture_on_commit_callbacks):
    record = needs_review_record(holder)
    client.force_login(reviewer.user)
    queue = client.get("/admin/customers/kycrecord/?state__exact=needs_review")
    assert queue.status_code == 200
    assert f"/admin/customers/kycrecord/{record.pk}/review/" in queue.content.decode()

    page = client.get(f"/admin/customers/kycrecord/{record.pk}/review/")
    text = page.content.decode()
    assert page.status_code == 200
    for document in record.documents.all():
        assert f"/kyc/documents/{document.pk}/" in text
    assert "自动识别过程出错" in text and 'value="approve"' in text
    assert client.get(f"/admin/customers/kycrecord/{record.pk}/change/").status_code == 200

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/admin/customers/kycrecord/{record.pk}/review/", {"action": "approve", "comment": "核对无误"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.state == KycState.VERIFIED and record.reviewer == reviewer and record.review_comment == "核对无误"


def test_admin_refuses_the_maker_and_hides_other_institutions(client, holder, foreign_reviewer):
    maker = make_staff(role=roles.BRANCH_MANAGER, branch=holder.branch, name="支行行长丙")
    record = needs_review_record(holder, actor=maker)
    client.force_login(maker.user)
    page = client.get(f"/admin/customers/kycrecord/{record.pk}/review/").content.decode()
    assert "双人复核" in page and 'value="approve"' not in page
    response = client.post(f"/admin/customers/kycrecord/{record.pk}/review/", {"action": "approve"}, follow=True)
    assert "不能审核自己代办的实名认证" in response.content.decode()
    record.refresh_from_db()
    assert record.state == KycState.NEEDS_REVIEW

    client.force_login(foreign_reviewer.user)
    assert client.get(f"/admin/customers/kycrecord/{record.pk}/review/").status_code == 404
    assert client.get(f"/admin/customers/kycrecord/{record.pk}/change/").status_code == 404
    assert f"/admin/customers/kycrecord/{record.pk}/change/" not in client.get("/admin/customers/kycrecord/").content.decode()


def test_admin_search_by_full_id_number(client, holder, reviewer):
    record = needs_review_record(holder)
    client.force_login(reviewer.user)
    text = client.get("/admin/customers/kycrecord/", {"q": holder.id_number}).content.decode()
    assert f"/admin/customers/kycrecord/{record.pk}/change/" in text
    text = client.get("/admin/customers/kycrecord/", {"q": "110105194912310037"}).content.decode()
    assert f"/admin/customers/kycrecord/{record.pk}/change/" not in text


def test_a_missing_stored_file_is_a_404_not_an_error(client, holder):
    record = needs_review_record(holder)  # its ID front file is gone
    login_customer(client, holder)
    front = record.documents.get(kind=KycDocument.Kind.ID_FRONT)
    assert client.get(_url(front)).status_code == 404
    assert client.get(_url(record.documents.get(kind=KycDocument.Kind.ID_BACK))).status_code == 200
