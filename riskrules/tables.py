"""Excel export/import of one decision table (openpyxl). Row 1 holds the column ids (hidden keys),
row 2 the labels people read, data from row 3: _id, _description, then one column per input/output."""

import io

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from jikuai.core.exceptions import ApplicationError

MAX_ROWS = 2000


def _columns(node: dict) -> list[tuple[str, str]]:
    body = node.get("content", {})
    columns = [("_id", "行ID"), ("_description", "说明")]
    for column in body.get("inputs", []):
        columns.append((column["id"], f"条件：{column.get('name') or column.get('field')}"))
    for column in body.get("outputs", []):
        columns.append((column["id"], f"输出：{column.get('name') or column.get('field')}"))
    return columns


def table_to_xlsx(node: dict) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (node.get("name") or node.get("id") or "table")[:31].replace("/", "_")
    columns = _columns(node)
    sheet.append([column_id for column_id, _ in columns])
    sheet.append([label for _, label in columns])
    sheet.row_dimensions[1].hidden = True
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for row in node.get("content", {}).get("rules", []):
        sheet.append([str(row.get(column_id, "") or "") for column_id, _ in columns])
    for index, (_column_id, label) in enumerate(columns, start=1):
        sheet.column_dimensions[sheet.cell(row=2, column=index).column_letter].width = max(12, min(40, len(label) * 2))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def table_from_xlsx(data: bytes, node: dict) -> list[dict]:
    """Rows for ``version_update_table``; raises ApplicationError when the sheet does not fit the table."""
    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception:
        raise ApplicationError("无法读取 Excel 文件。", "cannot read the Excel file", code="bad_file") from None
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    if len(rows) < 2:
        raise ApplicationError("Excel 文件缺少表头。", "the sheet has no header", code="bad_file")
    expected = [column_id for column_id, _ in _columns(node)]
    header = [str(cell or "").strip() for cell in rows[0]]
    if header[: len(expected)] != expected:
        raise ApplicationError(
            "Excel 的列与决策表不一致，请先导出模板再修改。",
            "the sheet's columns do not match the table; export it first",
            code="bad_file",
        )
    body = [row for row in rows[2:] if any(cell not in (None, "") for cell in row)]
    if len(body) > MAX_ROWS:
        raise ApplicationError(f"决策表最多 {MAX_ROWS} 行。", "too many rows", code="bad_file")
    result = []
    for row in body:
        values = {}
        for index, column_id in enumerate(expected):
            value = row[index] if index < len(row) else None
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, float) and value.is_integer():
                value = str(int(value))
            values[column_id] = str(value).strip()
        result.append(values)
    return result
