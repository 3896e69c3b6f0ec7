"""Product factory (产品工厂): validation, status changes, versioning and the snapshot an application keeps.

A product is configuration. Saving a change to the terms of an **active** product bumps ``version``;
every application stores the version and a snapshot of the terms when it is submitted
(``product_snapshot``) and all later steps of that application read the snapshot, so a change applies
to new applications only. ``is_active`` (read by the loan engine) follows ``status``.
"""

import datetime as dt
from decimal import Decimal

from django.db import models, transaction

from jikuai.core.exceptions import Conflict, NotFound
from lending import schedule as sched
from lending.models import Product, ProductKind, ProductStatus
from lending.models.origination import ApplicationChannel
from lending.services.common import LendingError

GRADES = ("A", "B", "C", "D")

# the terms an application depends on: a change to any of them on an active product is a new version
TERM_FIELDS = (
    "name",
    "institution",
    "min_amount",
    "max_amount",
    "term_options",
    "allowed_methods",
    "default_method",
    "day_basis",
    "min_rate",
    "max_rate",
    "apr_ceiling",
    "upfront_fee_rate",
    "penalty_markup",
    "grace_days",
    "allocation_order",
    "npl_allocation_order",
    "npl_principal_first",
    "overpayment_policy",
    "default_prepayment_option",
    "quarterly_interest",
    "repayment_approval_threshold",
    "segment",
    "kind",
    "revolving",
    "line_validity_months",
    "lpr_spreads_bp",
    "admission_ruleset",
    "rating_ruleset",
    "limit_ruleset",
    "pricing_ruleset",
    "required_documents",
    "channels",
    "approval_tiers",
    "application_validity_days",
)
# fields copied into the snapshot (the terms plus identity)
SNAPSHOT_FIELDS = ("code", *TERM_FIELDS)

STATUS_TRANSITIONS = {
    ProductStatus.DRAFT: {ProductStatus.ACTIVE},
    ProductStatus.ACTIVE: {ProductStatus.SUSPENDED},
    ProductStatus.SUSPENDED: {ProductStatus.ACTIVE},
}


def _invalid(zh: str, en: str, field: str) -> LendingError:
    return LendingError(zh, en, code="invalid_product", extra={"field": field})


def product_validate(product: Product) -> None:
    """Configuration checks the database cannot express (lists, codes, tiers). Raises LendingError."""
    terms = product.term_options
    if not isinstance(terms, list) or not terms or any(isinstance(t, bool) or not isinstance(t, int) or t <= 0 for t in terms):
        raise _invalid("可选期限须为正整数月份列表，如 [6, 12, 24]。", "term_options must be a list of months", "term_options")
    if max(terms) > 360:
        raise _invalid("期限不能超过360个月。", "terms above 360 months", "term_options")
    methods = product.allowed_methods
    if not isinstance(methods, list) or not methods or any(m not in sched.Method.ALL for m in methods):
        raise _invalid(
            f"还款方式须为以下代码的列表：{', '.join(sched.Method.ALL)}。",
            f"allowed_methods must be a list of {', '.join(sched.Method.ALL)}",
            "allowed_methods",
        )
    if product.default_method not in methods:
        raise _invalid("默认还款方式须在可选还款方式中。", "default_method must be one of allowed_methods", "default_method")
    if product.min_amount is None or product.max_amount is None or product.min_amount <= 0:
        raise _invalid("最低金额须大于0。", "min_amount must be positive", "min_amount")
    if product.max_amount < product.min_amount:
        raise _invalid("最高金额不能低于最低金额。", "max_amount below min_amount", "max_amount")
    if product.max_rate < product.min_rate:
        raise _invalid("最高利率不能低于最低利率。", "max_rate below min_rate", "max_rate")
    if product.max_rate > product.apr_ceiling:
        raise _invalid("最高利率不能超过年化利率上限。", "max_rate above the APR ceiling", "max_rate")
    if not Decimal("0.3") <= Decimal(product.penalty_markup) <= Decimal("1"):
        raise _invalid("罚息上浮须在30%至100%之间（0.3–1.0）。", "penalty_markup must be 0.3–1.0", "penalty_markup")
    spreads = product.lpr_spreads_bp
    if (
        not isinstance(spreads, dict)
        or set(spreads) != set(GRADES)
        or any(isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 2000 for v in spreads.values())
    ):
        raise _invalid(
            'LPR加点须为各等级的基点数，如 {"A": 20, "B": 45, "C": 75, "D": 110}。',
            "lpr_spreads_bp must map grades A-D to basis points 0-2000",
            "lpr_spreads_bp",
        )
    channels = product.channels
    if not isinstance(channels, list) or any(c not in ApplicationChannel.values for c in channels):
        raise _invalid(
            f"销售渠道须为以下代码的列表：{', '.join(ApplicationChannel.values)}。",
            f"channels must be a list of {', '.join(ApplicationChannel.values)}",
            "channels",
        )
    if not isinstance(product.required_documents, list) or any(not isinstance(d, str) for d in product.required_documents):
        raise _invalid("所需材料须为文本列表。", "required_documents must be a list of strings", "required_documents")
    _validate_tiers(product.approval_tiers)
    if product.kind == ProductKind.LINE and not 1 <= product.line_validity_months <= 120:
        raise _invalid("额度有效期须在1至120个月之间。", "line_validity_months must be 1-120", "line_validity_months")
    if product.kind == ProductKind.LOAN and product.revolving:
        raise _invalid("单笔贷款产品不能设为循环额度。", "a one-off loan product cannot be revolving", "revolving")
    if product.application_validity_days < 1:
        raise _invalid("申请有效期至少1天。", "application_validity_days must be at least 1", "application_validity_days")
    if product.status == ProductStatus.ACTIVE and not (product.admission_ruleset and product.limit_ruleset):
        raise _invalid(
            "在售产品至少需要配置准入规则集和额度规则集。",
            "an active product needs admission and limit rule sets",
            "admission_ruleset",
        )


