"""Reads for the rule flow, scoped to who asks.

Institution staff see the province-wide rule sets, versions, deployments and list entries (read) plus
their own institution's; decisions only of their own institution."""

from django.db.models import Q, QuerySet

from jikuai.org.scoping import scope_for
from riskrules.models import DecisionRecord, Deployment, ListEntry, RuleSet, RuleVersion

VERSION_HEAVY_FIELDS = ("content", "test_report", "validation_report", "input_variables")


def _institution_or_province(queryset: QuerySet, user, path: str) -> QuerySet:
    scope = scope_for(user)
    if scope.level == "all":
        return queryset
    if scope.level == "none" or scope.institution_id is None:
        return queryset.none()
    return queryset.filter(Q(**{f"{path}__isnull": True}) | Q(**{path: scope.institution_id}))


def ruleset_list_for_staff(user) -> QuerySet:
    return _institution_or_province(RuleSet.objects.select_related("institution", "owner"), user, "institution")


def version_list_for_staff(user) -> QuerySet:
    return _institution_or_province(
        RuleVersion.objects.select_related("rule_set", "author", "approver"), user, "rule_set__institution"
    )


def deployment_list_for_staff(user) -> QuerySet:
    return _institution_or_province(
        Deployment.objects.select_related("rule_set", "champion", "challenger").defer(
            *(f"champion__{f}" for f in VERSION_HEAVY_FIELDS), *(f"challenger__{f}" for f in VERSION_HEAVY_FIELDS)
        ),
        user,
        "rule_set__institution",
    )


def list_entries_for_staff(user) -> QuerySet:
    return _institution_or_province(ListEntry.objects.select_related("maker", "checker", "institution"), user, "institution")


def decisions_for_staff(user) -> QuerySet:
    return (
        DecisionRecord.objects.visible_to(user)
        .select_related("rule_set", "version", "institution")
        .defer(*(f"version__{f}" for f in VERSION_HEAVY_FIELDS))
    )


def decisions_for_institution(
    *, institution_id: int, subject_kind: str | None = None, subject_id: str | None = None, ruleset_code: str | None = None
) -> QuerySet:
    queryset = (
        DecisionRecord.objects.filter(institution_id=institution_id)
        .select_related("rule_set", "version")
        .defer(*(f"version__{f}" for f in VERSION_HEAVY_FIELDS))
        .order_by("-id")
    )
    if subject_kind:
        queryset = queryset.filter(subject_kind=subject_kind)
    if subject_id:
        queryset = queryset.filter(subject_id=subject_id)
    if ruleset_code:
        queryset = queryset.filter(rule_set__code=ruleset_code)
    return queryset


def version_get(*, version_id: int) -> RuleVersion | None:
    return RuleVersion.objects.select_related("rule_set").filter(pk=version_id).first()
