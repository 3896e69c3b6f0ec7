"""Decisions end to end: feature resolution (customer, lists, providers), missing-value policies, bad
inputs, money types, replay, append-only records, champion/challenger."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from jikuai.core.exceptions import ApplicationError, NotFound
from jikuai.core.idnumber import parse_id_number
from riskrules import facade
from riskrules.catalogue import InputTypeError
from riskrules.facade import Subject
from riskrules.models import DecisionRecord, Deployment, ImmutableRecordError, RuleVersion
from riskrules.services import decisions as decision_services
from riskrules.services import lists as list_services
from riskrules.services import versions as svc
from tests.factories import InstitutionFactory
from tests.riskrules.factories import DAY, farmer_customer, jnkd_inputs, officers

pytestmark = pytest.mark.django_db


def _list(customer_or_id, kind, source, reason, *, institution=None, valid_from=dt.date(2025, 1, 1), valid_to=None, check=True):
    maker, checker = officers()
    key = customer_or_id if isinstance(customer_or_id, str) else customer_or_id.id_number
    entry = list_services.list_entry_create(
        maker=maker,
        list_kind=kind,
        key_type="id_number",
        key_value=key,
        reason_code=reason,
        source=source,
        valid_from=valid_from,
        valid_to=valid_to,
        institution=institution,
    )
    if check:
        list_services.list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
    return entry


def test_seeded_credit_flow_decides_a_real_farmer_end_to_end():
    customer = farmer_customer()
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    with transaction.atomic():
        decision = facade.decide("jnkd_credit", Subject("application", "APP-1", customer_id=customer.pk), jnkd_inputs())
    assert decision.outcome == "approve", decision.reasons
    assert decision.grade == "A"
    assert decision.amount == Decimal("200000.00") and isinstance(decision.amount, Decimal)
    assert decision.arm == "champion" and decision.mode == "live"
    record = DecisionRecord.objects.get(pk=decision.decision_id)
    expected_age = parse_id_number(customer.id_number).age_on(DAY)
    assert record.input_snapshot["age"] == expected_age
    assert record.input_snapshot["on_whitelist"] is True and record.input_snapshot["credit_consent"] is True
    assert record.input_snapshot["kyc_verified"] is True and record.input_snapshot["occupation"] == "farmer"
    assert record.input_snapshot["monthly_income_fen"] == 1_200_000
    assert "id_number" not in record.input_snapshot and customer.id_number not in str(record.explanation)
    assert record.institution_id == customer.institution_id and record.customer_id == customer.pk
    assert record.version_hash == RuleVersion.objects.get(pk=decision.version_id).content_hash
    assert {"rating/sc_age:sc_age_1", "rating/grade:grade_A", "limit/grade_factor:factor_A"} <= set(record.hit_rows)
    assert record.explanation[0]["node"] == "admission" and record.explanation[0]["nodes"]
    assert decision_services.decision_replay(decision_id=record.pk).identical


def test_black_list_entry_keyed_by_id_number_matches_the_customer():
    customer = farmer_customer()
    _list(customer, "black", "court_dishonest", "LIST_COURT")
    decision = facade.decide("jnkd_admission", Subject("application", "APP-2", customer_id=customer.pk), jnkd_inputs())
    assert decision.outcome == "reject"
    assert {"BLACKLISTED", "DISHONEST_DEBTOR"} <= set(decision.reason_codes)
    hits = facade.list_hits(customer_id=customer.pk, on_date=DAY)
    assert [(h.list_kind, h.reason_code, h.province_wide) for h in hits] == [("black", "LIST_COURT", True)]
    assert facade.list_hits(id_number=customer.id_number, on_date=DAY)[0].reason_text == "法院失信被执行人名单"


@pytest.mark.parametrize("variant", ["unchecked", "expired", "future", "other_institution", "revoked"])
def test_list_entries_that_must_not_match(variant):
    customer = farmer_customer()
    if variant == "unchecked":
        _list(customer, "black", "internal_npl", "LIST_NPL", check=False)
    elif variant == "expired":
        _list(customer, "black", "internal_npl", "LIST_NPL", valid_to=dt.date(2025, 6, 1))
    elif variant == "future":
        _list(customer, "black", "internal_npl", "LIST_NPL", valid_from=dt.date(2025, 7, 1))
    elif variant == "other_institution":
        _list(customer, "black", "internal_npl", "LIST_NPL", institution=InstitutionFactory())
    else:
        entry = _list(customer, "black", "internal_npl", "LIST_NPL")
        list_services.list_entry_revoke(entry_id=entry.pk, actor=officers()[0])
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    decision = facade.decide("jnkd_admission", Subject("application", "APP-3", customer_id=customer.pk), jnkd_inputs())
    assert "BLACKLISTED" not in decision.reason_codes
    assert decision.outcome == "approve"
    assert [h.list_kind for h in facade.list_hits(customer_id=customer.pk, on_date=DAY)] == ["white"]


def test_own_institution_entry_matches():
    customer = farmer_customer()
    _list(customer, "grey", "manual", "LIST_MANUAL", institution=customer.institution)
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    decision = facade.decide("jnkd_admission", Subject("application", "APP-4", customer_id=customer.pk), jnkd_inputs())
    assert decision.outcome == "refer" and "GREYLISTED" in decision.reason_codes


def test_missing_internal_data_refers_never_approves():
    customer = farmer_customer()
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    inputs = jnkd_inputs()
    inputs.pop("current_overdue_count")
    decision = facade.decide("jnkd_admission", Subject("application", "APP-5", customer_id=customer.pk), inputs)
    assert decision.outcome == "refer"
    assert ("MISSING_CURRENT_OVERDUE_COUNT", "缺少数据：本行当前逾期笔数，转人工审核") in decision.reasons


def test_missing_required_variable_is_not_evaluated_and_refers():
    inputs = jnkd_inputs()
    decision = facade.decide("jnkd_admission", Subject("application", "APP-6", institution_id=InstitutionFactory().pk), inputs)
    record = DecisionRecord.objects.get(pk=decision.decision_id)
    assert decision.outcome == "refer"
    assert decision.reason_codes[0] == "MISSING_AGE" and "未评估" in decision.reasons[0][1]
    assert record.outputs == {} and record.explanation == []


def test_without_any_identifier_the_lists_cannot_be_checked_so_it_refers():
    inputs = {
        **jnkd_inputs(),
        "age": 40,
        "occupation": "farmer",
        "monthly_income_fen": 900_000,
        "kyc_verified": True,
        "credit_consent": True,
    }
    decision = facade.decide("jnkd_admission", Subject("application", "APP-7"), inputs)
    assert decision.outcome == "refer"
    assert {"MISSING_ON_BLACKLIST", "MISSING_ON_WHITELIST"} <= set(decision.reason_codes)
    # the caller cannot declare itself off the black list
    decision = facade.decide(
        "jnkd_admission", Subject("application", "APP-7b"), {**inputs, "on_blacklist": False, "on_whitelist": True}
    )
    assert "MISSING_ON_BLACKLIST" in decision.reason_codes


def test_providers_supply_internal_data_and_failures_count_as_missing():
    customer = farmer_customer()
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    seen = []

    def overdue(ctx):
        seen.append((ctx.customer_id, ctx.decision_date))
        return 2

    facade.register_provider("current_overdue_count", overdue)
    try:
        decision = facade.decide(
            "jnkd_admission", Subject("application", "APP-8", customer_id=customer.pk), jnkd_inputs(current_overdue_count=0)
        )
        assert decision.outcome == "reject" and "CURRENT_OVERDUE" in decision.reason_codes
        assert seen == [(customer.pk, DAY)]

        def broken(ctx):
            raise RuntimeError("core banking down")

        facade.register_provider("current_overdue_count", broken)
        decision = facade.decide(
            "jnkd_admission", Subject("application", "APP-9", customer_id=customer.pk), jnkd_inputs(current_overdue_count=0)
        )
        assert decision.outcome == "refer" and "MISSING_CURRENT_OVERDUE_COUNT" in decision.reason_codes
    finally:
        facade.unregister_provider("current_overdue_count")


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"monthly_debt_fen": 1000.5}, "monthly_debt_fen"),
        ({"monthly_debt_fen": "12.34"}, "monthly_debt_fen"),
        ({"current_overdue_count": "none"}, "current_overdue_count"),
        ({"id_number": "220182199001011234"}, "id_number"),
        ({"id_number": "220182900101123"}, "id_number"),
        ({"mobile": "12345"}, "mobile"),
        ({"decision_date": "2025-13-01"}, "decision_date"),
        ({"household_appraisal": "superb"}, "household_appraisal"),
    ],
)
def test_bad_inputs_are_refused_and_nothing_is_written(inputs, field):
    customer = farmer_customer()
    before = DecisionRecord.objects.count()
    with pytest.raises(InputTypeError) as info:
        facade.decide("jnkd_credit", Subject("application", "APP-BAD", customer_id=customer.pk), {**jnkd_inputs(), **inputs})
    assert info.value.extra["field"] == field
    assert info.value.message_zh and info.value.message_en
    assert DecisionRecord.objects.count() == before


def test_unknown_rule_set_subject_and_customer():
    with pytest.raises(NotFound):
        facade.decide("no_such_rules", Subject("application", "X"), {})
    with pytest.raises(InputTypeError):
        facade.decide("jnkd_admission", Subject("spaceship", "X"), {})
    with pytest.raises(InputTypeError):
        facade.decide("jnkd_admission", Subject("application", ""), {})
    with pytest.raises(NotFound):
        facade.decide("jnkd_admission", Subject("application", "X", customer_id=999_999_999), {})


def test_pricing_money_leaves_as_decimal_with_the_lpr_of_the_decision_date():
    decision = facade.decide(
        "gxd_pricing",
        Subject("application", "P-1", institution_id=InstitutionFactory().pk),
        {"grade": "A", "decision_date": "2025-06-30"},
    )
    assert decision.outcome == "approve"
    assert decision.outputs["rate_bp"] == 315
    assert decision.rate == Decimal("0.031500")
    earlier = facade.decide("gxd_pricing", Subject("application", "P-2"), {"grade": "B", "decision_date": "2024-12-01"})
    assert earlier.rate == Decimal("0.034500")  # 310 bp + 35 bp


def test_limit_amounts_are_integer_fen_in_and_decimal_yuan_out():
    decision = facade.decide("gxd_limit", Subject("application", "L-1"), {"grade": "B", "monthly_income_fen": 987_654})
    # min(800,000 yuan cap, 9,876.54 × 24) × 0.8 = 189,629.57 → floored to 189,000
    assert decision.amount == Decimal("189000.00")
    assert decision.outputs["amount_fen"] == 18_900_000


def test_decision_is_written_in_the_callers_transaction():
    before = DecisionRecord.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        facade.decide("gxd_limit", Subject("application", "L-2"), {"grade": "A", "monthly_income_fen": 500_000})
        assert DecisionRecord.objects.count() == before + 1
        raise RuntimeError("the business change failed")
    assert DecisionRecord.objects.count() == before


def test_records_are_append_only():
    decision = facade.decide("gxd_limit", Subject("application", "L-3"), {"grade": "A", "monthly_income_fen": 500_000})
    record = DecisionRecord.objects.get(pk=decision.decision_id)
    record.outcome = "approve"
    with pytest.raises(ImmutableRecordError):
        record.save()
    with pytest.raises(ImmutableRecordError):
        record.delete()
    if connection.vendor == "postgresql":
        with pytest.raises(Exception) as info, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE riskrules_decisionrecord SET outcome = 'reject' WHERE id = %s", [record.pk])
        assert "append-only" in str(info.value)


def test_replay_is_identical_for_every_kind_of_outcome():
    customer = farmer_customer()
    _list(customer, "white", "whole_village", "LIST_VILLAGE_CREDIT")
    ids = [
        facade.decide("jnkd_credit", Subject("application", "R-1", customer_id=customer.pk), jnkd_inputs()).decision_id,
        facade.decide(
            "jnkd_rating", Subject("application", "R-2", customer_id=customer.pk), jnkd_inputs(past_overdue_times_24m=2)
        ).decision_id,
        facade.decide(
            "jnkd_admission", Subject("application", "R-3", customer_id=customer.pk), jnkd_inputs(monthly_debt_fen=900_000)
        ).decision_id,
        facade.decide("jnkd_admission", Subject("application", "R-4"), {}).decision_id,
        facade.decide("xyd_early_warning", Subject("loan", "R-5"), {"current_max_dpd": 45, "on_blacklist": False}).decision_id,
    ]
    for decision_id in ids:
        result = decision_services.decision_replay(decision_id=decision_id)
        assert result.identical, result.differences


def test_replay_detects_a_record_that_does_not_match_its_version():
    decision = facade.decide("gxd_limit", Subject("application", "R-6"), {"grade": "A", "monthly_income_fen": 500_000})
    record = DecisionRecord.objects.get(pk=decision.decision_id)
    forged = DecisionRecord.objects.create(
        **{f.attname: getattr(record, f.attname) for f in DecisionRecord._meta.concrete_fields if f.name != "id"}
        | {"amount": Decimal("999999.00"), "outputs": {**record.outputs, "amount_fen": 99_999_900}}
    )
    with pytest.raises(decision_services.ReplayMismatch) as info:
        decision_services.decision_replay(decision_id=forged.pk)
    assert "amount_fen" in info.value.extra["differences"] and "outputs" in info.value.extra["differences"]


def test_challenger_bucket_is_stable_and_spread():
    buckets = [decision_services.challenger_bucket("salt-1", Subject("application", f"A-{n}")) for n in range(2000)]
    assert buckets == [decision_services.challenger_bucket("salt-1", Subject("application", f"A-{n}")) for n in range(2000)]
    share = sum(1 for b in buckets if b < 30) / len(buckets)
    assert 0.26 < share < 0.34
    assert buckets != [decision_services.challenger_bucket("salt-2", Subject("application", f"A-{n}")) for n in range(2000)]


def _challenger_for(code):
    champion = Deployment.objects.get(rule_set__code=code, rule_set__institution__isnull=True, channel="default").champion
    maker, checker = officers()
    challenger = svc.version_copy(version_id=champion.pk, author=maker)
    svc.version_update(
        version_id=challenger.pk,
        actor=maker,
        content={
            **challenger.content,
            "nodes": [
                {
                    **n,
                    "content": {
                        **n["content"],
                        "rules": [{**r, "out_factor": "50"} if r["_id"] == "factor_A" else r for r in n["content"]["rules"]],
                    },
                }
                if n["id"] == "grade_factor"
                else n
                for n in challenger.content["nodes"]
            ],
        },
        test_cases=[
            {"name": "A级减半", "inputs": {"grade": "A", "monthly_income_fen": 1_000_000}, "expected": {"amount_fen": 12_000_000}}
        ],
    )
    svc.version_submit(version_id=challenger.pk, actor=maker)
    svc.version_approve(version_id=challenger.pk, actor=checker)
    return champion, challenger, maker, checker


def test_shadow_challenger_is_recorded_but_not_acted_on():
    champion, challenger, maker, _checker = _challenger_for("gxd_limit")
    svc.deployment_set_challenger(
        rule_set=champion.rule_set, channel="default", challenger_id=challenger.pk, percent=100, mode="shadow", actor=maker
    )
    decision = facade.decide("gxd_limit", Subject("application", "S-1"), {"grade": "A", "monthly_income_fen": 1_000_000})
    assert decision.version_id == champion.pk and decision.amount == Decimal("240000.00") and decision.arm == "champion"
    records = DecisionRecord.objects.filter(subject_id="S-1").order_by("id")
    assert [(r.mode, r.arm, r.version_id) for r in records] == [
        ("live", "champion", champion.pk),
        ("shadow", "challenger", challenger.pk),
    ]
    assert records[0].correlation_id == records[1].correlation_id
    assert records[1].amount == Decimal("120000.00")


def test_split_needs_a_second_officer_then_the_arm_is_stable():
    champion, challenger, maker, checker = _challenger_for("gxd_limit")
    deployment = svc.deployment_set_challenger(
        rule_set=champion.rule_set, channel="default", challenger_id=challenger.pk, percent=50, mode="split", actor=maker
    )
    assert deployment.effective_mode == "shadow"
    with pytest.raises(svc.FourEyesError):
        svc.deployment_approve_split(deployment_id=deployment.pk, actor=maker)
    svc.deployment_approve_split(deployment_id=deployment.pk, actor=checker)
    arms = {}
    for n in range(40):
        subject = Subject("application", f"SPLIT-{n}")
        first = facade.decide("gxd_limit", subject, {"grade": "A", "monthly_income_fen": 1_000_000})
        again = facade.decide("gxd_limit", subject, {"grade": "A", "monthly_income_fen": 1_000_000})
        assert first.arm == again.arm and first.version_id == again.version_id
        expected_arm = "challenger" if decision_services.challenger_bucket(deployment.salt, subject) < 50 else "champion"
        assert first.arm == expected_arm
        assert first.amount == (Decimal("120000.00") if expected_arm == "challenger" else Decimal("240000.00"))
        arms[first.arm] = arms.get(first.arm, 0) + 1
    assert set(arms) == {"champion", "challenger"}
    assert not DecisionRecord.objects.filter(subject_id__startswith="SPLIT-", mode="shadow").exists()


def test_challenger_must_be_approved():
    champion = Deployment.objects.get(rule_set__code="ydd_limit", channel="default").champion
    maker, _ = officers()
    draft = svc.version_copy(version_id=champion.pk, author=maker)
    with pytest.raises(ApplicationError):
        svc.deployment_set_challenger(
            rule_set=champion.rule_set, channel="default", challenger_id=draft.pk, percent=10, mode="shadow", actor=maker
        )


def test_institution_override_wins_over_the_province_rule_set():
    from riskrules.models import RuleSet
    from tests.riskrules.factories import AGE_TESTS, age_graph

    institution = InstitutionFactory()
    maker, checker = officers(institution)
    own = RuleSet.objects.create(code="jnkd_admission", name="本行准入", kind="admission", institution=institution)
    version = svc.version_create(rule_set=own, content=age_graph(), author=maker, test_cases=AGE_TESTS)
    svc.version_submit(version_id=version.pk, actor=maker)
    svc.version_approve(version_id=version.pk, actor=checker)
    svc.version_publish(version_id=version.pk, actor=checker)
    mine = facade.decide("jnkd_admission", Subject("application", "O-1", institution_id=institution.pk), {"age": 30})
    assert mine.version_id == version.pk and mine.outcome == "approve"
    other = facade.decide("jnkd_admission", Subject("application", "O-2", institution_id=InstitutionFactory().pk), {"age": 30})
    assert other.version_id != version.pk


def test_batch_decisions_use_a_constant_number_of_queries():
    customers = [farmer_customer() for _ in range(6)]

    def run(batch, prefix):
        items = [(Subject("application", f"{prefix}-{c.pk}", customer_id=c.pk), jnkd_inputs()) for c in batch]
        with CaptureQueriesContext(connection) as queries:
            decisions = facade.decide_many("jnkd_credit", items)
        return decisions, len(queries)

    run(customers[:1], "WARM")  # process caches (compiled versions, reason texts) are filled once
    small, small_queries = run(customers[:2], "B2")
    large, large_queries = run(customers, "B6")
    assert len(small) == 2 and len(large) == 6
    assert small_queries == large_queries


def test_facade_accepts_a_mapping_as_subject_and_returns_a_frozen_decision():
    import dataclasses

    decision = facade.decide("gxd_limit", {"kind": "application", "id": "MAP-1"}, {"grade": "D", "monthly_income_fen": 500_000})
    assert decision.amount == Decimal("48000.00")  # 5,000 × 24 × 0.4
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.outcome = "reject"
    with pytest.raises(TypeError):
        decision.outputs["amount_fen"] = 1
    many = facade.decide_many(
        "gxd_limit",
        [({"kind": "application", "id": f"MAP-{n}"}, {"grade": "A", "monthly_income_fen": 100_000}) for n in range(3)],
    )
    assert [d.amount for d in many] == [Decimal("24000.00")] * 3


def test_angel_loan_admits_young_entrepreneurs_without_years_in_business():
    """天使贷 is for young and returning-home entrepreneurs: a start-up is welcome, an employee or a 50-year-old is not."""
    from jikuai.customers.models import Customer

    def person(age, occupation):
        customer = farmer_customer(age=age, income="6000")
        Customer.objects.filter(pk=customer.pk).update(occupation=occupation)
        return customer

    inputs = {"decision_date": DAY.isoformat(), "monthly_debt_fen": 120_000, "business_years": 0.5, "current_overdue_count": 0}

    def admit(customer, code="tsd_admission"):
        return facade.decide(code, Subject("application", f"TSD-{customer.pk}", customer_id=customer.pk), inputs)

    founder = person(28, "individual_business")
    first = admit(founder)
    assert first.outcome == "approve", first.reasons
    assert admit(person(30, "farmer")).outcome == "approve"  # 返乡务农创业
    refused = admit(person(30, "employee"))
    assert refused.outcome == "reject" and "OCCUPATION_MISMATCH" in [code for code, _ in refused.reasons]
    older = admit(person(50, "micro_business_owner"))
    assert older.outcome == "reject" and "AGE_ABOVE_MAX" in [code for code, _ in older.reasons]
    assert admit(founder, "xyd_admission").outcome == "reject"  # 信易贷 wants a year in business
