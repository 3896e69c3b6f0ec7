"""KYC demo data: records in review, verified, rejected and started, through the real pipeline; idempotent."""

import pytest

from jikuai.customers.kyc.demo import seed_demo_kyc
from jikuai.customers.kyc.models import KycRecord
from jikuai.org import roles
from jikuai.org.roles import sync_role_permissions
from tests.factories import BranchFactory, InstitutionFactory, make_customer, make_staff

pytestmark = pytest.mark.django_db


def test_demo_records_in_every_reviewer_facing_state(private_media):
    sync_role_permissions()
    institution = InstitutionFactory(code="YSRCB", name="榆树农商银行")
    branch = BranchFactory(institution=institution)
    maker = make_staff(role=roles.ACCOUNT_MANAGER, branch=branch, username="ys_am1")
    make_staff(role=roles.CREDIT_REVIEWER, institution=institution, username="ys_reviewer")
    for name in ("赵一", "钱二", "孙三", "李四"):
        make_customer(institution=institution, branch=branch, account_manager=maker, name=name, is_demo=True)

    assert seed_demo_kyc() == {"needs_review": 1, "verified": 1, "rejected": 1, "created": 1}
    rejected = KycRecord.objects.get(state="rejected")
    assert {m["field"] for m in rejected.mismatches} == {"name"}
    assert {r["code"] for r in KycRecord.objects.get(state="needs_review").review_reasons} >= {
        "portrait_no_face",
        "selfie_no_face",
    }
    assert KycRecord.objects.get(state="verified").customer.kyc_status == "verified"

    assert seed_demo_kyc() == {"needs_review": 1, "verified": 1, "rejected": 1, "created": 1}  # idempotent
    assert KycRecord.objects.count() == 4
