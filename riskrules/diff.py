"""Structured difference between two JDM graphs (版本比对): nodes, input schema, decision-table rows
(matched by row id, cell by cell), expressions, switch conditions, pinned sub-decisions, edges."""

import json


def _nodes(content: dict) -> dict:
    return {node.get("id"): node for node in (content or {}).get("nodes", [])}


def _schema_props(content: dict) -> dict:
    for node in (content or {}).get("nodes", []):
        if node.get("type") == "inputNode":
            raw = (node.get("content") or {}).get("schema")
            try:
                schema = json.loads(raw) if isinstance(raw, str) else (raw or {})
            except ValueError:
                return {}
            return schema.get("properties", {}) if isinstance(schema, dict) else {}
    return {}


def _columns(body: dict) -> list[tuple[str, str]]:
    columns = []
    for column in body.get("inputs", []) + body.get("outputs", []):
        label = column.get("name") or column.get("field") or column.get("id")
        field = column.get("field") or ""
        columns.append((column.get("id"), f"{label} ({field})" if field and field != label else label))
    return columns


def _row_cells(row: dict, columns) -> dict:
    cells = {"说明": row.get("_description", "")}
    for column_id, label in columns:
        cells[label] = row.get(column_id, "")
    return cells


def diff_versions(old: dict, new: dict) -> dict:
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    result = {
        "nodes_added": [
            {"id": i, "name": n.get("name"), "type": n.get("type")} for i, n in new_nodes.items() if i not in old_nodes
        ],
        "nodes_removed": [
            {"id": i, "name": n.get("name"), "type": n.get("type")} for i, n in old_nodes.items() if i not in new_nodes
        ],
        "schema_added": [],
        "schema_removed": [],
        "tables": [],
        "expressions": [],
        "switches": [],
        "subdecisions": [],
        "edges_changed": False,
    }
    old_props, new_props = _schema_props(old), _schema_props(new)
    result["schema_added"] = sorted(set(new_props) - set(old_props))
    result["schema_removed"] = sorted(set(old_props) - set(new_props))
    for node_id, new_node in new_nodes.items():
        old_node = old_nodes.get(node_id)
        if old_node is None or old_node.get("type") != new_node.get("type"):
            continue
        node_type = new_node.get("type")
        old_body, new_body = old_node.get("content") or {}, new_node.get("content") or {}
        if node_type == "decisionTableNode":
            old_cols, new_cols = _columns(old_body), _columns(new_body)
            old_rows = {r.get("_id"): _row_cells(r, old_cols) for r in old_body.get("rules", [])}
            new_rows = {r.get("_id"): _row_cells(r, new_cols) for r in new_body.get("rules", [])}
            added = [{"row": rid, "cells": cells} for rid, cells in new_rows.items() if rid not in old_rows]
            removed = [{"row": rid, "cells": cells} for rid, cells in old_rows.items() if rid not in new_rows]
            changed = []
            for rid, cells in new_rows.items():
                if rid not in old_rows:
                    continue
                before = old_rows[rid]
                deltas = [
                    {"column": label, "old": before.get(label, ""), "new": value}
                    for label, value in cells.items()
                    if before.get(label, "") != value
                ]
                deltas += [
                    {"column": label, "old": value, "new": ""} for label, value in before.items() if label not in cells and value
                ]
                if deltas:
                    changed.append({"row": rid, "changes": deltas})
            order_changed = [r.get("_id") for r in old_body.get("rules", [])] != [r.get("_id") for r in new_body.get("rules", [])]
            settings_changed = {
                key: {"old": old_body.get(key), "new": new_body.get(key)}
                for key in ("hitPolicy", "outputPath", "inputField", "passThrough")
                if old_body.get(key) != new_body.get(key)
            }
            columns_changed = [label for _id, label in new_cols if (_id, label) not in old_cols] + [
                label for _id, label in old_cols if (_id, label) not in new_cols
            ]
            if added or removed or changed or order_changed or settings_changed or columns_changed:
                result["tables"].append(
                    {
                        "node": node_id,
                        "name": new_node.get("name"),
                        "rows_added": added,
                        "rows_removed": removed,
                        "rows_changed": changed,
                        "order_changed": order_changed and not (added or removed),
                        "settings": settings_changed,
                        "columns": columns_changed,
                    }
                )
        elif node_type == "expressionNode":
            old_expr = {e.get("key"): e.get("value") for e in old_body.get("expressions", [])}
            new_expr = {e.get("key"): e.get("value") for e in new_body.get("expressions", [])}
            changes = [
                {"key": key, "old": old_expr.get(key), "new": new_expr.get(key)}
                for key in dict.fromkeys([*old_expr, *new_expr])
                if old_expr.get(key) != new_expr.get(key)
            ]
            if changes:
                result["expressions"].append({"node": node_id, "name": new_node.get("name"), "changes": changes})
        elif node_type == "switchNode":
            old_st = {s.get("id"): s.get("condition") for s in old_body.get("statements", [])}
            new_st = {s.get("id"): s.get("condition") for s in new_body.get("statements", [])}
            changes = [
                {"statement": sid, "old": old_st.get(sid), "new": new_st.get(sid)}
                for sid in dict.fromkeys([*old_st, *new_st])
                if old_st.get(sid) != new_st.get(sid)
            ]
            if changes:
                result["switches"].append({"node": node_id, "name": new_node.get("name"), "changes": changes})
        elif node_type == "decisionNode" and old_body.get("key") != new_body.get("key"):
            result["subdecisions"].append(
                {
                    "node": node_id,
                    "name": new_node.get("name"),
                    "old": str(old_body.get("key", ""))[:12],
                    "new": str(new_body.get("key", ""))[:12],
                }
            )

    def edge_set(content):
        return {(e.get("sourceId"), e.get("targetId"), e.get("sourceHandle")) for e in (content or {}).get("edges", [])}

    result["edges_changed"] = edge_set(old) != edge_set(new)
    result["identical"] = not any(
        result[key]
        for key in (
            "nodes_added",
            "nodes_removed",
            "schema_added",
            "schema_removed",
            "tables",
            "expressions",
            "switches",
            "subdecisions",
            "edges_changed",
        )
    )
    return result
