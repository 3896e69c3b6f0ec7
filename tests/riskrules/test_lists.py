"""Black/white/grey lists: maker-checker, scoping, malformed input, bulk import with preview."""

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from jikuai.core.exceptions import Conflict, PermissionDeniedError
from jikuai.core.idnumber import generate_id_number
from riskrules.features import id_number_index, mobile_index
from riskrules.models import ListEntry, ListImport
from riskrules.services import lists as svc
from tests.factories import InstitutionFactory
from tests.riskrules.factories import officers

pytestmark = pytest.mark.django_db


def _id(n: int) -> str:
    return generate_id_number(region_code="220182", birth_date=dt.date(1980, 1, 1 + n), gender="M", sequence=n)


def _create(maker, **overrides):
    fields = {
        "list_kind": "black",
        "key_type": "id_number",
        "key_value": _id(1),
        "reason_code": "LIST_NPL",
        "source": "internal_npl",
        "valid_from": dt.date(2025, 1, 1),
    }
    fields.update(overrides)
    return svc.list_entry_create(maker=maker, **fields)


def test_entry_stores_only_blind_index_and_masked_key():
    maker, _ = officers()
    entry = _create(maker)
    assert entry.key_index == id_number_index(_id(1))
    assert entry.key_masked == _id(1)[:4] + "*" * 10 + _id(1)[-4:]
    assert _id(1) not in str(ListEntry.objects.filter(pk=entry.pk).values().first())
    mobile = _create(
        maker, key_type="mobile", key_value="138 0013 8000", list_kind="grey", source="manual", reason_code="LIST_MANUAL"
    )
    assert mobile.key_index == mobile_index("13800138000") and mobile.key_masked == "138****8000"


def test_maker_cannot_check_own_entry_and_nothing_changes():
    maker, checker = officers()
    entry = _create(maker)
    with pytest.raises(PermissionDeniedError):
        svc.list_entry_check(entry_id=entry.pk, checker=maker, approve=True)
    entry.refresh_from_db()
    assert entry.status == ListEntry.Status.PENDING and entry.checker_id is None
    svc.list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
    entry.refresh_from_db()
    assert entry.status == ListEntry.Status.ACTIVE and entry.checker_id == checker.pk


def test_institution_staff_maintain_only_their_institution():
    institution = InstitutionFactory()
    maker, checker = officers(institution)
    with pytest.raises(PermissionDeniedError):
        _create(maker)  # province-wide
    with pytest.raises(PermissionDeniedError):
        _create(maker, institution=InstitutionFactory())
    entry = _create(maker, institution=institution)
    outsider, _ = officers(InstitutionFactory())
    with pytest.raises(PermissionDeniedError):
        svc.list_entry_check(entry_id=entry.pk, checker=outsider, approve=True)
    svc.list_entry_check(entry_id=entry.pk, checker=checker, approve=True)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"key_value": "220182199001011234"}, "key_value"),
        ({"key_value": ""}, "key_value"),
        ({"key_type": "mobile", "key_value": "02088886666"}, "key_value"),
        ({"list_kind": "purple"}, "list_kind"),
        ({"reason_code": "NOT_A_CODE"}, "reason_code"),
        ({"source": "rumour"}, "source"),
        ({"valid_from": "2025-02-30"}, "valid_from"),
        ({"valid_to": dt.date(2024, 1, 1)}, "valid_to"),
    ],
)
def test_malformed_entries_are_refused(overrides, field):
    maker, _ = officers()
    before = ListEntry.objects.count()
    with pytest.raises(svc.ListEntryError) as info:
        _create(maker, **overrides)
    assert info.value.extra["field"] == field
    assert ListEntry.objects.count() == before


def test_duplicate_open_entry_is_refused():
    maker, _ = officers()
    _create(maker)
    with pytest.raises(Conflict):
        _create(maker)


def _csv(rows) -> bytes:
    header = "list_kind,key_type,key_value,reason_code,source,valid_from,valid_to,note\n"
    return (header + "\n".join(",".join(row) for row in rows) + "\n").encode("utf-8")


