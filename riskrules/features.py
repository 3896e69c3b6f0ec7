"""Feature resolution (特征解析): every variable a version reads is resolved in Python before evaluation.

Sources, in the order they are tried for each catalogue variable:

* ``application``: the caller's inputs only.
* ``customer``: the Customer of the subject (age from ``parse_id_number`` on the decision date,
  occupation, monthly income in fen, KYC status, active consent to credit reports, years with the bank);
  without a customer, the caller's inputs (``age`` also from an ``id_number`` input).
* ``list``: black/white/grey list lookups by blind index of the customer's ID number and mobile, and of
  ``id_number`` / ``mobile`` / ``device_id`` / ``business_licence`` inputs. Never taken from inputs: a
  caller cannot declare itself off the black list. No identifier at all → missing.
* ``internal``: a provider registered by another app at runtime
  (``register_provider("current_overdue_count", func)``); without a provider, the caller's inputs.
* ``derived``: a ZEN expression over other resolved variables (compiled once per process).

A value still missing follows the variable's missing-value policy: ``default`` substitutes the default,
``refer`` evaluates without it and forces the outcome to manual review with a reason, ``required``
skips evaluation and refers. Nothing missing is ever silently approved.
"""

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import zen
from django.core.exceptions import ValidationError

from jikuai.core import crypto, fastsql
from jikuai.core.exceptions import ApplicationError
from jikuai.core.idnumber import normalise_id_number, parse_id_number, parse_mobile
from jikuai.core.money import yuan_to_fen
from riskrules.catalogue import InputTypeError, VariableSpec, coerce

logger = logging.getLogger(__name__)

IDENTIFIER_INPUTS = ("id_number", "mobile", "device_id", "business_licence")
ID_NUMBER_PURPOSE = "customers.id_number"  # same purposes as jikuai.customers.services.id_number_index / mobile_index
MOBILE_PURPOSE = "customers.mobile"
DEVICE_PURPOSE = "riskrules.device"
LICENCE_PURPOSE = "riskrules.business_licence"


@dataclass(frozen=True)
class Subject:
    """What a decision is about: ``kind`` in application / customer / loan / merchant / credit_line,
    its id, and where known the customer and institution."""

    kind: str
    id: str
    customer_id: int | None = None
    institution_id: int | None = None


@dataclass(frozen=True)
class FeatureContext:
    """What a provider receives. ``inputs`` is read-only."""

    subject: Subject
    institution_id: int | None
    customer_id: int | None
    decision_date: dt.date
    inputs: Mapping


Provider = Callable[[FeatureContext], object]
_providers: dict[str, Provider] = {}
_providers_lock = threading.Lock()


def register_provider(name: str, func: Provider) -> None:
    """Register (or replace) the provider of internal data ``name`` (a variable's ``source_key``).

    ``func(context: FeatureContext)`` returns the value (integer fen for money) or None when it has no
    data for the subject. Called once per decision that needs the variable; exceptions count as missing.
    """
    with _providers_lock:
        _providers[name] = func


def unregister_provider(name: str) -> None:
    with _providers_lock:
        _providers.pop(name, None)


def registered_providers() -> dict[str, Provider]:
    return dict(_providers)


# --- identifiers -> blind indexes ---------------------------------------------------------------


def id_number_index(value: str) -> str:
    return crypto.blind_index(normalise_id_number(value), purpose=ID_NUMBER_PURPOSE)


def mobile_index(value: str) -> str:
    return crypto.blind_index(value, purpose=MOBILE_PURPOSE)


def key_index(key_type: str, value: str) -> str:
    """Blind index of a list key, normalised the way the customer indexes are."""
    if key_type == "id_number":
        return id_number_index(parse_id_number(value).number)
    if key_type == "mobile":
        return mobile_index(parse_mobile(value))
    normalised = "".join((value or "").split()).upper()
    if not normalised:
        raise ValidationError("键值不能为空。", code="key_required")
    return crypto.blind_index(normalised, purpose=DEVICE_PURPOSE if key_type == "device" else LICENCE_PURPOSE)


