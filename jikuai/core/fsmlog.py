"""Transition history (django-fsm-log) that a service can write in one bulk insert.

``DeferrableBackend`` is django-fsm-log's ``SimpleBackend`` (one ``StateLog`` row per transition, written
when the transition happens) with one addition: inside ``deferred_state_logs(instance)`` the rows of that
instance's transitions are collected instead, and written by one bulk insert when the block ends. A
service that creates a row and takes it through several transitions before its first save (an
application created, submitted and decided in one request) can then insert the row once, in its final
state, and its whole history with it. Every transition is still logged, with its actor and comment.
"""

import contextlib

from django_fsm_log.backends import SimpleBackend, _pre_transition_callback

from jikuai.core import fastsql


class _Collector:
    """Stands in for ``StateLog.objects`` in ``_pre_transition_callback``: keeps the row unsaved."""

    def __init__(self, rows: list):
        self.rows = rows

    def create(self, **values):
        from django_fsm_log.models import StateLog

        self.rows.append(StateLog(**values))


class DeferrableBackend(SimpleBackend):
    @staticmethod
    def post_transition_callback(sender, instance, name, source, target, **kwargs):
        rows = getattr(instance, "_deferred_state_logs", None)
        if rows is None:
            return SimpleBackend.post_transition_callback(sender, instance, name, source, target, **kwargs)
        return _pre_transition_callback(sender, instance, name, source, target, _Collector(rows), **kwargs)


@contextlib.contextmanager
def deferred_state_logs(instance):
    """Collect ``instance``'s transition logs and bulk-insert them when the block ends without an error
    (the instance must be saved by then). The block gets the list: rows written meanwhile together with
    the instance (``fastsql.insert_with_history(children=…)``) are not written again. Needs ``DJANGO_FSM_LOG_STORAGE_METHOD`` = this backend."""

    rows: list = []
    instance._deferred_state_logs = rows
    try:
        yield rows
    finally:
        del instance._deferred_state_logs
    rows = [row for row in rows if row._state.adding]  # not already written with the instance
    if rows:
        if instance.pk is None:
            raise RuntimeError("deferred_state_logs: save the instance before the block ends")
        for row in rows:
            row.object_id = instance.pk
        fastsql.insert(rows)  # bulk_create's rows, with the statement built once
