"""Roles (groups) kept in code: names, how far each one sees, and the model permissions it holds.

| role | sees | may do |
|---|---|---|
| 省联社管理员 province admin | everything | everything in the admin; configures institutions, roles, products, rules |
| 法人行社管理员 institution admin | own institution | staff, branches, customers, configuration of own institution |
| 支行行长 branch manager | own branch | customers and business of the branch, approvals within tier, claims, appeals |
| 客户经理 account manager | customers assigned to them (branch for other data) | create customers and applications in the field, post-loan visits |
| 审批员 credit reviewer | own institution | review tasks, approvals within tier (never their own applications) |
| 风险管理员 risk officer | own institution | rule sets, lists, classification changes (maker-checker) |
| 运营 operations | own institution | repayments entry, COB runs, events and jobs, settlements |
| 商户管理员 merchant ops | own institution | merchants, benefits, vouchers, settlements |

The permission lists name ``app_label.codename``; codenames of apps that are not installed yet are
ignored, and the sync runs after every migrate so new models pick up their grants.
"""

from dataclasses import dataclass

PROVINCE_ADMIN = "省联社管理员"
INSTITUTION_ADMIN = "法人行社管理员"
BRANCH_MANAGER = "支行行长"
ACCOUNT_MANAGER = "客户经理"
CREDIT_REVIEWER = "审批员"
RISK_OFFICER = "风险管理员"
OPERATIONS = "运营"
MERCHANT_OPS = "商户管理员"

ALL_ROLES = [
    PROVINCE_ADMIN,
    INSTITUTION_ADMIN,
    BRANCH_MANAGER,
    ACCOUNT_MANAGER,
    CREDIT_REVIEWER,
    RISK_OFFICER,
    OPERATIONS,
    MERCHANT_OPS,
]

# scope levels, widest first
ALL = "all"
INSTITUTION = "institution"
BRANCH = "branch"
ASSIGNED = "assigned"
NONE = "none"
LEVEL_ORDER = [ALL, INSTITUTION, BRANCH, ASSIGNED, NONE]

ROLE_SCOPE = {
    PROVINCE_ADMIN: ALL,
    INSTITUTION_ADMIN: INSTITUTION,
    CREDIT_REVIEWER: INSTITUTION,
    RISK_OFFICER: INSTITUTION,
    OPERATIONS: INSTITUTION,
    MERCHANT_OPS: INSTITUTION,
    BRANCH_MANAGER: BRANCH,
    ACCOUNT_MANAGER: ASSIGNED,
}


@dataclass(frozen=True)
class RoleGrant:
    """Model-level grants: ``{"app_label.model": "vacd"}`` (view, add, change, delete) plus extra codenames."""

    models: dict[str, str]
    extra: tuple[str, ...] = ()


_VIEW_ALL_KERNEL = {
    "org.institution": "v",
    "org.branch": "v",
    "org.staff": "v",
    "customers.region": "v",
    "customers.customer": "v",
    "customers.household": "v",
    "customers.householdmember": "v",
    "customers.consent": "v",
}

ROLE_GRANTS: dict[str, RoleGrant] = {
    PROVINCE_ADMIN: RoleGrant(models={"*": "vacd"}),
    INSTITUTION_ADMIN: RoleGrant(
        models={
            **_VIEW_ALL_KERNEL,
            "org.branch": "vac",
            "org.staff": "vac",
            "org.user": "vac",
            "customers.customer": "vac",
            "customers.household": "vac",
            "customers.householdmember": "vacd",
            "customers.region": "vac",
            "core.outboxevent": "v",
            "core.jobrun": "v",
            "core.calendarday": "vacd",
            "core.businessdate": "v",
            "api.integratorclient": "vac",
            "django_celery_beat.periodictask": "vc",
        },
        extra=("customers.view_full_pii",),
    ),
    BRANCH_MANAGER: RoleGrant(
        models={
            **_VIEW_ALL_KERNEL,
            "customers.customer": "vac",
            "customers.household": "vac",
            "customers.householdmember": "vac",
        },
        extra=("customers.view_full_pii",),
    ),
    ACCOUNT_MANAGER: RoleGrant(
        models={
            **_VIEW_ALL_KERNEL,
            "customers.customer": "vac",
            "customers.household": "vac",
            "customers.householdmember": "vac",
            "customers.consent": "va",
        },
    ),
    CREDIT_REVIEWER: RoleGrant(models={**_VIEW_ALL_KERNEL}, extra=("customers.view_full_pii",)),
    RISK_OFFICER: RoleGrant(models={**_VIEW_ALL_KERNEL}),
    OPERATIONS: RoleGrant(
        models={
            **_VIEW_ALL_KERNEL,
            "core.outboxevent": "vc",
            "core.jobrun": "v",
            "core.businessdate": "v",
            "core.calendarday": "vacd",
            "django_celery_beat.periodictask": "vc",
        },
    ),
    MERCHANT_OPS: RoleGrant(models={**_VIEW_ALL_KERNEL}),
}

_ACTIONS = {"v": "view", "a": "add", "c": "change", "d": "delete"}


def register_grants(role: str, models: dict[str, str], extra: tuple[str, ...] = ()) -> None:
    """Domain apps add the grants for their own models from their AppConfig.ready()."""
    grant = ROLE_GRANTS[role]
    merged = dict(grant.models)
    for key, actions in models.items():
        merged[key] = "".join(sorted(set(merged.get(key, "")) | set(actions), key="vacd".index))
    ROLE_GRANTS[role] = RoleGrant(models=merged, extra=tuple(dict.fromkeys(grant.extra + tuple(extra))))


def sync_role_permissions(**_kwargs) -> None:
    """Create the role groups and set their permissions to exactly what the code says."""
    from django.contrib.auth.models import Group, Permission

    all_permissions = list(Permission.objects.select_related("content_type"))
    by_key = {f"{p.content_type.app_label}.{p.codename}": p for p in all_permissions}
    for role in ALL_ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        grant = ROLE_GRANTS[role]
        wanted = set()
        if "*" in grant.models:
            wanted = set(all_permissions)
        for model_key, actions in grant.models.items():
            if model_key == "*":
                continue
            app_label, model = model_key.split(".")
            for letter in actions:
                perm = by_key.get(f"{app_label}.{_ACTIONS[letter]}_{model}")
                if perm:
                    wanted.add(perm)
        for key in grant.extra:
            if key in by_key:
                wanted.add(by_key[key])
        group.permissions.set(wanted)