def identifier_indexes(inputs: Mapping, customer=None) -> set[str]:
    """Blind indexes to look up in the lists for a subject. Bad identifiers raise InputTypeError."""
    indexes = set()
    if customer is not None:
        indexes.add(customer.id_number_index)
        indexes.add(customer.mobile_index)
    for name, key_type in (
        ("id_number", "id_number"),
        ("mobile", "mobile"),
        ("device_id", "device"),
        ("business_licence", "business_licence"),
    ):
        value = inputs.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise InputTypeError(f"{name} 须为文本。", f"{name} must be a string", extra={"field": name})
        try:
            indexes.add(key_index(key_type, value))
        except ValidationError as exc:
            raise InputTypeError("；".join(exc.messages), f"invalid {name}", extra={"field": name}) from None
    return indexes


# --- customer fields ----------------------------------------------------------------------------


def _years_between(start: dt.date, end: dt.date) -> int:
    years = end.year - start.year
    if (end.month, end.day) < (start.month, start.day):
        years -= 1
    return max(years, 0)


def _customer_age(customer, day: dt.date):
    try:
        return parse_id_number(customer.id_number).age_on(day)
    except ValidationError:
        return None


CUSTOMER_FIELDS: dict[str, Callable] = {
    "age": lambda c, ctx, pre: _customer_age(c, ctx.decision_date),
    "gender": lambda c, ctx, pre: c.gender,
    "occupation": lambda c, ctx, pre: c.occupation,
    "monthly_income_fen": lambda c, ctx, pre: yuan_to_fen(c.monthly_income),
    "kyc_verified": lambda c, ctx, pre: c.kyc_status == "verified",
    "credit_consent": lambda c, ctx, pre: c.pk in pre.credit_consents,
    "years_with_bank": lambda c, ctx, pre: _years_between(c.created_at.date(), ctx.decision_date),
    "region_code": lambda c, ctx, pre: c.region.code if c.region_id and c.region else "",
}


def _age_from_inputs(inputs: Mapping, day: dt.date):
    number = inputs.get("id_number")
    if not number:
        return None
    try:
        return parse_id_number(number).age_on(day)
    except ValidationError as exc:
        raise InputTypeError("；".join(exc.messages), "invalid id_number", extra={"field": "id_number"}) from None


# --- prefetched data for one or many subjects -------------------------------------------------


@dataclass
class Prefetch:
    """Data loaded in bulk for a batch of subjects (one query per kind, whatever the batch size)."""

    customers: dict = field(default_factory=dict)
    credit_consents: set = field(default_factory=set)
    list_entries: dict = field(default_factory=dict)  # key_index -> [entry tuples]
    list_loaded: bool = False


# only what features read: the other encrypted columns (mobile, address, bank card) are not decrypted
CUSTOMER_COLUMNS = (
    "id",
    "institution",
    "branch",
    "id_number",
    "id_number_index",
    "mobile_index",
    "gender",
    "occupation",
    "monthly_income",
    "kyc_status",
    "created_at",
    "region__code",
)
LIST_FIELDS = ("key_index", "list_kind", "source", "reason_code", "valid_from", "valid_to", "institution_id")
# the customer's own columns of the above, plus what a service deciding for the customer reads
_DECISION_ATTNAMES = (*(c for c in CUSTOMER_COLUMNS if "__" not in c), "region", "account_manager", "name")


@functools.cache
def _customer_sql(vendor: str) -> str:
    """The customer and its region's code; on PostgreSQL also, in the same statement, whether the
    credit-report consent is active and the active list entries on the customer's ID number and mobile
    (what ``prefetch`` would read next, with the same predicates)."""
    from jikuai.customers.models import Consent, Customer, Region
    from riskrules.models import ListEntry

    table, region = Customer._meta.db_table, Region._meta.db_table
    extra = ""
    if vendor == "postgresql":
        entry = ", ".join(f"e.{ListEntry._meta.get_field(name).column}" for name in LIST_FIELDS)
        extra = (
            f', EXISTS (SELECT 1 FROM "{Consent._meta.db_table}" consent WHERE consent.customer_id = "{table}"."id"'  # noqa: S608
            " AND consent.purpose = 'credit_report' AND consent.withdrawn_at IS NULL)"
            f", (SELECT json_agg(json_build_array({entry})) FROM {ListEntry._meta.db_table} e WHERE e.status = 'active'"
            f' AND e.key_index IN ("{table}"."id_number_index", "{table}"."mobile_index"))'
        )
    return (
        f'SELECT {fastsql.columns(Customer, _DECISION_ATTNAMES)}, "{region}"."code"{extra} FROM "{table}"'  # noqa: S608 - names from _meta
        f' LEFT JOIN "{region}" ON "{region}"."id" = "{table}"."region_id"'
        f' WHERE "{table}"."id" = %s AND "{table}"."institution_id" = %s'
    )