def test_import_preview_commit_and_rejected_row_report():
    maker, checker = officers()
    _create(maker, key_value=_id(9))  # already open → rejected at preview
    data = _csv(
        [
            ["black", "id_number", _id(2), "LIST_NPL", "internal_npl", "2025-01-01", "", "ok"],
            ["白名单", "id_number", _id(3), "LIST_VILLAGE_CREDIT", "whole_village", "2025-01-01", "2026-12-31", "label accepted"],
            ["grey", "mobile", "13900139000", "LIST_MANUAL", "manual", "2025-01-01", "", "ok"],
            ["black", "id_number", "220182199001011234", "LIST_NPL", "internal_npl", "2025-01-01", "", "bad checksum"],
            ["black", "id_number", _id(4), "NOPE", "internal_npl", "2025-01-01", "", "bad reason"],
            ["black", "id_number", _id(5), "LIST_NPL", "internal_npl", "01/02/2025", "", "bad date"],
            ["black", "id_number", _id(6), "LIST_NPL", "internal_npl", "2025-06-01", "2025-01-01", "range"],
            ["blue", "id_number", _id(7), "LIST_NPL", "internal_npl", "2025-01-01", "", "kind"],
            ["black", "id_number", _id(2), "LIST_NPL", "internal_npl", "2025-01-01", "", "duplicate in file"],
            ["black", "id_number", _id(9), "LIST_NPL", "internal_npl", "2025-01-01", "", "exists"],
        ]
    )
    entries_before = ListEntry.objects.count()
    batch = svc.list_import_preview(uploaded_by=maker, file_name="名单.csv", data=data)
    assert ListEntry.objects.count() == entries_before  # preview writes no entries
    assert [row["row_no"] for row in batch.accepted] == [2, 3, 4]
    rejected = {row["row_no"]: row["errors"][0] for row in batch.rejected}
    assert set(rejected) == {5, 6, 7, 8, 9, 10, 11}
    assert "校验位" in rejected[5] and "原因码" in rejected[6] and "生效日期" in rejected[7]
    assert "失效日期" in rejected[8] and "名单类型" in rejected[9] and "重复" in rejected[10] and "已存在" in rejected[11]
    report = svc.rejected_rows_csv(batch)
    assert "220182199001011234" not in report and _id(4) not in report and "220***234" in report

    with pytest.raises(PermissionDeniedError):
        svc.list_import_commit(import_id=batch.pk, actor=checker)
    svc.list_import_commit(import_id=batch.pk, actor=maker)
    created = ListEntry.objects.filter(import_batch=batch)
    assert created.count() == 3 and set(created.values_list("status", flat=True)) == {"pending"}
    with pytest.raises(PermissionDeniedError):
        svc.list_import_check_all(import_id=batch.pk, checker=maker)
    assert svc.list_import_check_all(import_id=batch.pk, checker=checker) == 3
    assert set(created.values_list("status", flat=True)) == {"active"}
    assert svc.list_import_commit(import_id=batch.pk, actor=maker).status == ListImport.Status.COMMITTED  # repeat is a no-op
    assert ListEntry.objects.filter(import_batch=batch).count() == 3


def test_import_from_excel():
    maker, _ = officers()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["名单", "键类型", "键值", "原因码", "来源", "生效日期", "失效日期"])
    sheet.append(["black", "id_number", _id(11), "LIST_FRAUD", "fraud", dt.datetime(2025, 3, 1), None])
    sheet.append(["black", "device", "  dev-abc-123  ", "LIST_FRAUD", "fraud", "2025-03-01", None])
    out = io.BytesIO()
    workbook.save(out)
    batch = svc.list_import_preview(uploaded_by=maker, file_name="list.xlsx", data=out.getvalue())
    assert len(batch.accepted) == 2 and batch.rejected == []
    assert batch.accepted[0]["valid_from"] == "2025-03-01"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("list.txt", b"x", ".xlsx"),
        ("list.csv", b"kind,value\nblack,1\n", "缺少列"),
        ("list.csv", b"", "为空"),
        ("list.xlsx", b"not a workbook", "Excel"),
    ],
)
def test_unreadable_files_are_refused_and_nothing_is_stored(name, data, message):
    maker, _ = officers()
    before = ListImport.objects.count()
    with pytest.raises(svc.ListEntryError) as info:
        svc.list_import_preview(uploaded_by=maker, file_name=name, data=data)
    assert message in info.value.message_zh
    assert ListImport.objects.count() == before
