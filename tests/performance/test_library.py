"""Versioned schemes: validation (weights 100, complete parameters, bands without gaps, formulas fit the
direction), publication freezes the version, published versions cannot change, clones make new drafts."""

import datetime as dt
from decimal import Decimal

import pytest

from jikuai.core.exceptions import ApplicationError, PermissionDeniedError
from performance.catalogue import GRADES
from performance.models import Formula, Indicator, Scheme, SchemeItem, SchemeVersion
from performance.services import library
from tests.performance.factories import make_bank, simple_scheme

pytestmark = pytest.mark.django_db


@pytest.fixture
def bank():
    return make_bank()


def draft(bank, items) -> SchemeVersion:
    scheme = Scheme.objects.create(institution=bank.institution, code="D1", name="草稿方案", position="account_manager")
    version = SchemeVersion.objects.create(scheme=scheme, number=1, effective_from=dt.date(2026, 1, 1), grading=GRADES)
    for order, (code, kind, weight, formula, overrides) in enumerate(items):
        SchemeItem.objects.create(
            version=version,
            indicator=Indicator.objects.get(code=code),
            kind=kind,
            weight=Decimal(weight),
            formula=Formula.objects.get(code=formula),
            parameters=overrides,
            order=order,
        )
    return version


def snapshot(version):
    return list(version.items.values_list("indicator_id", "weight", "parameters", "resolved")), version.state


def test_weights_not_summing_to_100_are_refused_and_nothing_changes(bank):
    version = draft(
        bank,
        [("loan_disbursed_amount", "weighted", "60", "F1-120", {}), ("new_credit_customers", "weighted", "30", "F1-120", {})],
    )
    before = snapshot(version)
    with pytest.raises(ApplicationError, match="权重合计必须为 100（当前 90）"):
        library.scheme_version_publish(version_id=version.pk, actor=bank.admin)
    version.refresh_from_db()
    assert snapshot(version) == before and version.state == SchemeVersion.State.DRAFT and not version.spec_hash


def test_missing_parameters_and_band_gaps_are_refused(bank):
    f1 = Formula.objects.create(code="F1-nocap", kind="F1", name="缺少封顶", parameters={})
    version = draft(bank, [("loan_disbursed_amount", "weighted", "100", "F1-120", {})])
    items = [library.ItemDraft(Indicator.objects.get(code="loan_disbursed_amount"), "weighted", Decimal(100), f1, {})]
    with pytest.raises(ApplicationError, match="缺少必填参数 cap"):
        library.scheme_version_save_items(version_id=version.pk, items=items, actor=bank.admin)
    gap = {"bands": [{"lo": "0", "hi": "0.5", "score": "0"}, {"lo": "0.6", "hi": None, "score": "1"}]}
    items = [
        library.ItemDraft(
            Indicator.objects.get(code="loan_disbursed_amount"),
            "weighted",
            Decimal(100),
            Formula.objects.get(code="F6-bands"),
            gap,
        )
    ]
    with pytest.raises(ApplicationError, match="缺口"):
        library.scheme_version_save_items(version_id=version.pk, items=items, actor=bank.admin)
    assert list(version.items.values_list("formula__code", "parameters")) == [("F1-120", {})]


def test_formula_must_fit_the_indicators_direction(bank):
    version = draft(bank, [("npl_ratio", "weighted", "100", "F1-120", {})])
    with pytest.raises(ApplicationError, match="逆向指标"):
        library.scheme_version_publish(version_id=version.pk, actor=bank.admin)
    assert SchemeVersion.objects.get(pk=version.pk).state == SchemeVersion.State.DRAFT


def test_grading_and_incentive_are_validated_on_publish(bank):
    version = draft(bank, [("loan_disbursed_amount", "weighted", "100", "F1-120", {})])
    SchemeVersion.objects.filter(pk=version.pk).update(grading={"thresholds": [{"grade": "A", "min": "60"}]})
    with pytest.raises(ApplicationError, match="覆盖"):
        library.scheme_version_publish(version_id=version.pk, actor=bank.admin)
    SchemeVersion.objects.filter(pk=version.pk).update(
        grading=GRADES, incentive={"method": "pool", "pool_amount": "1000", "risk_relevant": True, "deferral_ratio": "0.2"}
    )
    with pytest.raises(ApplicationError, match="40%"):
        library.scheme_version_publish(version_id=version.pk, actor=bank.admin)
    assert SchemeVersion.objects.get(pk=version.pk).state == SchemeVersion.State.DRAFT


def test_only_admins_publish(bank):
    version = draft(bank, [("loan_disbursed_amount", "weighted", "100", "F1-120", {})])
    with pytest.raises(PermissionDeniedError):
        library.scheme_version_publish(version_id=version.pk, actor=bank.am1)
    with pytest.raises(PermissionDeniedError):
        library.scheme_version_publish(version_id=version.pk, actor=bank.manager_a)


def test_publication_freezes_and_published_versions_cannot_change(bank):
    version = simple_scheme(bank)
    assert version.state == SchemeVersion.State.PUBLISHED and len(version.spec_hash) == 64
    item = version.items.first()
    assert item.resolved["formula_kind"] == "F1" and item.resolved["params"] == {"cap": "1.2", "floor": "0"}
    # a later edit of the formula preset does not leak into the published version
    Formula.objects.filter(code="F1-120").update(parameters={"cap": "2"})
    item.refresh_from_db()
    assert item.resolved["params"]["cap"] == "1.2"
    items = [
        library.ItemDraft(
            Indicator.objects.get(code="loan_disbursed_amount"), "weighted", Decimal(100), Formula.objects.get(code="F1-120"), {}
        )
    ]
    with pytest.raises(ApplicationError, match="已发布"):
        library.scheme_version_save_items(version_id=version.pk, items=items, actor=bank.admin)
    assert version.items.count() == 2


def test_clone_makes_a_new_draft_version(bank):
    version = simple_scheme(bank)
    clone = library.scheme_version_clone(version_id=version.pk, actor=bank.admin, effective_from=dt.date(2027, 1, 1))
    assert (clone.number, clone.state, clone.items.count()) == (2, SchemeVersion.State.DRAFT, 2)
    assert library.published_version_for(version.scheme, dt.date(2027, 2, 1)).pk == version.pk
    library.scheme_version_publish(version_id=clone.pk, actor=bank.admin)
    assert library.published_version_for(version.scheme, dt.date(2027, 2, 1)).pk == clone.pk
    assert library.published_version_for(version.scheme, dt.date(2026, 12, 1)).pk == version.pk


def test_what_if_validates_then_explains(bank):
    result = library.formula_what_if(
        kind="F9", parameters={"variant": "ratio", "cap": "1.2"}, actual="2.5", target="2", weight="20"
    )
    assert result.score == Decimal(16) and any("T/A" in step for step in result.steps)
    with pytest.raises(ApplicationError, match="cap"):
        library.formula_what_if(kind="F1", parameters={}, actual="1", target="1")


def test_ratio_indicator_needs_parts(bank):
    indicator = Indicator(
        code="bad_ratio", name="坏比率", measure=Indicator.Measure.RATIO, data_source=Indicator.DataSource.EVENT
    )
    with pytest.raises(ApplicationError, match="分子"):
        library.indicator_validate(indicator)
    indicator = Indicator(
        code="bad_event", name="无取数", measure=Indicator.Measure.SUM, data_source=Indicator.DataSource.EVENT, sources=["nope"]
    )
    with pytest.raises(ApplicationError, match="nope"):
        library.indicator_validate(indicator)
