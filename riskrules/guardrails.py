"""Guard-rails on ZEN graphs, enforced whenever a version is saved (static part, no database access).

A version is refused when any of these hold:

* the JDM is not a graph of nodes and edges with unique ids, one input node, at least one output node,
  edges between existing nodes, no cycles, every node reachable from the input;
* a node type other than input, output, decision table, expression, switch or pinned sub-decision
  (``decisionNode``) — JavaScript function nodes and custom nodes are forbidden;
* ``rand()`` or anything that reads the clock (``d()``, ``now()``, ``date('now')``…) — the decision
  date is an input;
* the input node has no JSON schema, or the schema declares a property that is not an active catalogue
  variable, or with a JSON type incompatible with the variable's type;
* a first-hit decision table whose last row is not a catch-all (every input cell empty) that sets
  ``outcome`` to ``'refer'`` and ``reason`` to a known reason code (manual review with a reason);
* a field read by a node that is neither produced by a node of the graph nor a catalogue variable
  declared in the input schema; a cell whose literal type does not fit the variable's type
  (text compared with a number, decimals in an integer-fen column, an enum value outside the list…);
* a cell, expression or switch condition that ZEN cannot parse;
* a reason code written by a rule that is not in the reason-code catalogue;
* a sub-decision that is not pinned to an approved or published version by its content hash.

The dynamic part (compiling the whole graph with ZEN and running the attached test cases) lives in
``riskrules.services.versions``.
"""

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

import zen

from riskrules.catalogue import COMPATIBLE_SCHEMA_TYPES, VariableSpec

ALLOWED_NODE_TYPES = {"inputNode", "outputNode", "decisionTableNode", "expressionNode", "switchNode", "decisionNode"}
FORBIDDEN_NODE_NAMES = {"functionNode": "JavaScript 函数节点", "customNode": "自定义节点"}

STRING_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
HASH_RE = re.compile(r"^[0-9a-f]{64}$")

FORBIDDEN_PATTERNS = [
    (re.compile(r"\brand\s*\("), "rand()", "随机数函数 rand() 会使决策不可重放"),
    (re.compile(r"\buuid\s*\("), "uuid()", "uuid() 会使决策不可重放"),
    (re.compile(r"\b(?:d|date|time|now|today)\s*\(\s*\)"), "clock", "读取系统时钟的函数（决策日期须作为输入）"),
    (
        re.compile(r"""['"]\s*(?:now|today|yesterday|tomorrow)\s*['"]""", re.IGNORECASE),
        "clock",
        "读取系统时钟的日期（决策日期须作为输入）",
    ),
]

REASON_FIELD_NAMES = {"reason", "code", "adverse_code"}


@dataclass(frozen=True)
class Violation:
    code: str
    message_zh: str
    message_en: str
    node_id: str = ""
    row_id: str = ""

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "node_id": self.node_id,
            "row_id": self.row_id,
        }

    def __str__(self) -> str:
        where = f"[{self.node_id}{'/' + self.row_id if self.row_id else ''}] " if self.node_id else ""
        return f"{where}{self.message_zh}"


@dataclass(frozen=True)
class GuardResult:
    violations: tuple
    input_variables: tuple  # schema properties, in schema order
    produced: frozenset

    @property
    def ok(self) -> bool:
        return not self.violations


def strip_strings(text: str) -> str:
    return STRING_RE.sub('""', text)


def string_literals(text: str) -> list[str]:
    return [match[1:-1] for match in STRING_RE.findall(text or "")]


def referenced_names(expression: str) -> frozenset[str]:
    """Dotted context paths an expression reads (function names, keywords, ``#``/``$`` and object keys
    excluded)."""
    return _referenced_names(expression or "")


@functools.lru_cache(maxsize=8192)
def _referenced_names(expression: str) -> frozenset[str]:
    text = strip_strings(expression)
    names = set()
    for match in IDENT_RE.finditer(text):
        start, end = match.span()
        before = text[:start].rstrip()
        prev = text[start - 1] if start else ""
        if prev and (prev in ".#$" or prev.isalnum() or prev == "_"):
            continue
        after = text[end:].lstrip()
        if after.startswith("("):
            continue  # function call
        name = match.group(0)
        if name in KEYWORDS:
            continue
        if after.startswith(":") and not after.startswith("::") and before.endswith(("{", ",")):
            continue  # object literal key
        names.add(name)
    return frozenset(names)


def self_references(expression: str) -> set[str]:
    """Keys read as ``$.key`` (earlier expressions of the same expression node)."""
    return set(re.findall(r"\$\.([A-Za-z_][A-Za-z0-9_]*)", strip_strings(expression or "")))


