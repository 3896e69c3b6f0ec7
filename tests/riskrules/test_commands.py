"""Management commands: decide, decision_replay, seed_demo_riskrules."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from riskrules.models import DecisionRecord, ListEntry, RuleSet, RuleVersion

pytestmark = pytest.mark.django_db


def _run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_decide_prints_the_decision_as_json():
    payload = json.loads(_run("decide", "gxd_limit", "--input", '{"grade": "A", "monthly_income_fen": 1000000}', "--explain"))
    assert payload["outcome"] == "approve" and payload["amount"] == "240000.00"
    assert payload["explanation"][0]["node"] == "grade_factor"
    assert DecisionRecord.objects.get(pk=payload["decision_id"]).source == "command"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "gxd_limit", "--input", "{not json"], "JSON"),
        (["decide", "gxd_limit", "--input", "[1, 2]"], "JSON 对象"),
        (["decide", "gxd_limit", "--input", '{"monthly_income_fen": "lots"}'], "monthly_income_fen"),
        (["decide", "missing_rules", "--input", "{}"], "不存在"),
        (["decide", "gxd_limit", "--institution", "NOPE"], "NOPE"),
    ],
)
def test_decide_refuses_bad_input(args, message):
    before = DecisionRecord.objects.count()
    with pytest.raises(CommandError) as info:
        _run(*args)
    assert message in str(info.value)
    assert DecisionRecord.objects.count() == before


def test_decision_replay_command():
    first = json.loads(_run("decide", "ydd_pricing", "--input", '{"grade": "C", "lpr_1y_bp": 300}'))
    second = json.loads(_run("decide", "ydd_early_warning", "--subject-kind", "loan", "--input", '{"current_max_dpd": 5}'))
    lines = [
        json.loads(line) for line in _run("decision_replay", str(first["decision_id"]), str(second["decision_id"])).splitlines()
    ]
    assert [line["identical"] for line in lines] == [True, True]
    with pytest.raises(CommandError):
        _run("decision_replay", "999999999")


def test_seed_demo_is_idempotent():
    _run("seed_demo_riskrules")
    counts = (RuleSet.objects.count(), RuleVersion.objects.count(), ListEntry.objects.count(), DecisionRecord.objects.count())
    assert counts[0] >= 36 and counts[2] >= 9 and counts[3] >= 30
    output = _run("seed_demo_riskrules")
    assert "decisions: 0" in output
    assert (
        RuleSet.objects.count(),
        RuleVersion.objects.count(),
        ListEntry.objects.count(),
        DecisionRecord.objects.count(),
    ) == counts
    assert set(RuleSet.objects.filter(institution__isnull=True).values_list("product_code", flat=True)) == {
        "jnkd",
        "tsd",
        "gxd",
        "jld",
        "xyd",
        "ydd",
        "jwkd",
    }
