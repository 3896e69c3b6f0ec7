"""SQL for hot paths (the integrator's apply): statements built once instead of once per call.

Writes.

``Model.save()`` and ``bulk_create()`` compile their INSERT afresh every time (about 0.2–0.4 ms of
Python per statement, most of an apply request's ORM time). ``insert(objs)`` writes unsaved instances of
one model with a statement kept per (model, columns, row count); values are prepared by each field
exactly as the ORM prepares them (``pre_save`` — so ``auto_now`` / ``auto_now_add`` fill in — then
``get_db_prep_save``), the primary key comes back through ``RETURNING`` and the instances are marked as
saved. No ``pre_save``/``post_save`` signals are sent (like ``bulk_create``): use it for models whose
saves have no receivers, or write what a receiver would write yourself — ``insert_with_history`` writes
the django-simple-history row that ``post_save`` would have written.

Only plain inserts: no ``db_default`` / database-computed columns, no multi-table inheritance.

Reads. ``columns(model, attnames)`` gives the quoted column list for hand-written SELECTs and
``instances(model, attnames, rows)`` turns their rows into model instances the way the ORM does (each
field's ``from_db_value`` — decryption included — then ``Model.from_db``; the other fields are deferred
and load on first access, as with ``only()``).
"""

import functools
from collections.abc import Sequence

import psycopg
from django.conf import settings
from django.db import connections
from django.db.models import Model
from django.db.models.fields import AutoFieldMixin
from django.utils import timezone
from psycopg import _queries as _psycopg_queries


