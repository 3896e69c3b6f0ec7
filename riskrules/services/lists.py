"""Black / white / grey lists (黑白灰名单) with maker-checker, bulk import with preview and a report of
rejected rows, and lookups for other apps (``list_hits``).

Keys are stored only as blind indexes (HMAC-SM3, the same purposes as the customer indexes, so an entry
keyed by an ID number matches the customer with that number) plus a masked form for display.
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.idnumber import normalise_id_number, parse_mobile
from jikuai.core.masking import mask_id_number, mask_mobile
from jikuai.org.models import Institution, Staff
from riskrules import features
from riskrules.models import ListEntry, ListImport, ReasonCode

MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_ROWS = 20000

HEADER_ALIASES = {
    "list_kind": {"list_kind", "名单", "名单类型", "list"},
    "key_type": {"key_type", "键类型", "类型"},
    "key_value": {"key_value", "键值", "号码", "key"},
    "reason_code": {"reason_code", "原因码", "reason"},
    "source": {"source", "来源"},
    "valid_from": {"valid_from", "生效日期"},
    "valid_to": {"valid_to", "失效日期"},
    "note": {"note", "备注"},
}
REQUIRED_COLUMNS = ("list_kind", "key_type", "key_value", "reason_code", "source", "valid_from")


class ListEntryError(ApplicationError):
    code = "invalid_list_entry"


@dataclass(frozen=True)
class ListHit:
    list_kind: str
    key_type: str
    reason_code: str
    reason_text: str
    source: str
    valid_from: dt.date
    valid_to: dt.date | None
    province_wide: bool


def mask_key(key_type: str, value: str) -> str:
    if key_type == "id_number":
        return mask_id_number(normalise_id_number(value))
    if key_type == "mobile":
        return mask_mobile(value)
    value = "".join((value or "").split()).upper()
    return value[:3] + "***" + value[-3:] if len(value) > 6 else "*" * len(value)


def _enum(value, choices, field: str, label: str):
    value = (value or "").strip()
    if value in choices.values:
        return value
    for choice_value, choice_label in choices.choices:
        if value and value == str(choice_label).split(" ")[0]:
            return choice_value
    raise ListEntryError(f"{label}无效：{value or '（空）'}", f"invalid {field}", extra={"field": field})


def _date(value, field: str, label: str, *, required: bool) -> dt.date | None:
    if value in (None, ""):
        if required:
            raise ListEntryError(f"请填写{label}。", f"{field} is required", extra={"field": field})
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ListEntryError(
            f"{label}格式应为 YYYY-MM-DD：{value}", f"{field} must be YYYY-MM-DD", extra={"field": field}
        ) from None


def _clean(*, list_kind, key_type, key_value, reason_code, source, valid_from, valid_to, note, reason_codes: set[str]) -> dict:
    kind = _enum(list_kind, ListEntry.Kind, "list_kind", "名单类型")
    key_kind = _enum(key_type, ListEntry.KeyType, "key_type", "键类型")
    value = str(key_value or "").strip()
    if not value:
        raise ListEntryError("请填写键值（身份证号、手机号等）。", "key_value is required", extra={"field": "key_value"})
    try:
        index = features.key_index(key_kind, value)
    except ValidationError as exc:
        raise ListEntryError("；".join(exc.messages), "invalid key_value", extra={"field": "key_value"}) from None
    masked = mask_key(key_kind, parse_mobile(value) if key_kind == "mobile" else value)
    code = (reason_code or "").strip().upper()
    if code not in reason_codes:
        raise ListEntryError(f"原因码不存在：{code or '（空）'}", "unknown reason_code", extra={"field": "reason_code"})
    origin = _enum(source, ListEntry.Source, "source", "来源")
    start = _date(valid_from, "valid_from", "生效日期", required=True)
    end = _date(valid_to, "valid_to", "失效日期", required=False)
    if end is not None and end < start:
        raise ListEntryError("失效日期不能早于生效日期。", "valid_to is before valid_from", extra={"field": "valid_to"})
    return {
        "list_kind": kind,
        "key_type": key_kind,
        "key_index": index,
        "key_masked": masked,
        "reason_code": code,
        "source": origin,
        "valid_from": start,
        "valid_to": end,
        "note": str(note or "").strip()[:200],
    }


def _check_institution(actor: Staff, institution: Institution | None) -> None:
    if actor.institution_id is not None and (institution is None or institution.pk != actor.institution_id):
        raise PermissionDeniedError(
            "法人行社员工只能维护本机构的名单；全省名单由省联社维护。",
            "institution staff maintain their own institution's lists only",
        )


def _open_conflict(cleaned: dict, institution_id) -> bool:
    return ListEntry.objects.filter(
        institution_id=institution_id,
        list_kind=cleaned["list_kind"],
        key_type=cleaned["key_type"],
        key_index=cleaned["key_index"],
        source=cleaned["source"],
        status__in=[ListEntry.Status.PENDING, ListEntry.Status.ACTIVE],
    ).exists()


def list_entry_create(
    *,
    maker: Staff,
    list_kind: str,
    key_type: str,
    key_value: str,
    reason_code: str,
    source: str,
    valid_from,
    valid_to=None,
    note: str = "",
    institution: Institution | None = None,
) -> ListEntry:
    """录入 (maker): a pending entry; it takes effect only after ``list_entry_check`` by another officer."""
    _check_institution(maker, institution)
    cleaned = _clean(
        list_kind=list_kind,
        key_type=key_type,
        key_value=key_value,
        reason_code=reason_code,
        source=source,
        valid_from=valid_from,
        valid_to=valid_to,
        note=note,
        reason_codes=set(ReasonCode.objects.values_list("code", flat=True)),
    )
    if _open_conflict(cleaned, institution.pk if institution else None):
        raise Conflict(
            "该名单条目已存在（待复核或生效中）。", "an open entry for this key already exists", code="duplicate_list_entry"
        )
    try:
        with transaction.atomic():
            return ListEntry.objects.create(institution=institution, maker=maker, **cleaned)
    except IntegrityError:
        raise Conflict(
            "该名单条目已存在（待复核或生效中）。", "an open entry for this key already exists", code="duplicate_list_entry"
        ) from None


def list_entry_check(*, entry_id: int, checker: Staff, approve: bool, comment: str = "") -> ListEntry:
    """复核 (checker ≠ maker): activate or reject a pending entry."""
    with transaction.atomic():
        entry = ListEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise NotFound("名单条目不存在。", "list entry not found")
        target = ListEntry.Status.ACTIVE if approve else ListEntry.Status.REJECTED
        if entry.status == target:
            return entry
        if entry.maker_id == checker.pk:
            raise PermissionDeniedError("复核人不能是录入人（双人复核）。", "the checker must not be the maker", code="four_eyes")
        if checker.institution_id is not None and entry.institution_id != checker.institution_id:
            raise PermissionDeniedError("无权复核其他机构的名单。", "not allowed to check another institution's entry")
        try:
            (entry.activate if approve else entry.reject)(by=checker.user, description=comment or None)
        except TransitionNotAllowed:
            raise Conflict(
                f"条目状态为“{entry.get_status_display()}”，不能复核。", "only pending entries can be checked"
            ) from None
        entry.checker = checker
        entry.save()
    return entry


def list_entry_revoke(*, entry_id: int, actor: Staff, comment: str = "") -> ListEntry:
    with transaction.atomic():
        entry = ListEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise NotFound("名单条目不存在。", "list entry not found")
        if entry.status == ListEntry.Status.REVOKED:
            return entry
        if actor.institution_id is not None and entry.institution_id != actor.institution_id:
            raise PermissionDeniedError("无权撤销其他机构的名单。", "not allowed to revoke another institution's entry")
        try:
            entry.revoke(by=actor.user, description=comment or None)
        except TransitionNotAllowed:
            raise Conflict(f"条目状态为“{entry.get_status_display()}”，不能撤销。", "entry cannot be revoked") from None
        entry.save()
    return entry


# --- bulk import --------------------------------------------------------------------------------


def _read_rows(file_name: str, data: bytes) -> list[dict]:
    if len(data) > MAX_IMPORT_BYTES:
        raise ListEntryError("文件超过 2MB，请分批导入。", "file larger than 2 MB", code="file_too_large")
    name = (file_name or "").lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise ListEntryError("无法读取 Excel 文件。", "cannot read the Excel file", code="bad_file") from None
        sheet = workbook.worksheets[0]
        rows = [["" if cell is None else cell for cell in row] for row in sheet.iter_rows(values_only=True)]
    elif name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("gb18030")
            except UnicodeDecodeError:
                raise ListEntryError("CSV 文件编码无法识别（请使用 UTF-8）。", "CSV must be UTF-8", code="bad_file") from None
        rows = list(csv.reader(io.StringIO(text)))
    else:
        raise ListEntryError("只支持 .xlsx 或 .csv 文件。", "only .xlsx or .csv files", code="bad_file")
    if not rows:
        raise ListEntryError("文件为空。", "empty file", code="bad_file")
    header = [str(cell).strip().lower() for cell in rows[0]]
    mapping = {}
    for column, aliases in HEADER_ALIASES.items():
        for index, name_in_file in enumerate(header):
            if name_in_file in {alias.lower() for alias in aliases}:
                mapping[column] = index
                break
    missing = [column for column in REQUIRED_COLUMNS if column not in mapping]
    if missing:
        raise ListEntryError(f"缺少列：{'、'.join(missing)}", f"missing columns: {', '.join(missing)}", code="bad_file")
    body = rows[1:]
    if len(body) > MAX_IMPORT_ROWS:
        raise ListEntryError(f"每次最多导入 {MAX_IMPORT_ROWS} 行。", "too many rows", code="file_too_large")
    result = []
    for number, row in enumerate(body, start=2):
        if not any(str(cell).strip() for cell in row):
            continue
        result.append({"row_no": number, **{col: (row[idx] if idx < len(row) else "") for col, idx in mapping.items()}})
    return result


def list_import_preview(*, uploaded_by: Staff, file_name: str, data: bytes, institution: Institution | None = None) -> ListImport:
    """Parse and validate every row; store accepted rows (blind index + masked key only) and the rejected
    rows with their errors. Nothing enters the lists until ``list_import_commit``."""
    _check_institution(uploaded_by, institution)
    rows = _read_rows(file_name, data)
    reason_codes = set(ReasonCode.objects.values_list("code", flat=True))
    accepted, rejected, seen = [], [], set()
    institution_id = institution.pk if institution else None
    for row in rows:
        raw_value = str(row.get("key_value", "") or "").strip()
        try:
            cleaned = _clean(
                list_kind=str(row.get("list_kind", "")),
                key_type=str(row.get("key_type", "")),
                key_value=raw_value,
                reason_code=str(row.get("reason_code", "")),
                source=str(row.get("source", "")),
                valid_from=row.get("valid_from"),
                valid_to=row.get("valid_to") or None,
                note=row.get("note", ""),
                reason_codes=reason_codes,
            )
        except ListEntryError as exc:
            rejected.append(
                {"row_no": row["row_no"], "key": mask_key("device", raw_value) if raw_value else "", "errors": [exc.message_zh]}
            )
            continue
        identity = (cleaned["list_kind"], cleaned["key_type"], cleaned["key_index"], cleaned["source"])
        if identity in seen:
            rejected.append({"row_no": row["row_no"], "key": cleaned["key_masked"], "errors": ["与文件中前面的行重复"]})
            continue
        if _open_conflict(cleaned, institution_id):
            rejected.append({"row_no": row["row_no"], "key": cleaned["key_masked"], "errors": ["该条目已存在（待复核或生效中）"]})
            continue
        seen.add(identity)
        accepted.append(
            {
                **cleaned,
                "valid_from": cleaned["valid_from"].isoformat(),
                "valid_to": cleaned["valid_to"].isoformat() if cleaned["valid_to"] else None,
                "row_no": row["row_no"],
            }
        )
    return ListImport.objects.create(
        institution=institution, file_name=(file_name or "")[:200], accepted=accepted, rejected=rejected, uploaded_by=uploaded_by
    )


def list_import_commit(*, import_id: int, actor: Staff) -> ListImport:
    """Create the accepted rows as pending entries (maker = uploader); they still need a checker."""
    with transaction.atomic():
        batch = ListImport.objects.select_for_update().filter(pk=import_id).first()
        if batch is None:
            raise NotFound("导入批次不存在。", "import not found")
        if batch.status == ListImport.Status.COMMITTED:
            return batch
        if batch.status != ListImport.Status.PREVIEW:
            raise Conflict("该导入已放弃。", "import was discarded")
        if actor.pk != batch.uploaded_by_id:
            raise PermissionDeniedError("只能由上传人确认导入。", "only the uploader can confirm the import")
        entries, late_rejects = [], []
        for row in batch.accepted:
            fields = {k: v for k, v in row.items() if k != "row_no"}
            fields["valid_from"] = dt.date.fromisoformat(fields["valid_from"])
            fields["valid_to"] = dt.date.fromisoformat(fields["valid_to"]) if fields["valid_to"] else None
            if _open_conflict(fields, batch.institution_id):
                late_rejects.append({"row_no": row["row_no"], "key": row["key_masked"], "errors": ["确认前已被录入"]})
                continue
            entries.append(
                ListEntry(institution_id=batch.institution_id, maker_id=batch.uploaded_by_id, import_batch=batch, **fields)
            )
        ListEntry.objects.bulk_create(entries)
        batch.status = ListImport.Status.COMMITTED
        batch.committed_at = timezone.now()
        if late_rejects:
            batch.rejected = [*batch.rejected, *late_rejects]
        batch.save(update_fields=["status", "committed_at", "rejected"])
    return batch


def list_import_discard(*, import_id: int, actor: Staff) -> ListImport:
    updated = ListImport.objects.filter(pk=import_id, status=ListImport.Status.PREVIEW, uploaded_by=actor).update(
        status=ListImport.Status.DISCARDED
    )
    if not updated:
        raise Conflict("该导入不能放弃。", "import cannot be discarded")
    return ListImport.objects.get(pk=import_id)


def list_import_check_all(*, import_id: int, checker: Staff, comment: str = "") -> int:
    """Batch check (复核) of all pending entries of an import by a different officer."""
    ids = list(
        ListEntry.objects.filter(import_batch_id=import_id, status=ListEntry.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for entry_id in ids:
        list_entry_check(entry_id=entry_id, checker=checker, approve=True, comment=comment)
    return len(ids)


def rejected_rows_csv(batch: ListImport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["行号 row", "键(脱敏) key", "错误 errors"])
    for row in sorted(batch.rejected, key=lambda r: r["row_no"]):
        writer.writerow([row["row_no"], row.get("key", ""), "；".join(row["errors"])])
    return out.getvalue()


# --- lookups for other apps ---------------------------------------------------------------------


def list_hits(
    *,
    institution_id: int | None = None,
    customer_id: int | None = None,
    id_number: str | None = None,
    mobile: str | None = None,
    device_id: str | None = None,
    business_licence: str | None = None,
    on_date: dt.date | None = None,
    kinds: tuple[str, ...] = ("black", "white", "grey"),
) -> list[ListHit]:
    """Active entries matching any of the identifiers on ``on_date`` (province-wide entries plus those of
    the institution). Bad identifiers raise InputTypeError."""
    from jikuai.core.workdays import get_business_date
    from jikuai.customers.models import Customer

    customer = None
    if customer_id:
        customer = Customer.objects.filter(pk=customer_id).only("id", "institution_id", "id_number_index", "mobile_index").first()
        if customer is None:
            raise NotFound("客户不存在。", "customer not found")
        institution_id = institution_id or customer.institution_id
    inputs = {"id_number": id_number, "mobile": mobile, "device_id": device_id, "business_licence": business_licence}
    indexes = features.identifier_indexes({k: v for k, v in inputs.items() if v}, customer)
    if not indexes:
        return []
    day = on_date or get_business_date()
    rows = (
        ListEntry.objects.filter(status=ListEntry.Status.ACTIVE, key_index__in=indexes, list_kind__in=kinds, valid_from__lte=day)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=day))
        .filter(Q(institution__isnull=True) | Q(institution_id=institution_id))
        .order_by("list_kind", "id")
    )
    texts = dict(ReasonCode.objects.values_list("code", "text_zh"))
    return [
        ListHit(
            list_kind=row.list_kind,
            key_type=row.key_type,
            reason_code=row.reason_code,
            reason_text=texts.get(row.reason_code, row.reason_code),
            source=row.source,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            province_wide=row.institution_id is None,
        )
        for row in rows
    ]
