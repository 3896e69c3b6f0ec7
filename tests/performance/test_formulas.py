"""Formula catalogue F1–F18 against worked examples derived by hand (A actual, T target, W weight, r = A/T).

Every expected value below is computed in the docstring of its test; the code must reproduce it exactly
(Decimal, no float)."""

import itertools
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from performance import formulas as f
from performance.formulas import FormulaInput as In


def ev(kind, params, **kwargs):
    return f.evaluate(kind, In(**kwargs), f.validate_parameters(kind, params))


def test_f1_linear_capped():
    """F1 S = W·clamp(r, 0, c), W = 20, c = 1.2.
    A = 85, T = 100: r = 0.85 → S = 20 × 0.85 = 17.
    A = 150, T = 100: r = 1.5 → capped at 1.2 → S = 24.
    A = −10, T = 100: r = −0.1 → floored at 0 → S = 0."""
    p = {"cap": "1.2"}
    assert ev("F1", p, actual=D(85), target=D(100), weight=D(20)).score == D("17")
    assert ev("F1", p, actual=D(150), target=D(100), weight=D(20)).score == D("24")
    assert ev("F1", p, actual=D(-10), target=D(100), weight=D(20)).score == D("0")


def test_f2_threshold_gate():
    """F2 S = 0 if r < θ else W·min(r, c); W = 20, θ = 0.6, c = 1.2.
    r = 0.5 → 0; r = 0.6 → 20 × 0.6 = 12; r = 1.5 → 20 × 1.2 = 24."""
    p = {"threshold": "0.6", "cap": "1.2"}
    assert ev("F2", p, actual=D(50), target=D(100), weight=D(20)).score == 0
    assert ev("F2", p, actual=D(60), target=D(100), weight=D(20)).score == D(12)
    assert ev("F2", p, actual=D(150), target=D(100), weight=D(20)).score == D(24)


def test_f4_step_bonus():
    """F4 base W·clamp(r,0,1) + min(max, s·⌊(r − 1)/Δ⌋); W = 20, Δ = 0.1, s = 2, max = 6.
    r = 1.25: 20 + 2·⌊2.5⌋ = 20 + 4 = 24.  r = 1.8: 20 + min(6, 16) = 26.  r = 0.7: 14 (no bonus).
    r = 1.3 exactly: ⌊3⌋ = 3 steps → 20 + 6 = 26 (Decimal keeps 0.3/0.1 = 3 exact)."""
    p = {"step": "0.1", "bonus_per_step": "2", "max_bonus": "6"}
    assert ev("F4", p, actual=D(125), target=D(100), weight=D(20)).score == D(24)
    assert ev("F4", p, actual=D(180), target=D(100), weight=D(20)).score == D(26)
    assert ev("F4", p, actual=D(70), target=D(100), weight=D(20)).score == D(14)
    assert ev("F4", p, actual=D(130), target=D(100), weight=D(20)).score == D(26)


def test_f5_shortfall_deduction():
    """F5 W − k per percentage point below θ, floor 0; W = 20, θ = 1, k = 0.5.
    r = 0.9: 10 pp below → 20 − 5 = 15.  r = 0.5: 50 pp → 20 − 25 → 0.  r = 1.1 → 20."""
    p = {"points_per_pp": "0.5"}
    assert ev("F5", p, actual=D(90), target=D(100), weight=D(20)).score == D(15)
    assert ev("F5", p, actual=D(50), target=D(100), weight=D(20)).score == 0
    assert ev("F5", p, actual=D(110), target=D(100), weight=D(20)).score == D(20)


BANDS = [
    {"lo": "0", "hi": "0.6", "score": "0"},
    {"lo": "0.6", "hi": "0.8", "score": "0.6"},
    {"lo": "0.8", "hi": "1", "score": "0.8"},
    {"lo": "1", "hi": None, "score": "1"},
]


def test_f6_bands():
    """F6 bands on r; W = 20. r = 0.85 ∈ [0.8, 1) → 0.8 × 20 = 16. r = 0.8 (lower bound inclusive) → 16.
    r = 0.79 → 0.6 × 20 = 12. r = 3 → 20. Points unit on the actual: A = 2 complaints in [1, ∞) → 5 points."""
    p = {"bands": BANDS}
    assert ev("F6", p, actual=D(85), target=D(100), weight=D(20)).score == D(16)
    assert ev("F6", p, actual=D(80), target=D(100), weight=D(20)).score == D(16)
    assert ev("F6", p, actual=D(79), target=D(100), weight=D(20)).score == D(12)
    assert ev("F6", p, actual=D(300), target=D(100), weight=D(20)).score == D(20)
    points = {
        "bands": [{"lo": "0", "hi": "1", "score": "0"}, {"lo": "1", "hi": None, "score": "5"}],
        "basis": "actual",
        "unit": "points",
    }
    assert ev("F6", points, actual=D(2)).score == D(5)


