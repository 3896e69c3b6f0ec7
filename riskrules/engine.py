"""The GoRules ZEN runtime: one engine per process, decisions loaded by content hash.

Call pattern (never build a decision runtime per call):

* ``load(content_hash, content)`` parses and compiles a JDM graph once into a ``ZenDecisionContent`` and
  keeps it in an in-process cache keyed by its SHA-256; content addressed by hash never changes, so the
  cache needs no invalidation.
* ``evaluate(content_hash, context, trace=...)`` asks the process-wide ``ZenEngine`` to evaluate the key;
  the engine's loader returns the cached compiled content (also for pinned sub-decisions, whose
  ``decisionNode.content.key`` is the sub-version's hash).

``ZenEngine.create_decision(...).evaluate`` is ~10x slower than ``engine.evaluate(key)`` with a loader
returning pre-parsed content, which is why the loader path is the only one used.
"""

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib.metadata import version as package_version

import zen

from riskrules.canonical import canonical_json, content_hash

ENGINE_VERSION = f"zen-engine {package_version('zen-engine')}"
CACHE_SIZE = 4096
MAX_DEPTH = 5


class EngineError(Exception):
    """ZEN refused to compile or evaluate: ``node_id`` names the node when ZEN reports it."""

    def __init__(self, message: str, *, node_id: str = "", kind: str = ""):
        super().__init__(message)
        self.message = message
        self.node_id = node_id
        self.kind = kind


@dataclass(frozen=True)
class NodeMeta:
    id: str
    type: str
    name: str
    rows: dict = field(default_factory=dict)  # row id -> description (decision tables)
    sub_key: str = ""  # decisionNode: pinned version hash
    hit_policy: str = ""


@dataclass(frozen=True)
class ContentMeta:
    content_hash: str
    nodes: dict  # node id -> NodeMeta


_lock = threading.RLock()
_compiled: "OrderedDict[str, zen.ZenDecisionContent]" = OrderedDict()
_meta: dict[str, ContentMeta] = {}
_engine = None
_engine_pid: int | None = None


def _loader(key: str):
    compiled = _compiled.get(key)
    if compiled is None:
        raise KeyError(f"decision {key} is not loaded")
    return compiled


def get_engine() -> zen.ZenEngine:
    """The process-wide engine (re-created after a fork, e.g. in a Celery prefork child)."""
    global _engine, _engine_pid
    pid = os.getpid()
    if _engine is None or _engine_pid != pid:
        with _lock:
            if _engine is None or _engine_pid != pid:
                _engine = zen.ZenEngine({"loader": _loader})
                _engine_pid = pid
    return _engine


def parse_error(exc: Exception) -> EngineError:
    text = str(exc).split("\nStack backtrace", 1)[0].strip()
    first = text.splitlines()[0] if text else ""
    try:
        data = json.loads(first)
    except (ValueError, TypeError):
        return EngineError(text[:500])
    if not isinstance(data, dict):
        return EngineError(text[:500])
    source = data.get("source") or data.get("message") or text
    if isinstance(source, dict | list):
        source = json.dumps(source, ensure_ascii=False)
    return EngineError(str(source)[:500], node_id=str(data.get("nodeId") or ""), kind=str(data.get("type") or ""))


def compile_content(content: dict) -> zen.ZenDecisionContent:
    """Parse a JDM graph with ZEN; raises EngineError with ZEN's message when the JDM is invalid."""
    try:
        return zen.ZenDecisionContent(canonical_json(content))
    except Exception as exc:  # ZEN raises RuntimeError/ValueError with a JSON or plain message
        raise parse_error(exc) from None


def _build_meta(key: str, content: dict) -> ContentMeta:
    nodes = {}
    for node in content.get("nodes", []):
        node_type = node.get("type", "")
        body = node.get("content") if isinstance(node.get("content"), dict) else {}
        rows = {}
        if node_type == "decisionTableNode":
            for row in body.get("rules", []):
                rows[str(row.get("_id", ""))] = str(row.get("_description", "") or "")
        nodes[node.get("id")] = NodeMeta(
            id=node.get("id"),
            type=node_type,
            name=node.get("name", ""),
            rows=rows,
            sub_key=str(body.get("key", "")) if node_type == "decisionNode" else "",
            hit_policy=str(body.get("hitPolicy", "")),
        )
    return ContentMeta(content_hash=key, nodes=nodes)


def load(key: str, content: dict) -> None:
    """Compile ``content`` once and cache it under ``key`` (which must be its SHA-256)."""
    if key in _compiled:
        return
    if content_hash(content) != key:
        raise EngineError("内容哈希不一致 / content does not match its hash")
    compiled = compile_content(content)
    meta = _build_meta(key, content)
    with _lock:
        _compiled[key] = compiled
        _meta[key] = meta
        while len(_compiled) > CACHE_SIZE:
            old, _ = _compiled.popitem(last=False)
            _meta.pop(old, None)


def is_loaded(key: str) -> bool:
    return key in _compiled


def meta(key: str) -> ContentMeta | None:
    return _meta.get(key)


def evaluate(key: str, context: dict, *, trace: bool = False) -> dict:
    """Evaluate the loaded decision ``key``; returns ZEN's response ({result, trace?, performance})."""
    try:
        return get_engine().evaluate(key, context, {"trace": trace, "max_depth": MAX_DEPTH})
    except Exception as exc:
        raise parse_error(exc) from None


def clear_cache() -> None:
    """For tests and benchmarks only."""
    with _lock:
        _compiled.clear()
        _meta.clear()