def _validate_tiers(tiers) -> None:
    message = ('分级审批须为列表，如 [{"up_to": "100000.00", "role": "reviewer"}, {"up_to": null, "role": "manager"}]，', "")
    if not isinstance(tiers, list) or not tiers:
        raise _invalid(message[0] + "最后一档 up_to 为 null。", "approval_tiers must be a non-empty list", "approval_tiers")
    previous = Decimal("0")
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict) or not tier.get("role"):
            raise _invalid(message[0] + "每档须有 role。", "every tier needs a role", "approval_tiers")
        up_to = tier.get("up_to")
        last = index == len(tiers) - 1
        if up_to is None:
            if not last:
                raise _invalid("只有最后一档的 up_to 可以为空。", "only the last tier may be open-ended", "approval_tiers")
            continue
        try:
            value = Decimal(str(up_to))
        except ArithmeticError:
            raise _invalid("分级审批金额格式不正确。", "tier amount is not a number", "approval_tiers") from None
        if not value.is_finite() or value <= previous:
            raise _invalid("分级审批金额须递增。", "tier amounts must increase", "approval_tiers")
        previous = value
    if tiers[-1].get("up_to") is not None:
        raise _invalid("最后一档的 up_to 须为空（不设上限）。", "the last tier must be open-ended", "approval_tiers")


def _term_value(product: Product, name: str):
    field = Product._meta.get_field(name)
    if isinstance(field, models.ForeignKey):
        return getattr(product, field.attname)
    return getattr(product, name)


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@transaction.atomic
def product_save(*, product: Product, actor=None) -> Product:
    """Create or update a product (admin and seeds). A change of any term of an **active** product bumps
    its version, so applications submitted before keep their snapshot. ``is_active`` follows ``status``.
    Refuses (nothing written) invalid configurations."""
    product_validate(product)
    product.is_active = product.status == ProductStatus.ACTIVE
    if product.pk is None:
        product.version = max(product.version or 1, 1)
        product.save()
        return product
    stored = Product.objects.select_for_update(no_key=True).filter(pk=product.pk).first()
    if stored is None:
        raise NotFound("产品不存在。", "product not found")
    changed = [name for name in TERM_FIELDS if _term_value(stored, name) != _term_value(product, name)]
    product.version = stored.version
    if changed and stored.status == ProductStatus.ACTIVE:
        product.version = stored.version + 1
    if product.status != stored.status and product.status not in STATUS_TRANSITIONS.get(stored.status, set()):
        product.status = stored.status
        raise Conflict(
            f"产品状态不能从“{ProductStatus(stored.status).label}”改为“{ProductStatus(product.status).label}”。",
            "status change not allowed",
            code="product_status_not_allowed",
        )
    product.save()
    return product


@transaction.atomic
def product_set_status(*, product_id: int, status: str, actor=None) -> Product:
    """草稿 → 在售 → 暂停 → 在售. Suspending stops new applications (open ones keep their snapshot)."""
    product = Product.objects.select_for_update(no_key=True).filter(pk=product_id).first()
    if product is None:
        raise NotFound("产品不存在。", "product not found")
    if status not in ProductStatus.values:
        raise LendingError("未知的产品状态。", "unknown product status", code="invalid_status")
    if product.status == status:
        return product
    if status not in STATUS_TRANSITIONS.get(product.status, set()):
        raise Conflict(
            f"产品状态不能从“{ProductStatus(product.status).label}”改为“{ProductStatus(status).label}”。",
            f"cannot change a {product.status} product to {status}",
            code="product_status_not_allowed",
        )
    product.status = status
    if status == ProductStatus.ACTIVE:
        product_validate(product)
    product.is_active = status == ProductStatus.ACTIVE
    product.save(update_fields=["status", "is_active", "updated_at"])
    return product


def product_snapshot(product: Product) -> dict:
    """The terms of the product as JSON (Decimals as strings): what an application keeps."""
    data = {name: _json_value(_term_value(product, name)) for name in SNAPSHOT_FIELDS}
    data["institution_id"] = data.pop("institution")
    data["version"] = product.version
    data["product_id"] = product.pk
    return data


def product_from_snapshot(snapshot: dict, *, product_id: int) -> Product:
    """An unsaved Product carrying the snapshot's terms (and the real primary key), for the loan engine:
    ``loan_create`` then validates and copies the terms the application was offered, not today's."""
    values = {}
    for name in TERM_FIELDS:
        key = "institution_id" if name == "institution" else name
        if key not in snapshot:
            continue
        field = Product._meta.get_field(name)
        value = snapshot[key]
        if isinstance(field, models.DecimalField) and value is not None:
            value = Decimal(str(value))
        values[field.attname] = value
    product = Product(pk=product_id, code=snapshot.get("code", ""), **values)
    product.version = snapshot.get("version", 1)
    product.status = ProductStatus.ACTIVE  # the offer was made while the product was on sale
    product.is_active = True
    return product
