"""Refused drawdowns and line requests: a clear Chinese message (English for the API), a stable code,
and nothing changed — line balances, journal, drawdowns, loans and requests are exactly as before."""

import datetime as dt
from decimal import Decimal

import pytest

from jikuai.core.exceptions import ApplicationError
from jikuai.core.workdays import business_date_set
from lending.models import CreditLine, CreditLineChange, CreditLineRequest, Drawdown, Loan
from lending.services.lines import (
    credit_line_request_approve,
    credit_line_request_reject,
    credit_line_request_submit,
    drawdown_quote,
    drawdown_request,
)
from riskrules.policy.seed import seed_catalogue, seed_policy
from riskrules.services import lists as list_services
from tests.factories import make_customer, make_staff, new_id_number
from tests.lending.factories import make_loan
from tests.lending.lines_factories import assert_balanced, open_line
from tests.riskrules.factories import officers

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        list(CreditLine.objects.order_by("id").values_list("limit", "used", "available", "state")),
        CreditLineChange.objects.count(),
        Drawdown.objects.count(),
        Loan.objects.count(),
        list(CreditLineRequest.objects.order_by("id").values_list("status", "checker_id")),
    )


def refused(code, func, **kwargs):
    before = snapshot()
    with pytest.raises(ApplicationError) as exc:
        func(**kwargs)
    assert exc.value.code == code, exc.value.message
    assert exc.value.message_zh and exc.value.message_en and exc.value.message_zh != exc.value.message_en
    assert snapshot() == before, "a refused request changed something"
    for line in CreditLine.objects.all():
        assert_balanced(line)
    return exc.value


def drawdown(line, **overrides):
    values = {"line_id": line.pk, "amount": "10000", "term_months": 6, "repayment_method": "equal_principal", "channel": "web"}
    values.update(overrides)
    return values


def test_amount_above_available():
    line = open_line(amount="30000")
    drawdown_request(**drawdown(line, amount="25000"))
    error = refused("amount_exceeds_available", drawdown_request, **drawdown(line, amount="5000.01"))
    assert "超过可用额度 5,000.00 元" in error.message_zh
    refused(
        "amount_exceeds_available", drawdown_quote, **{k: v for k, v in drawdown(line, amount="6000").items() if k != "channel"}
    )


def test_frozen_and_expired_lines():
    line = open_line()
    CreditLine.objects.filter(pk=line.pk).update(state="frozen")
    assert "冻结" in refused("line_frozen", drawdown_request, **drawdown(line)).message_zh
    CreditLine.objects.filter(pk=line.pk).update(state="active")
    business_date_set(day=line.valid_until + dt.timedelta(days=1))  # past validity, the job has not run yet
    assert "到期" in refused("line_expired", drawdown_request, **drawdown(line)).message_zh


def test_another_customers_line_is_not_found():
    line = open_line()
    stranger = make_customer(institution=line.institution)
    refused("credit_line_not_found", drawdown_request, **drawdown(line, customer=stranger))
    refused("credit_line_not_found", drawdown_request, **drawdown(line, line_id=999999))


def test_term_method_and_amount_outside_the_product():
    line = open_line(term_options=[3, 6, 12], allowed_methods=["equal_installment", "equal_principal"])
    assert "期限须为" in refused("term_not_allowed", drawdown_request, **drawdown(line, term_months=24)).message_zh
    refused("term_not_allowed", drawdown_request, **drawdown(line, term_months="abc"))
    assert (
        "不支持还款方式"
        in refused("method_not_allowed", drawdown_request, **drawdown(line, repayment_method="bullet")).message_zh
    )
    refused("unknown_method", drawdown_request, **drawdown(line, repayment_method="balloon"))
    refused("amount_out_of_range", drawdown_request, **drawdown(line, amount="500"))  # below the product minimum
    refused("invalid_amount", drawdown_request, **drawdown(line, amount="-1"))
    refused("invalid_amount", drawdown_request, **drawdown(line, amount="100.001"))
    refused("invalid_channel", drawdown_request, **drawdown(line, channel="sms"))
    line.product.channels = ["web", "field"]
    line.product.save(update_fields=["channels"])
    refused("channel_not_allowed", drawdown_request, **drawdown(line, channel="api"))