def test_f7_tiered_marginal():
    """F7 Σ rateⱼ·max(0, min(x, hiⱼ) − loⱼ); tiers [0,100)@0.1, [100,200)@0.15, [200,∞)@0.2; x = 250:
    0.1×100 + 0.15×100 + 0.2×50 = 10 + 15 + 10 = 35; x = 50 → 5. With max_score 30: 35 → 30."""
    tiers = [
        {"lo": "0", "hi": "100", "rate": "0.1"},
        {"lo": "100", "hi": "200", "rate": "0.15"},
        {"lo": "200", "hi": None, "rate": "0.2"},
    ]
    assert ev("F7", {"tiers": tiers}, actual=D(250)).score == D(35)
    assert ev("F7", {"tiers": tiers}, actual=D(50)).score == D(5)
    assert ev("F7", {"tiers": tiers, "max_score": "30"}, actual=D(250)).score == D(30)


def test_f8_interpolated():
    """F8 points (0,0) (0.6,0.5) (1,1) (1.5,1.2); W = 20.
    r = 0.8: y = 0.5 + (0.2/0.4)·0.5 = 0.75 → 15.  r = 1.25: y = 1 + (0.25/0.5)·0.2 = 1.1 → 22.  r = 2 → flat 1.2 → 24."""
    p = {"points": [["0", "0"], ["0.6", "0.5"], ["1", "1"], ["1.5", "1.2"]]}
    assert ev("F8", p, actual=D(80), target=D(100), weight=D(20)).score == D(15)
    assert ev("F8", p, actual=D(125), target=D(100), weight=D(20)).score == D(22)
    assert ev("F8", p, actual=D(200), target=D(100), weight=D(20)).score == D(24)


class TestF9LowerIsBetter:
    def test_ratio(self):
        """ratio: S = W·clamp(T/A, 0, c); overdue-rate target T = 2 %, W = 20, c = 1.2.
        A = 2.5 %: r = 0.8 → 16.  A = 1 %: r = 2 → capped 1.2 → 24.  A = 0 → perfect → 24.  A = T = 0 → 20."""
        p = {"variant": "ratio", "cap": "1.2"}
        assert ev("F9", p, actual=D("2.5"), target=D(2), weight=D(20)).score == D(16)
        assert ev("F9", p, actual=D(1), target=D(2), weight=D(20)).score == D(24)
        assert ev("F9", p, actual=D(0), target=D(2), weight=D(20)).score == D(24)
        assert ev("F9", p, actual=D(0), target=D(0), weight=D(20)).score == D(20)

    def test_linear_penalty(self):
        """linear: W − k·(A − T)/unit; T = 2, k = 2 per 0.1 point, W = 20.
        A = 2.5: 5 units × 2 = 10 → 10.  A = 4: 20 units → 40 → floor 0.  A = 1.5 ≤ T → 20."""
        p = {"variant": "linear_penalty", "penalty_per_unit": "2", "unit": "0.1"}
        assert ev("F9", p, actual=D("2.5"), target=D(2), weight=D(20)).score == D(10)
        assert ev("F9", p, actual=D(4), target=D(2), weight=D(20)).score == 0
        assert ev("F9", p, actual=D("1.5"), target=D(2), weight=D(20)).score == D(20)

    def test_binary(self):
        """binary: W if A ≤ T else 0. T = 0 complaints: A = 0 → 10; A = 1 → 0."""
        p = {"variant": "binary"}
        assert ev("F9", p, actual=D(0), target=D(0), weight=D(10)).score == D(10)
        assert ev("F9", p, actual=D(1), target=D(0), weight=D(10)).score == 0

    def test_bounded(self):
        """bounded: W·clamp(1 − (A − T)/|T|, floor, 1); T = 2, floor 0.2, W = 20.
        A = 2.5: 1 − 0.25 = 0.75 → 15.  A = 5: 1 − 1.5 = −0.5 → floor 0.2 → 4.  A = 1 → 20 (no bonus)."""
        p = {"variant": "bounded", "floor": "0.2"}
        assert ev("F9", p, actual=D("2.5"), target=D(2), weight=D(20)).score == D(15)
        assert ev("F9", p, actual=D(5), target=D(2), weight=D(20)).score == D(4)
        assert ev("F9", p, actual=D(1), target=D(2), weight=D(20)).score == D(20)

    def test_variant_needs_its_parameters(self):
        """Each variant names its required parameters: ratio needs cap, linear_penalty needs k and unit."""
        with pytest.raises(f.FormulaParameterError, match="cap"):
            f.validate_parameters("F9", {"variant": "ratio"})
        with pytest.raises(f.FormulaParameterError, match="penalty_per_unit"):
            f.validate_parameters("F9", {"variant": "linear_penalty", "unit": "0.1"})


