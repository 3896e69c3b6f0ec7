"""Merchant onboarding: state machine with history, licence image validation and private storage, review tasks,
maker-checker, the merchant_signed event, and guardian grants for merchant staff."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django_fsm_log.models import StateLog
from PIL import Image

from jikuai.core.exceptions import Conflict, PermissionDeniedError
from jikuai.core.models import OutboxEvent
from jikuai.org import roles
from lifestyle.models import Merchant, ReviewTask
from lifestyle.services import merchants, uploads
from tests.factories import make_staff
from tests.lifestyle.factories import make_merchant, make_merchant_user, make_region

pytestmark = pytest.mark.django_db


def _jpeg(size=(800, 600), *, exif=True) -> bytes:
    image = Image.new("RGB", size, (200, 180, 90))
    out = io.BytesIO()
    kwargs = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"  # Make
        data[0x8825] = {1: "N"}  # GPS info
        kwargs["exif"] = data.tobytes()
    image.save(out, format="JPEG", **kwargs)
    return out.getvalue()


def _apply(institution, staff=None, image=None, **fields):
    return merchants.merchant_apply(
        institution=institution,
        name=fields.pop("name", "春雷农资店"),
        category=fields.pop("category", "agri_supplies"),
        region=fields.pop("region", None) or make_region(),
        settlement_account=fields.pop("settlement_account", "6217 0000 1234 5678"),
        settlement_account_name="春雷农资店",
        licence_image=image if image is not None else _jpeg(),
        signed_by=staff,
        fee_rate="0.006",
        **fields,
    )


def _reviewer(institution):
    user = make_staff(role=roles.MERCHANT_OPS, institution=institution).user
    user.user_permissions.add(Permission.objects.get(codename="review_merchant"))
    return type(user).objects.get(pk=user.pk)


def test_apply_stores_licence_privately_without_exif_and_opens_a_review_task(institution):
    signer = make_staff(role=roles.ACCOUNT_MANAGER, institution=institution)
    merchant = _apply(institution, signer)
    assert merchant.state == Merchant.State.APPLIED
    stored = Path(settings.PRIVATE_MEDIA_ROOT) / merchant.licence_image
    assert stored.exists() and not str(stored).startswith(str(settings.MEDIA_ROOT))
    with Image.open(stored) as image:
        assert image.format == "JPEG" and not image.getexif()
    merchant.refresh_from_db()
    assert merchant.settlement_account == "6217000012345678"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT settlement_account FROM lifestyle_merchant WHERE id = %s", [merchant.pk])
        raw = cursor.fetchone()[0]
    assert raw.startswith("sm4gcm:") and "6217000012345678" not in raw
    task = ReviewTask.objects.get(merchant=merchant)
    assert (task.kind, task.queue_role, task.status) == ("merchant_review", roles.MERCHANT_OPS, "open")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"GIF89a" + b"\x00" * 100,
        b"%PDF-1.4 not an image",
    ],
)
def test_bad_licence_files_refused_and_nothing_created(institution, payload):
    with pytest.raises(uploads.ImageRejected):
        _apply(institution, image=payload)
    assert not Merchant.objects.exists() and not ReviewTask.objects.exists()


def test_gif_tiny_and_bomb_images_refused(institution):
    gif = io.BytesIO()
    Image.new("RGB", (400, 400)).save(gif, format="GIF")
    tiny = _jpeg(size=(50, 50))
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000)).save(bomb, format="PNG")  # small file, 81 megapixels
    for data, message in ((gif.getvalue(), "JPEG 或 PNG"), (tiny, "太小"), (bomb.getvalue(), "像素过大")):
        with pytest.raises(uploads.ImageRejected) as info:
            _apply(institution, image=data)
        assert message in info.value.message_zh
    assert not Merchant.objects.exists()


def test_bad_fields_refused(institution):
    for fields in ({"settlement_account": "123"}, {"category": "casino"}, {"name": ""}):
        with pytest.raises(merchants.MerchantError):
            _apply(institution, **fields)
    assert not Merchant.objects.exists()


def test_lifecycle_with_history_maker_checker_and_signed_event(institution, django_capture_on_commit_callbacks):
    signer = make_staff(role=roles.ACCOUNT_MANAGER, institution=institution)
    signer.user.user_permissions.add(Permission.objects.get(codename="review_merchant"))
    merchant = _apply(institution, signer)
    reviewer = _reviewer(institution)
    merchants.merchant_transition(merchant_id=merchant.pk, action="start_review", user=reviewer)
    signer_user = type(signer.user).objects.get(pk=signer.user.pk)
    with pytest.raises(PermissionDeniedError):
        merchants.merchant_transition(merchant_id=merchant.pk, action="approve", user=signer_user)
    with pytest.raises(Conflict):
        merchants.merchant_transition(merchant_id=merchant.pk, action="activate", user=reviewer)
    merchants.merchant_transition(merchant_id=merchant.pk, action="approve", user=reviewer, comment="资料齐全")
    merchants.merchant_transition(merchant_id=merchant.pk, action="approve", user=reviewer)  # repeat click: no-op
    merchants.merchant_transition(merchant_id=merchant.pk, action="activate", user=reviewer)
    merchants.merchant_transition(merchant_id=merchant.pk, action="suspend", user=reviewer, comment="投诉核查")
    merchants.merchant_transition(merchant_id=merchant.pk, action="resume", user=reviewer)
    merchants.merchant_transition(merchant_id=merchant.pk, action="close", user=reviewer)
    merchant.refresh_from_db()
    assert merchant.state == Merchant.State.CLOSED
    history = list(StateLog.objects.for_(merchant).order_by("timestamp").values_list("transition", "by_id"))
    assert [t for t, _ in history] == ["start_review", "approve", "activate", "suspend", "resume", "close"]
    assert all(by == reviewer.pk for _, by in history)
    assert ReviewTask.objects.get(merchant=merchant).status == "done"
    event = OutboxEvent.objects.get(topic="lifestyle.merchant_signed")
    assert event.payload["merchant_id"] == merchant.pk and event.payload["staff_id"] == signer.pk
    with pytest.raises(AttributeError):
        merchant.state = "active"  # protected: only transitions change it


def test_reject_needs_a_reason_and_review_permission(institution):
    merchant = _apply(institution)
    outsider = make_staff(role=roles.OPERATIONS, institution=institution).user
    with pytest.raises(PermissionDeniedError):
        merchants.merchant_transition(merchant_id=merchant.pk, action="start_review", user=outsider)
    reviewer = _reviewer(institution)
    merchants.merchant_transition(merchant_id=merchant.pk, action="start_review", user=reviewer)
    with pytest.raises(merchants.MerchantError):
        merchants.merchant_transition(merchant_id=merchant.pk, action="reject", user=reviewer, comment="")
    merchants.merchant_transition(merchant_id=merchant.pk, action="reject", user=reviewer, comment="执照过期")
    merchant.refresh_from_db()
    assert merchant.state == "rejected" and merchant.reject_reason == "执照过期"


def test_review_tasks_are_claimed_once(institution):
    _apply(institution, name="店一")
    _apply(institution, name="店二")
    a, b = _reviewer(institution), _reviewer(institution)
    first = merchants.review_task_claim_next(user=a)
    second = merchants.review_task_claim_next(user=b)
    assert first.pk != second.pk and merchants.review_task_claim_next(user=a) is None


def test_merchant_staff_see_only_their_merchant(institution):
    mine = make_merchant(institution=institution)
    theirs = make_merchant(institution=institution)
    cashier = make_merchant_user(mine)
    assert not hasattr(cashier, "staff")
    assert list(merchants.merchants_for_user(cashier)) == [mine]
    from django.http import Http404

    with pytest.raises(Http404):
        merchants.merchant_for_user_or_404(cashier, theirs.pk)
    user = merchants.merchant_staff_create(merchant=theirs, username="cashier_2", password="Till-Passw0rd!")
    assert list(merchants.merchants_for_user(user)) == [theirs]
    with pytest.raises(Conflict):
        merchants.merchant_staff_create(merchant=theirs, username="cashier_2", password="Till-Passw0rd!")