@dataclass(frozen=True)
class _Prefetched:
    """Read with the customer (PostgreSQL): consent and the list entries on its own identifiers."""

    credit_consent: bool
    list_rows: tuple


def _list_row(values: list) -> tuple:
    key_index, kind, source, reason, valid_from, valid_to, institution_id = values
    day = dt.date.fromisoformat
    return (key_index, kind, source, reason, valid_from and day(valid_from), valid_to and day(valid_to), institution_id)


@functools.cache
def _consent_sql() -> str:
    from jikuai.customers.models import Consent

    table = Consent._meta.db_table
    return f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE customer_id = %s AND purpose = %s AND withdrawn_at IS NULL)'  # noqa: S608


@functools.lru_cache(maxsize=32)
def _list_sql(keys: int) -> str:
    from riskrules.models import ListEntry

    return (
        f"SELECT {', '.join(ListEntry._meta.get_field(name).column for name in LIST_FIELDS)}"  # noqa: S608 - names from _meta
        f" FROM {ListEntry._meta.db_table}"
        f" WHERE status = %s AND key_index IN ({', '.join(['%s'] * keys)})"
    )


def customer_for_decision(customer_id: int, institution_id: int):
    """The customer as decisions read it (the columns above, the region's code with it; the other
    columns — the encrypted mobile, address and bank card among them — load only if touched), or None
    when the institution has no such customer. One statement, built once: the integrator's apply. On
    PostgreSQL it also brings the customer's consent and list entries, which a decision given this
    customer then does not read again (``prefetch``)."""
    from jikuai.customers.models import Customer, Region

    with fastsql.cursor() as cursor:
        cursor.execute(_customer_sql(cursor.db.vendor), [customer_id, institution_id])
        row = cursor.fetchone()
    if row is None:
        return None
    (customer,) = fastsql.instances(Customer, _DECISION_ATTNAMES, [row])
    width = len(_DECISION_ATTNAMES)
    if customer.region_id is not None:
        region = Region.from_db("default", ["id", "code"], [customer.region_id, row[width]])
        Customer.region.field.set_cached_value(customer, region)
    if len(row) > width + 1:
        consent, entries = row[width + 1], row[width + 2]
        customer._decision_prefetch = _Prefetched(bool(consent), tuple(_list_row(e) for e in entries or ()))
    return customer


def prefetch(
    items: list[tuple[Subject, Mapping]],
    *,
    needs_customer: bool,
    needs_consent: bool,
    needs_lists: bool,
    customers: dict | None = None,
) -> Prefetch:
    from jikuai.customers.models import Consent, Customer

    data = Prefetch()
    customer_ids = {subject.customer_id for subject, _ in items if subject.customer_id}
    if customers is not None:
        data.customers = customers
    elif customer_ids and (needs_customer or needs_lists):
        data.customers = {
            c.pk: c for c in Customer.objects.filter(pk__in=customer_ids).select_related("region").only(*CUSTOMER_COLUMNS)
        }
    ready = _prefetched_with_customer(items, data.customers) if len(customer_ids) == 1 else None
    if ready is not None and (needs_consent or needs_lists):  # read with the customer (customer_for_decision)
        (only,) = customer_ids
        del data.customers[only]._decision_prefetch  # for this decision only: a later one reads afresh
        if needs_consent and ready.credit_consent:
            data.credit_consents = {only}
        if needs_lists:
            for row in ready.list_rows:
                data.list_entries.setdefault(row[0], []).append(row)
            data.list_loaded = True
        return data
    if needs_consent and len(customer_ids) == 1:
        (only,) = customer_ids
        with fastsql.cursor() as cursor:  # customers.services.consent_is_active, the statement built once
            cursor.execute(_consent_sql(), [only, "credit_report"])
            data.credit_consents = {only} if cursor.fetchone()[0] else set()
    elif needs_consent and customer_ids:
        # the same predicate as customers.services.consent_is_active, for a whole batch in one query
        data.credit_consents = set(
            Consent.objects.filter(customer_id__in=customer_ids, purpose="credit_report", withdrawn_at__isnull=True).values_list(
                "customer_id", flat=True
            )
        )
    if needs_lists:
        indexes = set()
        for subject, inputs in items:
            indexes |= identifier_indexes(inputs, data.customers.get(subject.customer_id))
        if indexes:
            with fastsql.cursor() as cursor:  # ListEntry.objects.filter(status="active", key_index__in=…)
                cursor.execute(_list_sql(len(indexes)), ["active", *sorted(indexes)])
                for row in cursor.fetchall():
                    data.list_entries.setdefault(row[0], []).append(row)
        data.list_loaded = True
    return data


