"""riskrules test helpers: officers, small valid graphs, customers ready for decisions."""

import datetime as dt
import itertools
import json

from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer
from jikuai.org import roles
from riskrules.models import RuleSet
from riskrules.policy.products import flow_good_inputs
from tests.factories import InstitutionFactory, make_customer, make_staff

DAY = dt.date(2025, 6, 30)


def officers(institution=None):
    maker = make_staff(role=roles.RISK_OFFICER, institution=institution, name="起草人")
    checker = make_staff(role=roles.RISK_OFFICER, institution=institution, name="复核人")
    return maker, checker


def age_graph(*, rows=None, schema=None, extra_nodes=(), summary=True) -> dict:
    """input(age) → first-hit table on age → summary. Valid unless the arguments break it."""
    schema = schema if schema is not None else {"type": "object", "properties": {"age": {"type": ["integer", "null"]}}}
    rows = (
        rows
        if rows is not None
        else [
            {"_id": "r1", "_description": "未成年", "in_age": "< 18", "out_outcome": "'reject'", "out_reason": "'AGE_BELOW_MIN'"},
            {"_id": "r2", "_description": "成年", "in_age": ">= 18", "out_outcome": "'approve'", "out_reason": ""},
            {"_id": "r3", "_description": "兜底", "in_age": "", "out_outcome": "'refer'", "out_reason": "'SC_UNBANDED'"},
        ]
    )
    nodes = [
        {"id": "input", "type": "inputNode", "name": "输入", "content": {"schema": json.dumps(schema)}},
        {
            "id": "age_table",
            "type": "decisionTableNode",
            "name": "年龄",
            "content": {
                "hitPolicy": "first",
                "passThrough": True,
                "inputs": [{"id": "in_age", "name": "年龄", "field": "age"}],
                "outputs": [
                    {"id": "out_outcome", "name": "结论", "field": "outcome"},
                    {"id": "out_reason", "name": "原因", "field": "reason"},
                ],
                "rules": rows,
            },
        },
    ]
    nodes += list(extra_nodes)
    if summary:
        nodes.append(
            {
                "id": "summary",
                "type": "expressionNode",
                "name": "结论",
                "content": {
                    "passThrough": False,
                    "expressions": [
                        {"id": "s1", "key": "outcome", "value": "outcome"},
                        {"id": "s2", "key": "reasons", "value": "reason != null ? [reason] : []"},
                    ],
                },
            }
        )
    nodes.append({"id": "output", "type": "outputNode", "name": "输出"})
    edges = [{"id": f"e{i}", "sourceId": a["id"], "targetId": b["id"]} for i, (a, b) in enumerate(itertools.pairwise(nodes))]
    return {"nodes": nodes, "edges": edges}


AGE_TESTS = [
    {"name": "未成年拒绝", "inputs": {"age": 16}, "expected": {"outcome": "reject", "reasons": ["AGE_BELOW_MIN"]}},
    {"name": "成年通过", "inputs": {"age": 30}, "expected": {"outcome": "approve", "reasons": []}},
]


def make_ruleset(code="t_age", kind="admission", institution=None, max_reasons=3):
    return RuleSet.objects.create(code=code, name=f"测试 {code}", kind=kind, institution=institution, max_reasons=max_reasons)


def farmer_customer(*, institution=None, age=40, kyc=True, consent=True, income="12000", **extra) -> Customer:
    customer = make_customer(
        institution=institution or InstitutionFactory(), age=age, occupation="farmer", monthly_income=income, **extra
    )
    if kyc:
        Customer.objects.filter(pk=customer.pk).update(kyc_status=Customer.KycStatus.VERIFIED)
        customer.refresh_from_db()
    if consent:
        customer_services.consent_grant(customer=customer, purpose="credit_report", text_version="v1", channel="web")
    return customer


def jnkd_inputs(**overrides) -> dict:
    """Application inputs for 吉农快贷 with a customer (customer/list variables are resolved by riskrules)."""
    base = {
        "decision_date": DAY.isoformat(),
        "monthly_debt_fen": 200_000,
        "current_overdue_count": 0,
        "employment_years": 10,
        "deposit_avg_6m_fen": 6_000_000,
        "past_overdue_times_24m": 0,
        "household_appraisal": "excellent",
        "whitelist_limit_fen": 20_000_000,
    }
    base.update(overrides)
    return base


__all__ = ["flow_good_inputs"]
