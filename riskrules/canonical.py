"""Canonical JSON of a JDM graph and its SHA-256: the identity of a rule version's content."""

import hashlib
import json


def canonical_json(content) -> str:
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_hash(content) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()