def test_f10_negative_and_zero_targets():
    """F10 r = 1 + (A − T)/|T|; W = 20, c = 1.2, scale 100 (for T = 0).
    T = −100 (allowed to shrink by 100): A = −50 → r = 1 + 50/100 = 1.5 → 24;  A = −150 → r = 0.5 → 10;
    A = −100 → r = 1 → 20.  T = 0: A = 30 → r = 1 + 30/100 = 1.3 → 24; A = −30 → 0.7 → 14.
    F1 falls back to the same rule for T ≤ 0 (A = −50, T = −100 → 24)."""
    p = {"cap": "1.2", "scale": "100"}
    assert ev("F10", p, actual=D(-50), target=D(-100), weight=D(20)).score == D(24)
    assert ev("F10", p, actual=D(-150), target=D(-100), weight=D(20)).score == D(10)
    assert ev("F10", p, actual=D(-100), target=D(-100), weight=D(20)).score == D(20)
    assert ev("F10", p, actual=D(30), target=D(0), weight=D(20)).score == D(24)
    assert ev("F10", p, actual=D(-30), target=D(0), weight=D(20)).score == D(14)
    assert ev("F1", {"cap": "1.2"}, actual=D(-50), target=D(-100), weight=D(20)).score == D(24)
    with pytest.raises(f.FormulaEvaluationError):
        ev("F1", {"cap": "1.2"}, actual=D(5), target=D(0), weight=D(20))


def test_f11_growth_on_daily_averages():
    """F11 absolute: g = A − B = 12,000,000 − 10,000,000 = 2,000,000; T = 3,000,000 → r = 2/3; W = 15 → 10.0000.
    rate: g = 20 %, T = 25 % → r = 0.8 → 12. Shrinking (A < B) → r < 0 → 0.
    Negative growth target T = −1,000,000 (managed run-off), g = −500,000 → F10: 1 + 500,000/1,000,000 = 1.5 → capped 1.2 → 18."""
    assert ev("F11", {"cap": "1.2"}, actual=D(12_000_000), base=D(10_000_000), target=D(3_000_000), weight=D(15)).score == D(
        "10.0000"
    )
    assert ev("F11", {"cap": "1.2", "mode": "rate"}, actual=D(120), base=D(100), target=D("0.25"), weight=D(15)).score == D(12)
    assert ev("F11", {"cap": "1.2"}, actual=D(90), base=D(100), target=D(50), weight=D(15)).score == 0
    assert ev("F11", {"cap": "1.2"}, actual=D(9_500_000), base=D(10_000_000), target=D(-1_000_000), weight=D(15)).score == D(18)


def test_f12_competition_ranking_and_rank_score():
    """Competition ranking of 90, 80, 80, 70 (higher better) → 1, 2, 2, 4; lower better on 1, 3, 3, 5 → 1, 2, 2, 4.
    Linear rank score W·(n − rank)/(n − 1), W = 12, n = 4: 12, 8, 8, 0. Table mode [10, 6, 3]: rank 2 → 6; rank 4 → 0."""
    ranks = f.competition_ranks([("a", D(90)), ("b", D(80)), ("c", D(80)), ("d", D(70))])
    assert ranks == {"a": 1, "b": 2, "c": 2, "d": 4}
    assert f.competition_ranks([("a", D(1)), ("b", D(3)), ("c", D(3)), ("d", D(5))], higher_is_better=False) == {
        "a": 1,
        "b": 2,
        "c": 2,
        "d": 4,
    }
    scores = [ev("F12", {}, actual=D(0), rank=r, peer_count=4, weight=D(12)).score for r in (1, 2, 2, 4)]
    assert scores == [D(12), D(8), D(8), D(0)]
    table = {"mode": "table", "table": ["10", "6", "3"]}
    assert ev("F12", table, actual=D(0), rank=2, peer_count=4).score == D(6)
    assert ev("F12", table, actual=D(0), rank=4, peer_count=4).score == 0
    assert ev("F12", {}, actual=D(0), rank=1, peer_count=1, weight=D(12)).score == D(12)