def cursor(using: str = "default"):
    """A cursor for these statements. On PostgreSQL it binds parameters on the server (Django's own
    cursor quotes every parameter into the SQL text in Python) and prepares each statement of up to
    1,000 parameters on its connection, so PostgreSQL plans it once per connection: planning the customer
    read with its subqueries took longer than running it (PostgreSQL's CPU per apply 3.2 → 2.2 ms,
    variants alternating). Larger one-off statements (a simulation's 500-row batch) are not prepared.
    ``DB_PREPARED_STATEMENTS=false`` turns preparing off (Django prepares nothing; a transaction-pooling
    PgBouncer older than 1.21 cannot keep prepared statements). Errors still come out as Django's
    (``IntegrityError`` …) and the statements are still logged where queries are."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:  # Django disables preparing; only statements asked to are prepared
        raw.prepare_threshold = 2**31
    return connection._prepare_cursor(_Cursor(raw))


_KEEP_MAX = 1000  # parameters: statements up to this size are few and repeat (parse kept, prepared)


class _KeptQuery(_psycopg_queries.PostgresQuery):
    """psycopg parses a statement's placeholders once and keeps the result, but not for statements over
    50 parameters or 4 KB (an ORM's ever-changing multi-row inserts would crowd its cache). These
    statements are few and built once (the application with its history and logs is one of ~100
    parameters), so theirs is kept up to ``_KEEP_MAX`` parameters: re-parsing it cost ≈ 0.6 ms per apply."""

    def convert(self, query, vars) -> None:
        if vars is None or not isinstance(query, str | bytes) or len(vars) > _KEEP_MAX:
            return super().convert(query, vars)
        query = self._ensure_bytes(query)
        self.query, self._want_formats, self._order, self._parts = _psycopg_queries._query2pg(query, self._tx.encoding)
        self.dump(vars)
        return None


class _Cursor(psycopg.Cursor):
    _query_cls = _KeptQuery

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if prepare is None:
            prepare = bool(settings.DB_PREPARED_STATEMENTS) and (params is None or len(params) <= _KEEP_MAX)
        return super().execute(query, params, prepare=prepare, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        self._query = pgq  # psycopg keeps it for unprepared statements only; Django's query log reads it
        return super()._send_query_prepared(name, pgq, binary=binary)


@functools.cache
def _plan(model: type[Model], with_pk: bool) -> tuple[tuple, str, str, str]:
    """(fields, table, column list, RETURNING clause) for ``model``; ``with_pk``: the pk is given."""
    opts = model._meta
    if opts.parents:
        raise TypeError(f"fastsql.insert: {opts.label} uses multi-table inheritance")
    fields = tuple(
        field for field in opts.local_concrete_fields if with_pk or not (field.primary_key and isinstance(field, AutoFieldMixin))
    )
    for field in fields:
        if field.has_db_default():
            raise TypeError(f"fastsql.insert: {opts.label}.{field.name} has a database default")
    qn = connections["default"].ops.quote_name
    columns = ", ".join(qn(field.column) for field in fields)
    returning = "" if with_pk else f" RETURNING {qn(opts.pk.column)}"
    return fields, qn(opts.db_table), columns, returning


@functools.lru_cache(maxsize=256)
def _sql(model: type[Model], with_pk: bool, rows: int) -> str:
    fields, table, columns, returning = _plan(model, with_pk)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)}{returning}"  # noqa: S608 - names from _meta


def insert(objs: Sequence[Model], *, using: str = "default", batch_size: int = 500) -> None:
    """Insert unsaved instances of one model (pk set on all or on none); sets their pks."""
    if not objs:
        return
    model = type(objs[0])
    with_pk = objs[0].pk is not None
    if any(type(obj) is not model or (obj.pk is not None) != with_pk for obj in objs):
        raise TypeError("fastsql.insert: one model per call, and the pk given on all rows or on none")
    connection = connections[using]
    fields = _plan(model, with_pk)[0]
    pk_attname = model._meta.pk.attname
    with cursor(using) as db:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start : start + batch_size]
            params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in chunk for field in fields]
            db.execute(_sql(model, with_pk, len(chunk)), params)
            if not with_pk:
                for obj, (pk,) in zip(chunk, db.fetchall(), strict=True):
                    setattr(obj, pk_attname, pk)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


def _history_model(model: type[Model]) -> type[Model]:
    history_model = model.__dict__[model._meta.simple_history_manager_attribute].model
    if getattr(history_model, "history_relation", None) is not None or getattr(history_model, "_history_m2m_fields", None):
        raise TypeError(f"fastsql.history_row: {model._meta.label} keeps m2m history or history_relation")
    return history_model


def _history_extras(instance: Model, history_type: str) -> dict:
    """The values of a history row that are not copied from the instance: date, type, user, reason."""
    from simple_history.models import HistoricalRecords
    from simple_history.utils import get_change_reason_from_object

    try:
        user = instance._history_user
    except AttributeError:
        request = getattr(HistoricalRecords.context, "request", None)
        user = getattr(request, "user", None)
        if user is not None and not user.is_authenticated:
            user = None
    return {
        "history_date": getattr(instance, "_history_date", None) or timezone.now(),
        "history_type": history_type,
        "history_user": user,
        "history_change_reason": get_change_reason_from_object(instance),
    }


def history_row(instance: Model, history_type: str = "+"):
    """The django-simple-history row that saving ``instance`` would create, unsaved: the tracked fields,
    history date, type, user and change reason as ``HistoricalRecords.create_historical_record`` fills
    them (the user: ``instance._history_user``, else the signed-in user of the current request, as the
    default ``get_user`` does). Models with m2m history or ``history_relation`` are refused."""
    history_model = _history_model(type(instance))
    values = {field.attname: getattr(instance, field.attname) for field in history_model.tracked_fields}
    return history_model(**_history_extras(instance, history_type), **values)


def insert_with_history(objs: Sequence[Model], *, children: tuple = (), using: str = "default") -> None:
    """``insert`` plus the ``+`` history row of each instance, as ``save()`` would write them.

    ``children``: ``(rows, attname)`` pairs — unsaved rows of other models whose ``attname`` is to hold
    the new primary key (the transition logs of a new application), written with it; ``"field.key"``
    puts it under ``key`` of a JSON field instead (the application id in its decided event's payload). On PostgreSQL one
    instance, its history row and the children are one statement; otherwise one statement per model."""
    objs = list(objs)
    connection = connections[using]
    if len(objs) == 1 and connection.vendor == "postgresql" and objs[0].pk is None:
        _insert_tree(objs[0], children, connection, using)
        return
    insert(objs, using=using)
    insert([history_row(obj, "+") for obj in objs], using=using)
    for rows, attname in children:
        for row in rows:
            _assign(row, attname, objs[0].pk)
        insert(rows, using=using)


def _assign(row: Model, spec: str, pk) -> None:
    field, _, key = spec.partition(".")
    if key:
        getattr(row, field)[key] = pk
    else:
        setattr(row, field, pk)


def _insert_tree(obj: Model, children: tuple, connection, using: str) -> None:
    model = type(obj)
    params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in _plan(model, False)[0]]
    history_model = _history_model(model)
    shape = tuple((type(rows[0]), attname, len(rows)) for rows, attname in children if rows)
    sql, history_own = _tree_sql(model, history_model, shape)
    # the history row copies the inserted row's columns in the statement itself (after pre_save, as
    # simple_history copies the saved instance); only its own columns are sent: date, type, user, reason
    extras = _history_extras(obj, "+")
    for field in history_own:
        value = extras[field.name] if field.name in extras else field.get_default()
        if field.is_relation and isinstance(value, Model):
            value = value.pk
        params.append(field.get_db_prep_save(value, connection))
    for rows, attname in children:
        fields = [field for field in _plan(type(rows[0]), False)[0] if field.attname != attname] if rows else []
        params += [field.get_db_prep_save(field.pre_save(row, True), connection) for row in rows for field in fields]
    with cursor(using) as db:
        db.execute(sql, params)
        (pk,) = db.fetchone()
    setattr(obj, model._meta.pk.attname, pk)
    for instance in [obj, *(row for rows, _ in children for row in rows)]:
        instance._state.adding = False
        instance._state.db = using
    for rows, attname in children:
        for row in rows:
            _assign(row, attname, pk)


@functools.lru_cache(maxsize=64)
def _tree_sql(model: type[Model], history_model: type[Model], shape: tuple) -> tuple[str, tuple]:
    """WITH parent AS (INSERT … RETURNING …), its history row (the tracked columns copied from the
    parent's RETURNING) and children selected from it. Returns the SQL and the history fields that are
    parameters (in order)."""
    connection = connections["default"]
    qn = connection.ops.quote_name
    fields, table, columns, _returning = _plan(model, False)
    pk = qn(model._meta.pk.column)

    def selected(target: type[Model], spec: str, rows: int) -> str:
        tfields, ttable, tcolumns, _ = _plan(target, False)
        json_field, _, key = spec.partition(".")

        def expr(field) -> str:
            if field.attname == spec:
                return f"r.{pk}"
            if key and field.attname == json_field:  # the key is a plain name: checked below
                return f"jsonb_set(%s::jsonb, '{{{key}}}', to_jsonb(r.{pk}))"
            return f"%s::{field.cast_db_type(connection)}"

        if key and not key.isidentifier():
            raise ValueError(f"fastsql: a JSON key must be a plain name, not {key!r}")
        exprs = ", ".join(expr(field) for field in tfields)
        selects = " UNION ALL ".join([f"SELECT {exprs} FROM r"] * rows)  # noqa: S608 - names from _meta
        return f"INSERT INTO {ttable} ({tcolumns}) {selects}"

    # a tracked field is copied when the history column has the parent's column name and database type
    parent_types = {field.column: field.db_type(connection) for field in model._meta.concrete_fields}
    tracked = {field.attname for field in history_model.tracked_fields}
    hfields, htable, hcolumns, _ = _plan(history_model, False)
    copied, own, exprs = [], [], []
    for field in hfields:
        if field.attname in tracked and parent_types.get(field.column) == field.db_type(connection):
            copied.append(qn(field.column))
            exprs.append(f"r.{qn(field.column)}")
        else:
            own.append(field)
            exprs.append(f"%s::{field.cast_db_type(connection)}")
    returned = ", ".join(dict.fromkeys([pk, *copied]))
    history = f"INSERT INTO {htable} ({hcolumns}) SELECT {', '.join(exprs)} FROM r"  # noqa: S608 - names from _meta
    parts = [f"r AS (INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {returned})"]  # noqa: S608
    parts.append(f"h AS ({history})")
    parts += [f"c{n} AS ({selected(child, attname, rows)})" for n, (child, attname, rows) in enumerate(shape)]
    return f"WITH {', '.join(parts)} SELECT {pk} FROM r", tuple(own)  # noqa: S608 - names from _meta, values bound


@functools.cache
def _read_plan(model: type[Model], attnames: tuple[str, ...]):
    connection = connections["default"]
    order = {field.attname: index for index, field in enumerate(model._meta.concrete_fields)}
    fields = sorted((model._meta.get_field(name) for name in attnames), key=lambda field: order[field.attname])
    qn = connection.ops.quote_name
    columns = ", ".join(f"{qn(model._meta.db_table)}.{qn(field.column)}" for field in fields)
    converters = [
        (index, field.get_db_converters(connection) + connection.ops.get_db_converters(field.cached_col))
        for index, field in enumerate(fields)
    ]
    return columns, [(index, funcs) for index, funcs in converters if funcs], fields


def columns(model: type[Model], attnames: tuple[str, ...]) -> str:
    """``"table"."col", …`` for ``attnames`` (field names or attnames) in the model's field order — the
    order ``instances`` reads them in; select any extra expressions after them."""
    return _read_plan(model, attnames)[0]


def instances(model: type[Model], attnames: tuple[str, ...], rows, *, using: str = "default") -> list:
    """Model instances from rows that start with ``columns(model, attnames)`` (the pk among them)."""
    _columns, converters, fields = _read_plan(model, attnames)
    connection = connections[using]
    names = [field.attname for field in fields]
    result = []
    for row in rows:
        values = list(row[: len(fields)])
        for index, funcs in converters:
            for func in funcs:
                values[index] = func(values[index], fields[index].cached_col, connection)
        result.append(model.from_db(using, names, values))
    return result