def _root(path: str) -> str:
    return path.split(".", 1)[0]


def _last(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _prefix(output_path: str | None, field: str) -> str:
    return f"{output_path}.{field}" if output_path else field


def _is_blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _literal_type_problem(spec: VariableSpec, cell: str, *, unary: bool) -> str | None:
    """A static check of literal types in a cell against the variable's type; returns the problem."""
    text = strip_strings(cell)
    literals = string_literals(cell)
    has_date_call = bool(re.search(r"\b(?:date|d)\s*\(", text))
    has_bool = bool(re.search(r"\b(?:true|false)\b", text))
    numbers = re.findall(r"(?<![\w.\]])(-?\d+(?:\.\d+)?)", text)
    has_decimal = any("." in number for number in numbers)
    comparison_only = unary and not IDENT_RE.search(re.sub(r"\b(?:and|or|not|true|false|null)\b", "", text))
    kind = spec.type
    if kind in ("number", "integer", "fen"):
        if literals and not has_date_call:
            return "文本与数值比较"
        if has_bool:
            return "布尔值与数值比较"
        if kind == "fen" and has_decimal:
            return "金额须为以分为单位的整数"
        if kind == "integer" and has_decimal and comparison_only:
            return "整数变量与小数比较"
        return None
    if kind == "boolean":
        if literals:
            return "文本与布尔值比较"
        if numbers and comparison_only:
            return "数值与布尔值比较"
        return None
    if kind == "enum":
        unknown = [value for value in literals if spec.enum_values and value not in spec.enum_values]
        if unknown:
            return f"枚举值不在目录中：{'、'.join(unknown)}"
        if not literals and numbers and comparison_only:
            return "数值与枚举比较"
        return None
    if kind == "string":
        if not literals and numbers and comparison_only:
            return "数值与文本比较"
        if has_bool and comparison_only:
            return "布尔值与文本比较"
        return None
    if kind == "date":
        if numbers and not has_date_call and not literals and comparison_only:
            return "数值与日期比较"
        return None
    return None


def _compile_problem(cell: str, *, unary: bool) -> str | None:
    try:
        if unary:
            zen.compile_unary_expression(cell)
        else:
            zen.compile_expression(cell)
    except Exception as exc:
        text = str(exc).split("\n", 1)[0]
        try:
            data = json.loads(text)
            text = data.get("source", text)
        except (ValueError, AttributeError):
            pass
        return str(text)[:200]
    return None


def _forbidden_problem(text: str) -> str | None:
    for pattern, _name, message in FORBIDDEN_PATTERNS:
        if pattern.search(text or ""):
            return message
    return None


def parse_schema(raw) -> tuple[dict | None, str | None]:
    if raw in (None, "", {}):
        return None, "输入节点缺少 JSON Schema"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            return None, f"输入节点的 JSON Schema 不是有效 JSON：{exc}"
    if not isinstance(raw, dict) or raw.get("type") != "object" or not isinstance(raw.get("properties"), dict):
        return None, "输入节点的 JSON Schema 须为 type=object 且声明 properties"
    if not raw["properties"]:
        return None, "输入节点的 JSON Schema 未声明任何输入变量"
    return raw, None


def produced_names(content: dict, *, sub_produced: Callable[[str], set] | None = None) -> set[str]:
    """Paths written by the nodes of a graph (with output paths), used to accept internal fields."""
    produced: set[str] = set()
    for node in content.get("nodes", []) if isinstance(content, dict) else []:
        body = node.get("content") if isinstance(node.get("content"), dict) else {}
        output_path = body.get("outputPath") or None
        node_type = node.get("type")
        if output_path:
            produced.add(output_path)
        if node_type == "decisionTableNode":
            for column in body.get("outputs", []) or []:
                if isinstance(column, dict) and column.get("field"):
                    produced.add(_prefix(output_path, column["field"]))
        elif node_type == "expressionNode":
            for expression in body.get("expressions", []) or []:
                if isinstance(expression, dict) and expression.get("key"):
                    produced.add(_prefix(output_path, expression["key"]))
        elif node_type == "decisionNode" and not output_path and sub_produced is not None:
            produced |= sub_produced(str(body.get("key", "")))
    expanded = set()
    for path in produced:
        parts = path.split(".")
        for index in range(1, len(parts) + 1):
            expanded.add(".".join(parts[:index]))
    return expanded


def check_content(
    content,
    *,
    catalogue: dict[str, VariableSpec],
    reason_codes: set[str],
    pinned: Callable[[str], tuple[str, dict] | None],
) -> GuardResult:
    """Static guard-rails. ``pinned(hash)`` returns (status, content) of a stored version or None."""
    violations: list[Violation] = []

    def add(code, zh, en, node_id="", row_id=""):
        violations.append(Violation(code, zh, en, node_id, row_id))

    if not isinstance(content, dict) or not isinstance(content.get("nodes"), list) or not isinstance(content.get("edges"), list):
        add("invalid_jdm", "JDM 须为包含 nodes 与 edges 列表的 JSON 对象", "JDM must be an object with nodes and edges lists")
        return GuardResult(tuple(violations), (), frozenset())

    nodes = content["nodes"]
    edges = content["edges"]
    ids: dict[str, dict] = {}
    for node in nodes:
        if not isinstance(node, dict) or not node.get("id") or not node.get("type"):
            add("invalid_jdm", "每个节点须有 id 与 type", "every node needs an id and a type")
            continue
        if node["id"] in ids:
            add("invalid_jdm", f"节点 id 重复：{node['id']}", f"duplicate node id {node['id']}", node["id"])
        ids[node["id"]] = node
        if node["type"] in FORBIDDEN_NODE_NAMES:
            add(
                "forbidden_node",
                f"禁止使用{FORBIDDEN_NODE_NAMES[node['type']]}（{node['type']}）",
                f"node type {node['type']} is forbidden",
                node["id"],
            )
        elif node["type"] not in ALLOWED_NODE_TYPES:
            add("forbidden_node", f"不允许的节点类型：{node['type']}", f"node type {node['type']} is not allowed", node["id"])
    if violations:
        return GuardResult(tuple(violations), (), frozenset())

    inputs = [n for n in nodes if n["type"] == "inputNode"]
    outputs = [n for n in nodes if n["type"] == "outputNode"]
    if len(inputs) != 1:
        add("invalid_jdm", "须有且只有一个输入节点", "exactly one input node is required")
    if not outputs:
        add("invalid_jdm", "至少需要一个输出节点", "an output node is required")
    adjacency: dict[str, list[str]] = {node_id: [] for node_id in ids}
    for edge in edges:
        if not isinstance(edge, dict) or edge.get("sourceId") not in ids or edge.get("targetId") not in ids:
            add("invalid_jdm", "连线引用了不存在的节点", "an edge references a missing node")
            continue
        adjacency[edge["sourceId"]].append(edge["targetId"])
    if violations:
        return GuardResult(tuple(violations), (), frozenset())

    # cycles and reachability
    state: dict[str, int] = {}

    def visit(node_id: str) -> bool:
        state[node_id] = 1
        for target in adjacency[node_id]:
            if state.get(target) == 1 or (state.get(target) is None and visit(target)):
                return True
        state[node_id] = 2
        return False

    start = inputs[0]["id"]
    if visit(start):
        add("invalid_jdm", "规则流存在环路", "the graph has a cycle")
    for node_id in ids:
        if node_id not in state:
            add("invalid_jdm", "节点无法从输入节点到达", "node is not reachable from the input node", node_id)

    # forbidden functions anywhere in the graph's text
    def scan(text, node_id, row_id=""):
        problem = _forbidden_problem(text) if isinstance(text, str) else None
        if problem:
            add("forbidden_function", f"禁止使用：{problem}：{text}", f"forbidden function in {text!r}", node_id, row_id)
            return True
        return False

    # sub-decisions
    sub_cache: dict[str, set] = {}

    def sub_produced(key: str) -> set:
        if key not in sub_cache:
            found = pinned(key) if HASH_RE.match(key or "") else None
            sub_cache[key] = produced_names(found[1], sub_produced=sub_produced) if found else set()
        return sub_cache[key]

    produced = produced_names(content, sub_produced=sub_produced)

    # input schema
    schema_vars: list[str] = []
    schema, problem = parse_schema((inputs[0].get("content") or {}).get("schema") if inputs else None)
    if problem:
        add("input_schema", problem, "the input node needs a JSON schema with properties", inputs[0]["id"] if inputs else "")
    elif schema:
        for name, prop in schema["properties"].items():
            spec = catalogue.get(name)
            if spec is None:
                add(
                    "unknown_variable",
                    f"输入 Schema 中的变量“{name}”不在变量目录中",
                    f"schema property {name} is not a catalogue variable",
                    inputs[0]["id"],
                )
                continue
            declared = prop.get("type") if isinstance(prop, dict) else None
            declared_types = {declared} if isinstance(declared, str) else set(declared or [])
            declared_types.discard("null")
            if not declared_types or not declared_types <= COMPATIBLE_SCHEMA_TYPES[spec.type]:
                add(
                    "type_mismatch",
                    f"输入 Schema 中“{name}”的类型 {sorted(declared_types)} 与目录类型 {spec.type} 不符",
                    f"schema type of {name} does not match catalogue type {spec.type}",
                    inputs[0]["id"],
                )
            enum = prop.get("enum") if isinstance(prop, dict) else None
            if enum and spec.enum_values and not {v for v in enum if v is not None} <= set(spec.enum_values):
                add(
                    "type_mismatch",
                    f"输入 Schema 中“{name}”的枚举值超出目录范围",
                    f"schema enum of {name} exceeds the catalogue",
                    inputs[0]["id"],
                )
            schema_vars.append(name)

    declared = set(schema_vars)

    def check_reads(text: str, node_id: str, row_id: str = "", *, local: set | None = None):
        for name in referenced_names(text):
            root = _root(name)
            if name in produced or root in produced or (local and root in local):
                continue
            spec = catalogue.get(root)
            if spec is None:
                add(
                    "unknown_variable",
                    f"引用的字段“{name}”不在变量目录中，也不是上游节点的输出",
                    f"field {name} is neither a catalogue variable nor produced by the graph",
                    node_id,
                    row_id,
                )
            elif root not in declared:
                add(
                    "undeclared_input",
                    f"字段“{root}”被规则读取，但未在输入节点的 JSON Schema 中声明",
                    f"field {root} is read but not declared in the input schema",
                    node_id,
                    row_id,
                )

    for node in nodes:
        node_id = node["id"]
        node_type = node["type"]
        body = node.get("content") if isinstance(node.get("content"), dict) else {}
        if node_type == "decisionTableNode":
            hit_policy = body.get("hitPolicy")
            if hit_policy not in ("first", "collect"):
                add("invalid_jdm", "决策表的命中策略须为 first 或 collect", "hitPolicy must be first or collect", node_id)
            in_cols = [c for c in body.get("inputs", []) or [] if isinstance(c, dict)]
            out_cols = [c for c in body.get("outputs", []) or [] if isinstance(c, dict)]
            rules = [r for r in body.get("rules", []) or [] if isinstance(r, dict)]
            if not out_cols:
                add("invalid_jdm", "决策表至少需要一个输出列", "a decision table needs an output column", node_id)
            row_ids = set()
            for index, row in enumerate(rules):
                row_id = str(row.get("_id") or "")
                if not row_id:
                    add("invalid_jdm", f"第 {index + 1} 行缺少 _id", f"row {index + 1} has no _id", node_id)
                elif row_id in row_ids:
                    add("invalid_jdm", f"规则行 id 重复：{row_id}", f"duplicate row id {row_id}", node_id, row_id)
                row_ids.add(row_id)
                for column in in_cols:
                    cell = row.get(column.get("id"), "")
                    if _is_blank(cell):
                        continue
                    if not isinstance(cell, str):
                        add("cell_parse", "单元格须为文本表达式", "cells must be strings", node_id, row_id)
                        continue
                    if scan(cell, node_id, row_id):
                        continue
                    field = column.get("field") or ""
                    unary = bool(field)
                    problem = _compile_problem(cell, unary=unary)
                    if problem:
                        add(
                            "cell_parse",
                            f"列“{column.get('name', field)}”的单元格无法解析：{cell}（{problem}）",
                            f"cell {cell!r} does not parse: {problem}",
                            node_id,
                            row_id,
                        )
                        continue
                    check_reads(cell, node_id, row_id)
                    spec = catalogue.get(field) if field and "." not in field else None
                    if spec is not None:
                        type_problem = _literal_type_problem(spec, cell, unary=True)
                        if type_problem:
                            add(
                                "type_mismatch",
                                f"列“{column.get('name', field)}”（{spec.type}）的条件 {cell} 类型不符：{type_problem}",
                                f"cell {cell!r} does not fit {field} of type {spec.type}",
                                node_id,
                                row_id,
                            )
                for column in out_cols:
                    cell = row.get(column.get("id"), "")
                    if _is_blank(cell):
                        continue
                    if not isinstance(cell, str):
                        add("cell_parse", "单元格须为文本表达式", "cells must be strings", node_id, row_id)
                        continue
                    if scan(cell, node_id, row_id):
                        continue
                    problem = _compile_problem(cell, unary=False)
                    if problem:
                        add(
                            "cell_parse",
                            f"输出列“{column.get('name', '')}”的单元格无法解析：{cell}（{problem}）",
                            f"output cell {cell!r} does not parse: {problem}",
                            node_id,
                            row_id,
                        )
                        continue
                    check_reads(cell, node_id, row_id)
                    field_name = _last(str(column.get("field", "")))
                    spec = catalogue.get(field_name)
                    if spec is not None and spec.source == "output":
                        type_problem = _literal_type_problem(spec, cell, unary=False)
                        if type_problem:
                            add(
                                "type_mismatch",
                                f"输出列“{column.get('name', field_name)}”（{spec.type}）的值 {cell} 类型不符：{type_problem}",
                                f"output {cell!r} does not fit {field_name} of type {spec.type}",
                                node_id,
                                row_id,
                            )
                    if field_name in REASON_FIELD_NAMES:
                        for literal in string_literals(cell):
                            if literal and literal not in reason_codes:
                                add(
                                    "unknown_reason",
                                    f"原因码“{literal}”不在原因码目录中",
                                    f"reason code {literal} is not in the catalogue",
                                    node_id,
                                    row_id,
                                )
            for column in in_cols:
                field = column.get("field") or ""
                if field:
                    check_reads(field, node_id)
            if hit_policy == "first":
                _check_catch_all(node_id, in_cols, out_cols, rules, reason_codes, add)
        elif node_type == "expressionNode":
            keys_so_far: set[str] = set()
            for expression in body.get("expressions", []) or []:
                if not isinstance(expression, dict):
                    continue
                key, value = expression.get("key", ""), expression.get("value", "")
                if not key or _is_blank(value):
                    add("invalid_jdm", "表达式须有键和值", "every expression needs a key and a value", node_id)
                    continue
                if scan(value, node_id):
                    continue
                problem = _compile_problem(value, unary=False)
                if problem:
                    add("cell_parse", f"表达式“{key}”无法解析：{value}（{problem}）", f"expression {key} does not parse", node_id)
                    continue
                check_reads(value, node_id)
                for ref in self_references(value):
                    if ref not in keys_so_far:
                        add(
                            "unknown_variable",
                            f"表达式“{key}”引用了本节点尚未计算的 $.{ref}",
                            f"expression {key} reads $.{ref} before it is computed",
                            node_id,
                        )
                keys_so_far.add(key)
        elif node_type == "switchNode":
            statements = [s for s in body.get("statements", []) or [] if isinstance(s, dict)]
            if not statements:
                add("invalid_jdm", "分支节点至少需要一个条件", "a switch needs statements", node_id)
            for statement in statements:
                condition = statement.get("condition", "")
                if _is_blank(condition):
                    continue
                if scan(condition, node_id):
                    continue
                problem = _compile_problem(condition, unary=False)
                if problem:
                    add("cell_parse", f"分支条件无法解析：{condition}（{problem}）", "switch condition does not parse", node_id)
                    continue
                check_reads(condition, node_id)
        elif node_type == "decisionNode":
            key = str(body.get("key", ""))
            found = pinned(key) if HASH_RE.match(key) else None
            if found is None or found[0] not in ("approved", "published", "retired"):
                add(
                    "unpinned_subdecision",
                    "子决策须以内容哈希固定到已复核或已发布的版本",
                    "a sub-decision must be pinned to an approved or published version by its hash",
                    node_id,
                )
        for attribute in ("inputField", "outputPath"):
            value = body.get(attribute) if isinstance(body, dict) else None
            if value and not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", str(value)):
                add("invalid_jdm", f"{attribute} 须为字段路径", f"{attribute} must be a field path", node_id)

    return GuardResult(tuple(violations), tuple(schema_vars), frozenset(produced))


def _check_catch_all(node_id, in_cols, out_cols, rules, reason_codes, add) -> None:
    message_en = "a first-hit table must end with a catch-all row that refers to manual review with a reason"
    if not rules:
        add("missing_catch_all", "首次命中决策表须以兜底行（转人工并给出原因）结尾", message_en, node_id)
        return
    last = rules[-1]
    row_id = str(last.get("_id", ""))
    if any(not _is_blank(last.get(column.get("id"), "")) for column in in_cols):
        add("missing_catch_all", "首次命中决策表的最后一行须为所有条件为空的兜底行", message_en, node_id, row_id)
        return
    by_field = {_last(str(column.get("field", ""))): str(last.get(column.get("id"), "") or "") for column in out_cols}
    outcome = string_literals(by_field.get("outcome", ""))
    reason = [value for value in string_literals(by_field.get("reason", "")) if value]
    if outcome != ["refer"] or not reason:
        add("missing_catch_all", "兜底行须设置 outcome='refer' 并给出原因码 reason", message_en, node_id, row_id)
        return
    if reason[0] not in reason_codes:
        add("unknown_reason", f"兜底行的原因码“{reason[0]}”不在原因码目录中", "unknown reason code in catch-all", node_id, row_id)
