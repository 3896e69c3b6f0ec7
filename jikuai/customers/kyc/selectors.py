"""KYC reads, each limited to what the asking customer or staff member may see."""

from django.db.models import QuerySet

from jikuai.customers.kyc.models import KycDocument, KycRecord, KycState
from jikuai.customers.models import Customer
from jikuai.org.scoping import scope_queryset


def kyc_record_latest_for_customer(*, customer: Customer) -> KycRecord | None:
    return KycRecord.objects.filter(customer_id=customer.pk).order_by("-id").first()


def kyc_document_list_for_record(*, record: KycRecord) -> list[KycDocument]:
    order = list(KycDocument.Kind.values)  # portrait side, emblem side, selfie, field photo
    return sorted(record.documents.all(), key=lambda document: order.index(document.kind))


def kyc_document_get_for_customer(*, customer: Customer, document_id: int) -> KycDocument | None:
    """A customer sees the images of their own records only."""
    return KycDocument.objects.filter(pk=document_id, record__customer_id=customer.pk).first()


def kyc_document_get_for_staff(*, user, document_id: int) -> KycDocument | None:
    """Staff see the images of customers in their scope, and only with the permission to view KYC images."""
    if not (user.is_authenticated and user.is_active and user.is_staff and user.has_perm("customers.view_kycdocument")):
        return None
    return scope_queryset(KycDocument.objects.select_related("record"), user).filter(pk=document_id).first()


def kyc_record_list_for_staff(*, user, state: str | None = None) -> QuerySet[KycRecord]:
    queryset = scope_queryset(KycRecord.objects.select_related("customer", "created_by_staff", "reviewer"), user)
    return queryset.filter(state=state) if state else queryset


def kyc_review_queue_for_staff(*, user) -> QuerySet[KycRecord]:
    """Records waiting for a person, oldest first."""
    return kyc_record_list_for_staff(user=user, state=KycState.NEEDS_REVIEW).order_by("processed_at", "id")
