"""Idempotent seeding of the policy: catalogue, reason codes, LPR, the rule sets of the seven products
(drafted, tested, approved by a second officer and published through the services, so the seed passes
the same guard-rails as any officer's change)."""

import datetime as dt

from django.contrib.auth.models import Group
from django.db import transaction

from jikuai.org import roles
from jikuai.org.models import Staff, User
from riskrules.canonical import content_hash
from riskrules.catalogue import load_catalogue
from riskrules.models import Deployment, LprRate, ReasonCode, RuleSet, RuleVersion, Variable
from riskrules.policy import products
from riskrules.policy.catalogue import REASON_CODES, VARIABLES

# 1-year / 5-year LPR (basis points), as published by the National Interbank Funding Center
LPR_HISTORY = [
    (dt.date(2024, 7, 22), 335, 385),
    (dt.date(2024, 10, 21), 310, 360),
    (dt.date(2025, 5, 20), 300, 350),
]

SEED_MAKER = "risk_seed_maker"
SEED_CHECKER = "risk_seed_checker"


def seed_catalogue() -> None:
    for definition in VARIABLES:
        Variable.objects.update_or_create(code=definition["code"], defaults={k: v for k, v in definition.items() if k != "code"})
    for code, text_zh, text_en, category in REASON_CODES:
        ReasonCode.objects.update_or_create(
            code=code, defaults={"text_zh": text_zh, "text_en": text_en, "category": category, "is_adverse": category != "system"}
        )
    for effective_date, one_year, five_year in LPR_HISTORY:
        LprRate.objects.get_or_create(
            effective_date=effective_date, defaults={"one_year_bp": one_year, "five_year_bp": five_year}
        )


def seed_officers() -> tuple[Staff, Staff]:
    """Two province-level risk officers (maker and checker). Existing province risk officers are
    used when there are two; otherwise two seed accounts without a usable password are created."""
    group, _ = Group.objects.get_or_create(name=roles.RISK_OFFICER)
    existing = list(Staff.objects.filter(user__groups=group, institution__isnull=True, is_active=True).order_by("id")[:2])
    if len(existing) == 2:
        return existing[0], existing[1]
    officers = []
    for username, name, number in (
        (SEED_MAKER, "规则起草（系统）", "RISK-SEED-1"),
        (SEED_CHECKER, "规则复核（系统）", "RISK-SEED-2"),
    ):
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(group)
        staff, _ = Staff.objects.get_or_create(user=user, defaults={"employee_no": number, "name": name})
        officers.append(staff)
    return officers[0], officers[1]


def publish_definition(definition, *, maker: Staff, checker: Staff) -> RuleVersion:
    """Make ``definition`` the published champion of its rule set (no-op when it already is)."""
    from riskrules.services import versions as svc

    rule_set, _ = RuleSet.objects.get_or_create(
        code=definition.code,
        institution=None,
        defaults={
            "name": definition.name,
            "kind": definition.kind,
            "product_code": definition.product_code,
            "description": definition.description,
            "max_reasons": definition.max_reasons,
            "owner": maker,
        },
    )
    key = content_hash(definition.content)
    deployment = Deployment.objects.filter(rule_set=rule_set, channel="default").select_related("champion").first()
    if deployment is not None and deployment.champion.content_hash == key:
        return deployment.champion
    version = rule_set.versions.filter(content_hash=key).exclude(status=RuleVersion.Status.RETIRED).order_by("-number").first()
    if version is None:
        version = svc.version_create(
            rule_set=rule_set,
            content=definition.content,
            author=maker,
            change_note="初始化规则（种子数据） seeded policy",
            test_cases=definition.test_cases,
        )
    if version.status == RuleVersion.Status.DRAFT:
        version = svc.version_submit(version_id=version.pk, actor=maker, comment="种子数据提交")
    if version.status == RuleVersion.Status.IN_REVIEW:
        version = svc.version_approve(version_id=version.pk, actor=checker, comment="种子数据复核")
    if version.status == RuleVersion.Status.APPROVED:
        version = svc.version_publish(version_id=version.pk, actor=checker, effective_from=dt.date(2025, 1, 1))
    return version


def seed_rule_sets(*, maker: Staff, checker: Staff, product_codes=None) -> dict[str, RuleVersion]:
    catalogue = load_catalogue()
    published: dict[str, RuleVersion] = {}
    for code, product in products.PRODUCTS.items():
        if product_codes and code not in product_codes:
            continue
        for builder in products.BUILDERS:
            definition = builder(product, catalogue)
            published[definition.code] = publish_definition(definition, maker=maker, checker=checker)
        if code == "jnkd":
            adm, rat, lim = (published[f"{code}_{kind}"] for kind in ("admission", "rating", "limit"))
            codes = list(dict.fromkeys(adm.input_variables + rat.input_variables + lim.input_variables))
            codes = [c for c in codes if c != "grade"]
            flow = products.credit_flow(
                product,
                catalogue,
                admission_hash=adm.content_hash,
                rating_hash=rat.content_hash,
                limit_hash=lim.content_hash,
                codes=codes,
            )
            published[flow.code] = publish_definition(flow, maker=maker, checker=checker)
        adm, rat, lim, pri = (published[f"{code}_{kind}"] for kind in ("admission", "rating", "limit", "pricing"))
        codes = list(dict.fromkeys(adm.input_variables + rat.input_variables + lim.input_variables + pri.input_variables))
        codes = [c for c in codes if c != "grade"]
        flow = products.origination_flow(
            product,
            catalogue,
            admission_hash=adm.content_hash,
            rating_hash=rat.content_hash,
            limit_hash=lim.content_hash,
            pricing_hash=pri.content_hash,
            codes=codes,
        )
        published[flow.code] = publish_definition(flow, maker=maker, checker=checker)
    return published


def seed_policy(*, product_codes=None) -> dict[str, RuleVersion]:
    with transaction.atomic():
        seed_catalogue()
        maker, checker = seed_officers()
        return seed_rule_sets(maker=maker, checker=checker, product_codes=product_codes)