def test_f13_renormalised_weights_and_f14_gates():
    """Weights 40/30/30; the third has no target. S1 = 40 × 0.9 = 36, S2 = 30 × 1.1 = 33 → Σ 69 over active weight
    70 → 69 × 100/70 = 98.571428… → 98.57. A deduction of 5 → 93.57. A gate with cap 60 triggered → 60.
    A veto (cap 0) → 0. Without renormalisation the total is 69.00."""
    items = [
        f.ItemScore("weighted", D(40), D(36)),
        f.ItemScore("weighted", D(30), D(33)),
        f.ItemScore("weighted", D(30), None),
    ]
    assert f.composite(items).total == D("98.57")
    assert f.composite(items, renormalise=False).total == D("69.00")
    assert f.composite([*items, f.ItemScore("deduction", D(0), D(5))]).total == D("93.57")
    assert f.composite([*items, f.ItemScore("gate", D(0), D(0), gate_cap=D(60))]).total == D(60)
    assert (
        f.composite(
            [*items, f.ItemScore("gate", D(0), D(0), gate_cap=D(60)), f.ItemScore("gate", D(0), D(0), gate_cap=D(0))]
        ).total
        == 0
    )
    gate = f.validate_parameters("F14", {"op": ">", "threshold": "5", "cap": "60"})
    assert f.evaluate("F14", In(actual=D("5.5")), gate).gate_cap == D(60)
    assert f.evaluate("F14", In(actual=D(5)), gate).gate_cap is None


def test_f16_grades_thresholds_and_forced_distribution():
    """Thresholds A ≥ 90, B ≥ 75, C ≥ 60, D ≥ 0: 90 → A, 89.99 → B, 0 → D.
    Forced A 20 %, B 30 %, C 40 %, D 10 % over n = 10: cumulative quotas 2, 5, 9, 10.
    Totals 99, 95, 95, 80, 79, 70, 60, 55, 40, 10 → ranks 1, 2, 2, 4, 5, 6, 7, 8, 9, 10 →
    A, A, A (the tie shares the better grade), B, B, C, C, C, C, D."""
    grading = f.validate_grading(
        {
            "method": "forced",
            "thresholds": [
                {"grade": "A", "min": "90"},
                {"grade": "B", "min": "75"},
                {"grade": "C", "min": "60"},
                {"grade": "D", "min": "0"},
            ],
            "distribution": [
                {"grade": "A", "percent": "20"},
                {"grade": "B", "percent": "30"},
                {"grade": "C", "percent": "40"},
                {"grade": "D", "percent": "10"},
            ],
        }
    )
    assert f.grade_by_thresholds(D(90), grading["thresholds"]) == "A"
    assert f.grade_by_thresholds(D("89.99"), grading["thresholds"]) == "B"
    assert f.grade_by_thresholds(D(0), grading["thresholds"]) == "D"
    totals = [D(x) for x in (99, 95, 95, 80, 79, 70, 60, 55, 40, 10)]
    grades = f.forced_distribution(list(enumerate(totals)), grading["distribution"])
    assert [grades[i] for i in range(10)] == ["A", "A", "A", "B", "B", "C", "C", "C", "C", "D"]


def test_f16_grading_needs_zero_and_distribution_summing_to_100():
    with pytest.raises(f.GradingError, match="0"):
        f.validate_grading({"thresholds": [{"grade": "A", "min": "90"}, {"grade": "B", "min": "60"}]})
    with pytest.raises(f.GradingError, match="100"):
        f.validate_grading(
            {
                "method": "forced",
                "thresholds": [{"grade": "A", "min": "60"}, {"grade": "B", "min": "0"}],
                "distribution": [{"grade": "A", "percent": "30"}, {"grade": "B", "percent": "60"}],
            }
        )


def test_f17_pool_split_piece_rate_and_deferral():
    """Pool 10,000.00 split by points 90, 80, 80 (Σ 250): 3,600.00, 3,200.00, 3,200.00.
    Pool 100.00 by 1, 1, 1: cumulative rounding 33.33, 33.34, 33.33 — sums exactly to 100.00.
    Piece rate cards tiers [0,10)@5, [10,∞)@8 on 12 cards: 50 + 16 = 66.00.
    Deferral 40 % over 3 years of 3,600.00: deferred 1,440.00 = 480.00 × 3, immediate 2,160.00.
    Deferral of 1,000.01 at 40 %: 400.00 (400.004 rounded) in parts 133.33, 133.34, 133.33."""
    assert f.pool_split(D("10000"), [("a", D(90)), ("b", D(80)), ("c", D(80))]) == {
        "a": D("3600.00"),
        "b": D("3200.00"),
        "c": D("3200.00"),
    }
    parts = f.pool_split(D("100"), [("a", D(1)), ("b", D(1)), ("c", D(1))])
    assert sum(parts.values()) == D("100.00") and sorted(parts.values()) == [D("33.33"), D("33.33"), D("33.34")]
    amount, _ = f.piece_rate(
        {"cards": D(12)}, {"cards": [{"lo": "0", "hi": "10", "rate": "5"}, {"lo": "10", "hi": None, "rate": "8"}]}
    )
    assert amount == D("66.00")
    plan = f.deferral_plan(D("3600.00"), ratio=D("0.40"), years=3)
    assert (plan.immediate, plan.deferred, plan.installments) == (D("2160.00"), D("1440.00"), (D("480.00"),) * 3)
    plan = f.deferral_plan(D("1000.01"), ratio=D("0.40"), years=3)
    assert plan.deferred == D("400.00") and sum(plan.installments) == D("400.00") and plan.immediate == D("600.01")


