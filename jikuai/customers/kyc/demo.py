"""KYC demo data: records of the demo bank (榆树农商银行, YSRCB) in the states a reviewer meets.

Idempotent (does nothing once the demo bank has KYC records). The images are specimen cards drawn with
the CJK font and a drawn silhouette instead of a face, run through the real pipeline (OCR ≈ 1 s per
side): no face can be compared, so every processed record lands in manual review, as it should.

- 待人工审核 needs_review: in the queue for the demo reviewer (``*_reviewer``)
- 已通过 verified: approved by the reviewer
- 未通过 rejected: the card shows another name; rejected by the reviewer
- 待上传 created: started in the field by the account manager (``*_am1``), no photos yet
"""

import io
from pathlib import Path

from jikuai.customers.kyc import services, specimens
from jikuai.customers.kyc.models import KycRecord
from jikuai.customers.models import Customer
from jikuai.org.models import Institution, Staff

DEMO_INSTITUTION = "YSRCB"


def _jpeg(image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def _submit(customer: Customer, actor: Staff, *, name_on_card: str | None = None) -> KycRecord:
    front = specimens.draw_id_front(
        name=name_on_card or customer.name,
        id_number=customer.id_number,
        gender="男" if customer.gender == "M" else "女",
        address=customer.address or "吉林省长春市榆树市大岭镇东岭村8号",
    )
    selfie = specimens.silhouette_portrait().resize((480, 590))
    record = services.kyc_submit_documents(
        customer=customer,
        actor=actor,
        id_front=_jpeg(specimens.photo_of(front, angle=1.5)),
        id_back=_jpeg(specimens.photo_of(specimens.draw_id_back(), angle=-1)),
        selfie=_jpeg(selfie),
    )
    return services.kyc_process(record_id=record.pk)  # a no-op if the eager task already processed it


def seed_demo_kyc() -> dict[str, int]:
    institution = Institution.objects.filter(code=DEMO_INSTITUTION).first()
    if institution is None or not Path(specimens.FONT_PATH).exists():
        return {}
    existing = KycRecord.objects.filter(customer__institution=institution)
    if existing.exists():
        return {state: existing.filter(state=state).count() for state in existing.values_list("state", flat=True).distinct()}
    maker = Staff.objects.filter(institution=institution, user__username__endswith="_am1").first()
    reviewer = Staff.objects.filter(institution=institution, user__username__endswith="_reviewer").first()
    if maker is None or reviewer is None:
        return {}
    customers = list(
        Customer.objects.filter(
            institution=institution, account_manager=maker, is_demo=True, web_enabled=False, kyc_status=Customer.KycStatus.NONE
        ).order_by("id")[:4]
    )
    if len(customers) < 4:
        return {}
    _submit(customers[0], maker)
    approved = _submit(customers[1], maker)
    services.kyc_approve(record_id=approved.pk, actor=reviewer, comment="演示：已电话回访并核对证件原件")
    rejected = _submit(customers[2], maker, name_on_card="张冒名")
    services.kyc_reject(record_id=rejected.pk, actor=reviewer, comment="演示：证件姓名与登记姓名不一致")
    services.kyc_start_for_customer(customer_id=customers[3].pk, actor=maker)
    states = KycRecord.objects.filter(customer__institution=institution).values_list("state", flat=True)
    return {state: list(states).count(state) for state in set(states)}
