"""Per-process memo of reference data — configuration that hot paths read on every request and staff
change rarely (the rule configuration, products on sale, integrator clients) — checked against one
shared *generation*.

The generation is a random token in the shared cache (Redis in production, so every worker and node
sees it), replaced after every committed change of a watched model. Each process keeps what it read
under the token it saw; when the token differs the whole memo is dropped and rebuilt from the database.
Inside a request the token is read once (at the first memo use) and kept for the rest of the request,
so a request makes one cache round trip however many memos it uses; outside requests (tasks, batch
jobs, shells) every use reads it.

Correctness does not depend on timing:
- the token is replaced *after* the change commits, and a process reads the token *before* it reads
  the database, so a memo is never filed under a newer token than the data it holds;
- while this thread has an uncommitted change of a watched model (or one that was rolled back since),
  the memo is bypassed: the database is read directly, so a rolled-back change is never remembered;
- ``QuerySet.update()`` and bulk writes send no signals: code that changes watched tables that way calls
  ``changed()`` itself;
- a request that starts after a change committed sees the change; one already running finishes with
  the data it started with, as it would have with its own reads.

Memoised values are shared by every request of the process: callers treat them as read-only.
"""

import threading
import uuid

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import post_delete, post_save

GENERATION_KEY = "jikuai:reference-generation"

_memo: dict = {"generation": None}
_lock = threading.Lock()
_state = threading.local()  # .dirty: uncommitted change in this thread; .request: generation seen by this request
_watched: set[str] = set()


def _read_generation() -> str:
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        value = cache.get(GENERATION_KEY)
    return value


def _generation() -> str:
    seen = getattr(_state, "request", None)
    if seen is False:  # in a request, not read yet
        seen = _state.request = _read_generation()
    return seen if seen is not None else _read_generation()


def _committed() -> None:
    token = uuid.uuid4().hex
    cache.set(GENERATION_KEY, token, None)
    _state.dirty = False
    if getattr(_state, "request", None) is not None:
        _state.request = token
    clear()


def changed(**_kwargs) -> None:
    """Call after changing a watched table without model signals (``update()``, bulk writes)."""
    _state.dirty = True
    clear()
    transaction.on_commit(_committed)


def clear() -> None:
    """Forget this process's memo (tests; the generation does it in production)."""
    with _lock:
        _memo.clear()
        _memo["generation"] = None


def reset() -> None:
    """``clear()`` and forget an uncommitted change of this thread (between tests)."""
    clear()
    _state.dirty = False
    _state.request = None


def memoized(name: str, key, load, *, keep_none: bool = True):
    """``load()``'s result, remembered per process under (name, key) for the current generation.
    ``keep_none=False``: a None result is not remembered (keys that come from callers, e.g. unknown ids,
    must not grow the memo)."""
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
    if value is None and not keep_none:
        return value
    with _lock:
        if _memo.get("generation") == generation:
            _memo[(name, key)] = value
    return value


def watch(*models) -> None:
    """Renew the generation after every committed save or delete of these models."""
    for model in models:
        label = model._meta.label
        if label in _watched:
            continue
        _watched.add(label)
        post_save.connect(changed, sender=model, dispatch_uid=f"refmemo-save-{label}")
        post_delete.connect(changed, sender=model, dispatch_uid=f"refmemo-delete-{label}")


def _request_started(**_kwargs) -> None:
    _state.request = False
    _state.dirty = False  # no transaction outlives a request: a rolled-back change of the last one is gone


def _request_finished(**_kwargs) -> None:
    _state.request = None


def connect_request_signals() -> None:
    request_started.connect(_request_started, dispatch_uid="refmemo-request-started")
    request_finished.connect(_request_finished, dispatch_uid="refmemo-request-finished")