def test_black_list_refuses_a_drawdown():
    id_number = new_id_number()
    line = open_line(customer=make_customer(id_number=id_number))
    seed_catalogue()  # reason codes
    maker, checker = officers()
    entry = list_services.list_entry_create(
        maker=maker,
        list_kind="black",
        key_type="id_number",
        key_value=id_number,
        reason_code="LIST_NPL",
        source="internal_npl",
        valid_from=dt.date(2025, 1, 1),
    )
    list_services.list_entry_check(entry_id=entry.pk, checker=checker, approve=True)
    assert "黑名单" in refused("blacklisted", drawdown_request, **drawdown(line)).message_zh


def test_an_overdue_loan_refuses_a_drawdown():
    line = open_line(day=dt.date(2026, 1, 15))
    loan = make_loan(customer=line.customer, value_date=dt.date(2026, 1, 15))
    Loan.objects.filter(pk=loan.pk).update(state="overdue")
    assert "逾期" in refused("current_overdue", drawdown_request, **drawdown(line)).message_zh


def test_line_requests_bad_input():
    line = open_line(amount="50000")
    drawdown_request(**drawdown(line, amount="20000"))
    maker = make_staff(role="运营", institution=line.institution)
    checker = make_staff(role="运营", institution=line.institution)
    error = refused(
        "limit_below_used",
        credit_line_request_submit,
        line_id=line.pk,
        action="adjust",
        maker=maker,
        reason="调额",
        new_limit="19999.99",
    )
    assert "不能低于已用额度" in error.message_zh
    refused("new_limit_required", credit_line_request_submit, line_id=line.pk, action="adjust", maker=maker, reason="调额")
    refused("reason_required", credit_line_request_submit, line_id=line.pk, action="freeze", maker=maker, reason=" ")
    refused("invalid_action", credit_line_request_submit, line_id=line.pk, action="delete", maker=maker, reason="x")
    refused("line_not_frozen", credit_line_request_submit, line_id=line.pk, action="unfreeze", maker=maker, reason="x")
    refused("line_in_use", credit_line_request_submit, line_id=line.pk, action="close", maker=maker, reason="x")
    request = credit_line_request_submit(line_id=line.pk, action="freeze", maker=maker, reason="风险排查")
    refused("request_pending", credit_line_request_submit, line_id=line.pk, action="freeze", maker=maker, reason="again")
    error = refused("maker_is_checker", credit_line_request_approve, request_id=request.pk, checker=maker)
    assert "双人复核" in error.message_zh
    refused("maker_is_checker", credit_line_request_reject, request_id=request.pk, checker=maker)
    credit_line_request_reject(request_id=request.pk, checker=checker)
    refused("request_decided", credit_line_request_approve, request_id=request.pk, checker=checker)
    # approval re-checks: used grew after an adjust request was made
    request = credit_line_request_submit(line_id=line.pk, action="adjust", maker=maker, reason="降额", new_limit="25000")
    drawdown_request(**drawdown(line, amount="10000"))
    refused("limit_below_used", credit_line_request_approve, request_id=request.pk, checker=checker)
    assert assert_balanced(line).limit == Decimal("50000.00")


def test_a_configured_re_check_rule_set_refuses_at_drawdown(settings):
    """With the full admission rules configured as the re-check, 吉农快贷's rules reject a farmer who is
    not on the whole-village white list (the default re-check is the lighter early-warning set)."""
    settings.JIKUAI_LENDING_DRAWDOWN_RULESET = "jnkd_admission"  # the factory product has its own code
    seed_policy(product_codes=["jnkd"])
    line = open_line(admission_ruleset="jnkd_admission")
    error = refused("admission_rejected", drawdown_request, **drawdown(line))
    assert "NOT_ON_WHITELIST" in error.extra["reasons"] and "未通过" in error.message_zh


def test_the_early_warning_re_check_passes_a_clean_customer_and_is_recorded(settings):
    settings.JIKUAI_LENDING_DRAWDOWN_RULESET = "jnkd_early_warning"  # the default "{code}_early_warning" for jnkd
    seed_policy(product_codes=["jnkd"])
    line = open_line(admission_ruleset="jnkd_admission")  # not on the white list: admission would reject
    drawn = drawdown_request(**drawdown(line))
    assert drawn.state == "disbursed" and drawn.decision_id is not None
    from riskrules.models import DecisionRecord

    assert DecisionRecord.objects.get(pk=drawn.decision_id).rule_set.code == "jnkd_early_warning"
