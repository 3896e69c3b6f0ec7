"""Per-process memo of the rule configuration a decision reads on every call — the variable catalogue,
the reason texts and the chosen deployments — checked against a shared generation.

A decision used to read the whole variable catalogue (one model per variable) and join its deployment
with the rule set and both versions on every call. Now each process keeps what it read, keyed by the
configuration *generation*: a random token in the shared cache (Redis in production, so every worker
and node sees it), replaced after every committed change of a variable, reason code, rule set, rule
version or deployment. Reading the token is one cache round trip; when it differs, the memo is dropped
and rebuilt from the database.

Correctness does not depend on timing:
- the token is replaced *after* the change commits, and a process reads the token *before* it reads
  the database, so a memo is never filed under a newer token than the data it holds;
- while this process has an uncommitted change of its own (or one that was rolled back since), the
  memo is bypassed: the database is read directly, so a rolled-back change is never remembered;
- ``QuerySet.update()`` and bulk writes send no signals: code that changes these tables that way calls
  ``config_changed()`` itself (``versions.py`` does).
"""

import threading
import uuid

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

GENERATION_KEY = "riskrules:config-generation"
WATCHED = ("Variable", "ReasonCode", "RuleSet", "RuleVersion", "Deployment")

_memo: dict = {"generation": None}
_lock = threading.Lock()
_state = threading.local()  # .dirty: this thread changed the configuration in a transaction not yet committed


def _generation() -> str:
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        value = cache.get(GENERATION_KEY)
    return value


def _committed() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)
    _state.dirty = False
    clear()


def config_changed(**_kwargs) -> None:
    """Call after changing the rule configuration without model signals (``update()``, bulk writes)."""
    _state.dirty = True
    clear()
    transaction.on_commit(_committed)


def clear() -> None:
    with _lock:
        _memo.clear()
        _memo["generation"] = None


def memoized(name: str, key, load):
    """``load()``'s result, remembered per process under (name, key) for the current generation."""
    if getattr(_state, "dirty", False):
        return load()
    generation = _generation()
    with _lock:
        if _memo.get("generation") != generation:
            _memo.clear()
            _memo["generation"] = generation
        found = _memo.get((name, key), _memo)
    if found is not _memo:
        return found
    value = load()
    with _lock:
        if _memo.get("generation") == generation:
            _memo[(name, key)] = value
    return value


def connect_signals() -> None:
    from django.apps import apps

    for name in WATCHED:
        model = apps.get_model("riskrules", name)
        post_save.connect(config_changed, sender=model, dispatch_uid=f"riskrules-config-save-{name}")
        post_delete.connect(config_changed, sender=model, dispatch_uid=f"riskrules-config-delete-{name}")
