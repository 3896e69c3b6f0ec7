"""riskrules facade: the only entry point other apps use (lending imports this module, nothing else).

Stable API
----------

``decide(ruleset_code, subject, inputs, *, channel="default") -> Decision``
    Evaluate the rule set deployed for the subject's institution (an institution's own rule set with
    that code wins over the province-wide one) on ``channel`` (falls back to "default").

    * ``subject``: ``Subject(kind, id, customer_id=None, institution_id=None)`` (or a mapping with those
      keys); ``kind`` is one of
      application, customer, loan, merchant, credit_line, household. With ``customer_id`` the customer's
      fields (age from the ID number on the decision date, occupation, monthly income, KYC, credit-report
      consent, years with the bank) and list hits are resolved by riskrules itself.
    * ``inputs``: a JSON-like mapping of catalogue variables (money as **integer fen**, e.g.
      ``requested_amount_fen``; dates as ``"YYYY-MM-DD"``), plus identifiers for list lookups
      (``id_number``, ``mobile``, ``device_id``, ``business_licence``, never stored). ``decision_date``
      defaults to the business date. Rules never read the clock.
    * Missing data is never a silent approval: see ``docs/riskrules.md`` (missing-value policies).
    * The decision record is written in the caller's transaction: call it inside the
      ``transaction.atomic()`` of the business change it causes.
    * Raises ``jikuai.core.exceptions.ApplicationError`` subclasses: ``NotFound`` (rule set not
      deployed, unknown customer) and ``invalid_input`` (a value of the wrong type).

``decide_many(ruleset_code, items, *, channel="default") -> list[Decision]``
    The same for many ``(subject, inputs)`` pairs with bulk loading and one bulk insert (nightly jobs).

``list_hits(*, institution_id=None, customer_id=None, id_number=None, mobile=None, device_id=None,
business_licence=None, on_date=None, kinds=("black", "white", "grey")) -> list[ListHit]``
    Active black/white/grey list entries matching any identifier (re-check at every drawdown).

``customer_for_decision(customer_id, institution_id)``
    The customer with the columns decisions read (one prebuilt statement; other columns load if touched),
    or None when the institution has no such customer. Pass it as ``customer`` to ``decide``.

``register_provider(name, func)``
    Register internal data (current overdue count, outstanding debt, white-list limit…) for the
    variables whose ``source_key`` is ``name``; ``func(FeatureContext)`` returns the value or None.

``Decision`` fields: decision_id, outcome (approve / reject / refer, a grade for rating rule sets,
normal / watch / alert for early warning), outputs (the rule outputs, money in fen), reasons (tuple of
(code, Chinese text)), grade, amount (Decimal yuan or None), rate (Decimal annual rate, e.g.
Decimal("0.042000"), or None), version_id, version_hash, arm (champion / challenger), mode (live).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from riskrules.features import FeatureContext, Subject, customer_for_decision, register_provider, unregister_provider
from riskrules.services.lists import ListHit


@dataclass(frozen=True)
class Decision:
    decision_id: int
    outcome: str
    outputs: Mapping
    reasons: tuple
    grade: str | None
    amount: Decimal | None
    rate: Decimal | None
    version_id: int
    version_hash: str
    arm: str
    mode: str

    @property
    def approved(self) -> bool:
        return self.outcome == "approve"

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.reasons)


def _freeze(value):
    if isinstance(value, dict):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


def to_decision(record) -> Decision:
    return Decision(
        decision_id=record.pk,
        outcome=record.outcome,
        outputs=_freeze(record.outputs),
        reasons=tuple((code, text) for code, text in record.reasons),
        grade=record.grade or None,
        amount=record.amount,
        rate=record.rate,
        version_id=record.version_id,
        version_hash=record.version_hash,
        arm=str(record.arm),
        mode=str(record.mode),
    )


def as_subject(subject) -> Subject:
    """Accept a ``Subject`` or a mapping ``{"kind", "id", "customer_id"?, "institution_id"?}``."""
    if isinstance(subject, Subject):
        return subject
    if isinstance(subject, Mapping):
        return Subject(
            kind=str(subject.get("kind", "")),
            id=str(subject.get("id", "")),
            customer_id=subject.get("customer_id"),
            institution_id=subject.get("institution_id"),
        )
    return subject  # rejected with a clear error by the service


def decide(ruleset_code: str, subject: Subject, inputs: Mapping, *, channel: str = "default", customer=None) -> Decision:
    """``customer``: the subject's customer when the caller has already loaded it (all columns, with its
    region), which saves reading it again; ignored unless its id is the subject's ``customer_id``."""
    from riskrules.services.decisions import decision_make

    record = decision_make(
        ruleset_code=ruleset_code,
        subject=as_subject(subject),
        inputs=inputs,
        channel=channel,
        source="facade",
        customer=customer,
    )
    return to_decision(record)


def decide_many(ruleset_code: str, items, *, channel: str = "default") -> list[Decision]:
    from riskrules.services.decisions import decision_make_batch

    items = [(as_subject(subject), inputs) for subject, inputs in items]
    records = decision_make_batch(ruleset_code=ruleset_code, items=items, channel=channel, source="facade")
    return [to_decision(record) for record in records]


def list_hits(
    *,
    institution_id: int | None = None,
    customer_id: int | None = None,
    id_number: str | None = None,
    mobile: str | None = None,
    device_id: str | None = None,
    business_licence: str | None = None,
    on_date=None,
    kinds: tuple[str, ...] = ("black", "white", "grey"),
) -> list[ListHit]:
    from riskrules.services.lists import list_hits as _list_hits

    return _list_hits(
        institution_id=institution_id,
        customer_id=customer_id,
        id_number=id_number,
        mobile=mobile,
        device_id=device_id,
        business_licence=business_licence,
        on_date=on_date,
        kinds=kinds,
    )


__all__ = [
    "Decision",
    "FeatureContext",
    "ListHit",
    "Subject",
    "customer_for_decision",
    "decide",
    "decide_many",
    "list_hits",
    "register_provider",
    "unregister_provider",
]