def _prefetched_with_customer(items, customers: dict):
    """The consent and list rows read with the subject's customer, if they cover every identifier the
    lists would be searched on (inputs may add a device or a business licence: then read as usual)."""
    ((subject, inputs),) = items if len(items) == 1 else ((None, None),)
    customer = customers.get(subject.customer_id) if subject is not None else None
    ready = getattr(customer, "_decision_prefetch", None)
    if ready is None:
        return None
    own = {customer.id_number_index, customer.mobile_index}
    return ready if identifier_indexes(inputs, customer) <= own else None


# --- derived expressions ------------------------------------------------------------------------

_compiled_expressions: dict[str, object] = {}


def _compiled(expression: str):
    compiled = _compiled_expressions.get(expression)
    if compiled is None:
        compiled = zen.compile_expression(expression)
        _compiled_expressions[expression] = compiled
    return compiled


@dataclass
class Resolution:
    values: dict  # what ZEN receives (only the version's input variables)
    missing: list  # [{"code", "policy", "label"}]
    sources: dict  # code -> where the value came from
    notes: list


class ResolutionError(ApplicationError):
    code = "feature_resolution_failed"


def resolve(
    *,
    codes: list[str],
    catalogue: dict[str, VariableSpec],
    subject: Subject,
    inputs: Mapping,
    decision_date: dt.date,
    institution_id: int | None,
    pre: Prefetch,
) -> Resolution:
    """Resolve ``codes`` for one subject; raises InputTypeError on a supplied value of the wrong type."""
    customer = pre.customers.get(subject.customer_id) if subject.customer_id else None
    ctx = FeatureContext(
        subject=subject,
        institution_id=institution_id,
        customer_id=subject.customer_id,
        decision_date=decision_date,
        inputs=MappingProxyType(dict(inputs)),
    )
    raw: dict[str, object] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []
    resolving: set[str] = set()
    list_hits_cache: dict[str, list] = {}

    def list_rows() -> list | None:
        if "rows" in list_hits_cache:
            return list_hits_cache["rows"]
        indexes = identifier_indexes(inputs, customer)
        if not indexes:
            list_hits_cache["rows"] = None
            return None
        rows = []
        for index in indexes:
            for row in pre.list_entries.get(index, ()):
                _key, _kind, _source, _reason, valid_from, valid_to, entry_institution = row
                if valid_from > decision_date or (valid_to is not None and valid_to < decision_date):
                    continue
                if entry_institution is not None and entry_institution != institution_id:
                    continue
                rows.append(row)
        list_hits_cache["rows"] = rows
        return rows

    def value_of(code: str):
        if code in raw:
            return raw[code]
        spec = catalogue.get(code)
        if spec is None:
            raise ResolutionError(f"变量“{code}”不在变量目录中。", f"unknown variable {code}", extra={"field": code})
        if code in resolving:
            raise ResolutionError(f"派生变量“{code}”循环依赖。", f"derived variable {code} depends on itself")
        resolving.add(code)
        try:
            value, source = _resolve_one(spec)
        finally:
            resolving.discard(code)
        value = coerce(spec, value)
        if value is None:
            if spec.missing_policy == "default" and spec.default_value is not None:
                value = coerce(spec, spec.default_value)
                source = "default"
        raw[code] = value
        sources[code] = source if value is not None else "missing"
        return value

    def _resolve_one(spec: VariableSpec):
        code = spec.code
        if code == "decision_date":
            return decision_date.isoformat(), "decision_date"
        if spec.source == "application" or spec.source == "output":
            return inputs.get(code), "input"
        if spec.source == "customer":
            key = spec.source_key or code
            if customer is not None and key in CUSTOMER_FIELDS:
                return CUSTOMER_FIELDS[key](customer, ctx, pre), "customer"
            if key == "age" and inputs.get(code) is None:
                return _age_from_inputs(inputs, decision_date), "id_number"
            return inputs.get(code), "input"
        if spec.source == "list":
            rows = list_rows()
            if rows is None:
                return None, "list"
            kind, _, list_source = (spec.source_key or "black").partition(":")
            matched = [r for r in rows if r[1] == kind and (not list_source or r[2] == list_source)]
            if spec.type == "list":
                return sorted({r[3] for r in matched}), "list"
            return bool(matched), "list"
        if spec.source == "internal":
            name = spec.source_key or code
            provider = _providers.get(name)
            if provider is not None:
                try:
                    return provider(ctx), f"provider:{name}"
                except Exception:  # a failing provider counts as missing data, never as a pass
                    logger.exception("riskrules: provider %s failed", name)
                    notes.append(f"provider {name} failed")
                    return None, f"provider:{name}"
            return inputs.get(code), "input"
        if spec.source == "derived":
            context = {}
            from riskrules.guardrails import referenced_names

            for name in referenced_names(spec.expression):
                root = name.split(".", 1)[0]
                dependency = value_of(root)
                if dependency is None:
                    return None, "derived"
                context[root] = dependency
            try:
                result = _compiled(spec.expression).evaluate(context)
            except Exception:
                notes.append(f"derived {spec.code} failed")
                return None, "derived"
            if isinstance(result, float) and spec.type in ("integer", "fen"):
                result = int(result) if result.is_integer() else round(result)
            return result, "derived"
        return inputs.get(code), "input"

    values: dict[str, object] = {}
    missing: list[dict] = []
    for code in codes:
        value = value_of(code)
        spec = catalogue[code]
        if value is None:
            policy = spec.missing_policy if spec.missing_policy != "default" else "refer"
            missing.append({"code": code, "policy": policy, "label": spec.label})
        else:
            values[code] = value
    return Resolution(values=values, missing=missing, sources={c: sources.get(c, "") for c in codes}, notes=notes)


