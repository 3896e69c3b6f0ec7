"""Simulation on a small known population: every report number checked by hand."""

from decimal import Decimal

import pytest

from jikuai.core.models import JobRun
from riskrules import facade
from riskrules.facade import Subject
from riskrules.models import Deployment, Simulation, SimulationCase
from riskrules.services import simulations as sim
from riskrules.services import versions as svc
from tests.riskrules.factories import DAY, officers

pytestmark = pytest.mark.django_db


def _candidate():
    """gxd_limit with grade A at 50% and grade C at 0% (→ reject)."""
    champion = Deployment.objects.get(rule_set__code="gxd_limit", rule_set__institution__isnull=True, channel="default").champion
    maker, _checker = officers()
    draft = svc.version_copy(version_id=champion.pk, author=maker)
    factors = {"factor_A": "50", "factor_C": "0"}
    content = {
        **draft.content,
        "nodes": [
            {
                **n,
                "content": {
                    **n["content"],
                    "rules": [{**r, "out_factor": factors.get(r["_id"], r.get("out_factor", ""))} for r in n["content"]["rules"]],
                },
            }
            if n["id"] == "grade_factor"
            else n
            for n in draft.content["nodes"]
        ],
    }
    tests = [
        {"name": "A级减半", "inputs": {"grade": "A", "monthly_income_fen": 1_000_000}, "expected": {"amount_fen": 12_000_000}},
        {
            "name": "C级不授信",
            "inputs": {"grade": "C", "monthly_income_fen": 500_000},
            "expected": {"outcome": "reject", "reasons": ["LIMIT_ZERO"]},
        },
    ]
    svc.version_update(version_id=draft.pk, actor=maker, content=content, test_cases=tests)
    return champion, draft, maker


def _population():
    people = [("A", 1_000_000)] * 4 + [("C", 500_000)] * 3 + [("E", 800_000)] * 2 + [(None, 800_000)]
    for n, (grade, income) in enumerate(people):
        inputs = {"monthly_income_fen": income, "decision_date": DAY.isoformat()}
        if grade:
            inputs["grade"] = grade
        facade.decide("gxd_limit", Subject("application", f"SIM-{n}"), inputs)


def test_report_on_stored_decisions(django_capture_on_commit_callbacks):
    _population()
    champion, candidate, maker = _candidate()
    with django_capture_on_commit_callbacks(execute=True):
        simulation = sim.simulation_create(
            name="A减半C停", candidate_id=candidate.pk, created_by=maker, date_from=DAY, date_to=DAY
        )
    simulation.refresh_from_db()
    assert simulation.status == Simulation.Status.SUCCEEDED, simulation.error
    assert simulation.champion_id == champion.pk
    report = simulation.report
    assert report["population"] == 10 and report["errors"] == 0 and report["changed"] == 7
    assert report["champion"]["approval_rate"] == "0.7000"
    assert report["candidate"]["approval_rate"] == "0.4000"
    # champion: (4 × 240,000 + 3 × 72,000) / 7 = 168,000; candidate: 4 × 120,000 / 4
    assert report["champion"]["mean_limit"] == "168000.00"
    assert report["candidate"]["mean_limit"] == "120000.00"
    assert report["champion"]["outcomes"] == {"approve": 7, "refer": 1, "reject": 2}
    assert report["candidate"]["outcomes"] == {"approve": 4, "refer": 1, "reject": 5}
    assert report["champion"]["grades"] == {"A": 4, "C": 3, "E": 2}
    matrix = {row["champion"]: {k: v for k, v in row.items() if k != "champion"} for row in report["swap_matrix"]}
    assert matrix == {
        "approve": {"approve": 4, "refer": 0, "reject": 3},
        "refer": {"approve": 0, "refer": 1, "reject": 0},
        "reject": {"approve": 0, "refer": 0, "reject": 2},
    }
    assert report["swap_in"] == 0 and report["swap_out"] == 3
    hits = {row["row"]: row for row in report["row_hits"]}
    assert hits["grade_factor:factor_A"]["rate"] == "0.4000" and hits["grade_factor:factor_A"]["champion_rate"] == "0.4000"
    assert hits["grade_factor:factor_C"]["hits"] == 3 and hits["grade_factor:factor_C"]["description"] == "C级 系数60%"
    assert hits["grade_factor:factor_other"]["hits"] == 1
    cases = SimulationCase.objects.filter(simulation=simulation).order_by("row_no")
    assert cases.count() == 7
    first = cases.first()
    assert (first.champion_outcome, first.candidate_outcome, first.champion_amount, first.candidate_amount) == (
        "approve",
        "approve",
        Decimal("240000.00"),
        Decimal("120000.00"),
    )
    csv_text = sim.simulation_cases_csv(simulation)
    assert len(csv_text.strip().splitlines()) == 8 and "LIMIT_ZERO" in csv_text
    run = JobRun.objects.get(pk=simulation.job_run_id)
    assert run.status == JobRun.Status.SUCCEEDED and run.processed == 10 and run.total == 10


def test_report_on_an_uploaded_population(django_capture_on_commit_callbacks):
    _champion, candidate, maker = _candidate()
    data = b"subject_id,grade,monthly_income_fen\nU1,A,1000000\nU2,C,500000\nU3,B,300000\n"
    with django_capture_on_commit_callbacks(execute=True):
        simulation = sim.simulation_create(name="上传", candidate_id=candidate.pk, created_by=maker, upload=("p.csv", data))
    simulation.refresh_from_db()
    report = simulation.report
    assert report["population"] == 3
    assert report["champion"]["approval_rate"] == "1.0000" and report["candidate"]["approval_rate"] == "0.6667"
    # champion: 240,000 + 72,000 + 57,000 (3,000 × 24 × 0.8 = 57,600 → 57,000) over 3
    assert report["champion"]["mean_limit"] == "123000.00"
    assert list(SimulationCase.objects.filter(simulation=simulation).values_list("subject_id", flat=True)) == ["U1", "U2"]


def test_bad_population_file_is_refused():
    _champion, candidate, maker = _candidate()
    before = Simulation.objects.count()
    with pytest.raises(sim.SimulationError) as info:
        sim.simulation_create(name="x", candidate_id=candidate.pk, created_by=maker, upload=("p.csv", b"grade,shoe_size\nA,42\n"))
    assert "shoe_size" in info.value.message_zh
    with pytest.raises(sim.SimulationError):
        sim.simulation_create(name="x", candidate_id=candidate.pk, created_by=maker, date_from=DAY, date_to=DAY.replace(day=1))
    assert Simulation.objects.count() == before


def test_rerunning_a_finished_simulation_does_nothing(django_capture_on_commit_callbacks):
    _population()
    _champion, candidate, maker = _candidate()
    with django_capture_on_commit_callbacks(execute=True):
        simulation = sim.simulation_create(name="once", candidate_id=candidate.pk, created_by=maker, date_from=DAY, date_to=DAY)
    sim.simulation_run(simulation_id=simulation.pk)
    assert SimulationCase.objects.filter(simulation=simulation).count() == 7
