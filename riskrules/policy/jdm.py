"""Small builders for JDM graphs (the JSON GoRules ZEN evaluates)."""

import itertools
import json

from riskrules.catalogue import VariableSpec


def _position(index: int) -> dict:
    return {"x": 80 + 260 * index, "y": 160}


class Graph:
    """Build nodes left to right; ``then(node)`` links the previous node to the new one."""

    def __init__(self):
        self.nodes: list[dict] = []
        self.edges: list[dict] = []

    def add(self, node: dict) -> dict:
        node.setdefault("position", _position(len(self.nodes)))
        self.nodes.append(node)
        return node

    def link(self, source: str, target: str, handle: str | None = None) -> None:
        edge = {"id": f"e{len(self.edges) + 1}", "sourceId": source, "targetId": target, "type": "edge"}
        if handle:
            edge["sourceHandle"] = handle
        self.edges.append(edge)

    def chain(self, *nodes: dict) -> None:
        for node in nodes:
            self.add(node)
        for left, right in itertools.pairwise(nodes):
            self.link(left["id"], right["id"])

    def as_content(self) -> dict:
        return {"nodes": self.nodes, "edges": self.edges}


def input_node(codes: list[str], catalogue: dict[str, VariableSpec]) -> dict:
    properties = {code: catalogue[code].json_schema(nullable=True) for code in codes}
    schema = {"type": "object", "properties": properties}
    return {
        "id": "input",
        "type": "inputNode",
        "name": "输入 Request",
        "content": {"schema": json.dumps(schema, ensure_ascii=False)},
    }


def output_node(node_id: str = "output") -> dict:
    return {"id": node_id, "type": "outputNode", "name": "输出 Response"}


def table(
    node_id: str,
    name: str,
    *,
    hit_policy: str,
    inputs: list[tuple[str, str]],
    outputs: list[tuple[str, str]],
    rows: list[dict],
    output_path: str | None = None,
) -> dict:
    """``inputs``/``outputs``: (field, label); ``rows``: {"_id", "_description", field: cell}."""
    in_columns = [{"id": f"in_{field.replace('.', '_')}", "name": label, "field": field} for field, label in inputs]
    out_columns = [{"id": f"out_{field.replace('.', '_')}", "name": label, "field": field} for field, label in outputs]
    by_field = {c["field"]: c["id"] for c in in_columns} | {c["field"]: c["id"] for c in out_columns}
    rules = []
    for row in rows:
        rule = {"_id": row["_id"]}
        if row.get("_description"):
            rule["_description"] = row["_description"]
        for field, column_id in by_field.items():
            rule[column_id] = row.get(field, "")
        rules.append(rule)
    content = {"hitPolicy": hit_policy, "inputs": in_columns, "outputs": out_columns, "rules": rules, "passThrough": True}
    if output_path:
        content["outputPath"] = output_path
    return {"id": node_id, "type": "decisionTableNode", "name": name, "content": content}


def expressions(node_id: str, name: str, items: list[tuple[str, str]], *, pass_through: bool = True) -> dict:
    return {
        "id": node_id,
        "type": "expressionNode",
        "name": name,
        "content": {
            "expressions": [{"id": f"{node_id}_{index}", "key": key, "value": value} for index, (key, value) in enumerate(items)],
            "passThrough": pass_through,
        },
    }


def switch(node_id: str, name: str, statements: list[tuple[str, str]]) -> dict:
    return {
        "id": node_id,
        "type": "switchNode",
        "name": name,
        "content": {"hitPolicy": "first", "statements": [{"id": sid, "condition": condition} for sid, condition in statements]},
    }


def sub_decision(node_id: str, name: str, key: str, output_path: str) -> dict:
    return {
        "id": node_id,
        "type": "decisionNode",
        "name": name,
        "content": {"key": key, "passThrough": True, "outputPath": output_path},
    }


def q(value: str) -> str:
    """A ZEN string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def in_list(values: list[str]) -> str:
    return "[" + ", ".join(q(v) for v in values) + "]"