def apply_missing_policies(values: Mapping, codes: list[str], catalogue: dict[str, VariableSpec]) -> tuple[dict, list]:
    """For test cases and uploaded simulation rows (already-resolved values): coerce the given values and
    apply defaults / missing flags exactly as ``resolve`` does."""
    result: dict[str, object] = {}
    missing: list[dict] = []
    for code in codes:
        spec = catalogue.get(code)
        if spec is None:
            raise ResolutionError(f"变量“{code}”不在变量目录中。", f"unknown variable {code}", extra={"field": code})
        value = coerce(spec, values.get(code))
        if value is None and spec.missing_policy == "default" and spec.default_value is not None:
            value = coerce(spec, spec.default_value)
        if value is None:
            missing.append(
                {
                    "code": code,
                    "policy": spec.missing_policy if spec.missing_policy != "default" else "refer",
                    "label": spec.label,
                }
            )
        else:
            result[code] = value
    return result, missing


# --- built-in provider: LPR from the riskrules table ---------------------------------------------

_lpr_cache: dict[str, object] = {"rows": None, "at": 0.0}
LPR_CACHE_SECONDS = 60


def clear_caches() -> None:
    _lpr_cache["rows"] = None
    _compiled_expressions.clear()


def _lpr_rows():
    now = time.monotonic()
    if _lpr_cache["rows"] is None or now - float(_lpr_cache["at"]) > LPR_CACHE_SECONDS:
        from riskrules.models import LprRate

        _lpr_cache["rows"] = list(LprRate.objects.order_by("-effective_date").values_list("effective_date", "one_year_bp"))
        _lpr_cache["at"] = now
    return _lpr_cache["rows"]


def lpr_1y_bp_provider(ctx: FeatureContext):
    """The 1-year LPR (basis points) effective on the decision date, from ``riskrules.LprRate``."""
    for effective_date, one_year_bp in _lpr_rows():
        if effective_date <= ctx.decision_date:
            return one_year_bp
    return None


def register_builtin_providers() -> None:
    if "lpr_1y_bp" not in _providers:
        register_provider("lpr_1y_bp", lpr_1y_bp_provider)