def test_f17_risk_relevant_roles_defer_at_least_40_percent_over_3_years():
    with pytest.raises(f.IncentiveConfigError, match="40%"):
        f.validate_incentive(
            {"method": "pool", "pool_amount": "100", "risk_relevant": True, "deferral_ratio": "0.3", "deferral_years": 3}
        )
    with pytest.raises(f.IncentiveConfigError, match="3 年"):
        f.validate_incentive(
            {"method": "pool", "pool_amount": "100", "risk_relevant": True, "deferral_ratio": "0.5", "deferral_years": 2}
        )
    ok = f.validate_incentive({"method": "pool", "pool_amount": "100", "risk_relevant": True})
    assert ok["deferral_ratio"] == "0.40" and ok["deferral_years"] == 3


def test_f18_attribution_shares():
    """Loan of 1,000.00 split 33.33 / 33.33 / 33.34 %: 333.30 + 333.30 + 333.40 = 1,000.00.
    A count of 1 split 50/50 → 0.5 + 0.5. Shares 60 + 30 = 90 % are refused."""
    shares = f.validate_shares([("a", "33.33"), ("b", "33.33"), ("c", "33.34")])
    credited = f.attribution_credit(D("1000.00"), shares)
    assert [v for _, v in credited] == [D("333.3000"), D("333.3000"), D("333.4000")]
    assert sum(v for _, v in credited) == D("1000.00")
    assert [v for _, v in f.attribution_credit(D(1), [("a", D(50)), ("b", D(50))])] == [D("0.5000"), D("0.5000")]
    with pytest.raises(f.AttributionShareError, match="100%"):
        f.validate_shares([("a", "60"), ("b", "30")])
    with pytest.raises(f.AttributionShareError):
        f.validate_shares([("a", "50"), ("a", "50")])


@given(
    metric=st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=2, allow_nan=False, allow_infinity=False),
    cuts=st.lists(st.integers(min_value=1, max_value=9999), min_size=0, max_size=4, unique=True),
)
def test_f18_credited_parts_always_sum_to_the_metric(metric, cuts):
    points = sorted(cuts)
    bounds = [0, *points, 10000]
    shares = [(n, D(b - a) / 100) for n, (a, b) in enumerate(itertools.pairwise(bounds)) if b > a]
    credited = f.attribution_credit(metric, shares)
    assert sum(v for _, v in credited) == metric


def test_parameter_validation_reports_missing_and_gaps():
    """Missing required parameters and bands with gaps / overlaps / no open end are refused with every problem listed."""
    with pytest.raises(f.FormulaParameterError, match="cap"):
        f.validate_parameters("F1", {})
    with pytest.raises(f.FormulaParameterError, match="缺口"):
        f.validate_parameters("F6", {"bands": [{"lo": "0", "hi": "0.5", "score": "0"}, {"lo": "0.6", "hi": None, "score": "1"}]})
    with pytest.raises(f.FormulaParameterError, match="重叠"):
        f.validate_parameters("F6", {"bands": [{"lo": "0", "hi": "0.7", "score": "0"}, {"lo": "0.6", "hi": None, "score": "1"}]})
    with pytest.raises(f.FormulaParameterError, match="∞"):
        f.validate_parameters("F6", {"bands": [{"lo": "0", "hi": "1", "score": "0"}]})
    with pytest.raises(f.FormulaParameterError, match="0"):
        f.validate_parameters("F6", {"bands": [{"lo": "0.1", "hi": None, "score": "0"}]})
    with pytest.raises(f.FormulaParameterError, match="no parameter capp"):
        f.validate_parameters("F1", {"cap": "1.2", "capp": "2"})
    assert f.validate_parameters("F1", {"cap": 1.2}) == {"cap": "1.2", "floor": "0"}
