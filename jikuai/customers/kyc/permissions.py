"""Role grants for the KYC models (added to the kernel's role table at import time)."""

from jikuai.org import roles

REVIEW = "customers.review_kycrecord"


def register() -> None:
    roles.register_grants(roles.ACCOUNT_MANAGER, {"customers.kycrecord": "va", "customers.kycdocument": "va"})
    roles.register_grants(roles.BRANCH_MANAGER, {"customers.kycrecord": "va", "customers.kycdocument": "va"}, extra=(REVIEW,))
    roles.register_grants(roles.CREDIT_REVIEWER, {"customers.kycrecord": "v", "customers.kycdocument": "v"}, extra=(REVIEW,))
    roles.register_grants(roles.INSTITUTION_ADMIN, {"customers.kycrecord": "v", "customers.kycdocument": "v"}, extra=(REVIEW,))
    roles.register_grants(roles.RISK_OFFICER, {"customers.kycrecord": "v", "customers.kycdocument": "v"})
