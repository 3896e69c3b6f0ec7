"""Customer pages of credit lines (我的额度 / 用信): my lines, drawdown form → confirmation with the
schedule and APR → result with a link to the loan. Server-rendered, mobile-first, no JavaScript; the
confirmation carries a one-time token so a double submit draws only once."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from jikuai.core.exceptions import ApplicationError
from jikuai.core.workdays import get_business_date
from jikuai.web.decorators import customer_required
from lending import schedule as sched
from lending import selectors_lines as selectors
from lending.forms_lines import METHOD_LABELS, DrawdownForm
from lending.models import ApplicationChannel, CreditLineState, DrawdownState
from lending.services.lines import check_line_usable, drawdown_quote, drawdown_request
from lending.views import _error_text, _new_token, _use_token

LINE_STATES = {
    CreditLineState.ACTIVE: gettext_lazy("有效"),
    CreditLineState.FROZEN: gettext_lazy("已冻结"),
    CreditLineState.CLOSED: gettext_lazy("已关闭"),
    CreditLineState.EXPIRED: gettext_lazy("已到期"),
}
DRAWDOWN_STATES = {
    DrawdownState.REQUESTED: gettext_lazy("已受理"),
    DrawdownState.DISBURSING: gettext_lazy("放款处理中"),
    DrawdownState.DISBURSED: gettext_lazy("已放款"),
    DrawdownState.FAILED: gettext_lazy("放款失败"),
}


def _usable(line, business_date) -> bool:
    try:
        check_line_usable(line, business_date)
    except ApplicationError:
        return False
    return line.available > 0


@customer_required
def line_list(request):
    """我的额度: limit, used, available, validity and state of each line, and recent drawdowns."""
    business_date = get_business_date()
    lines = list(selectors.credit_line_list_for_customer(request.customer))
    for line in lines:
        line.state_label = LINE_STATES.get(line.state, line.state)
        line.usable = _usable(line, business_date)
        line.rate_percent = sched.fmt_percent(line.annual_rate * 100)
    drawdowns = list(selectors.drawdown_list_for_customer(request.customer)[:20])
    for drawdown in drawdowns:
        drawdown.state_label = DRAWDOWN_STATES.get(drawdown.state, drawdown.state)
    return render(request, "lending/lines/line_list.html", {"lines": lines, "drawdowns": drawdowns})


@never_cache
@customer_required
@require_http_methods(["GET", "POST"])
def drawdown_new(request, line_id: int):
    """GET: the form; GET with values: the confirmation (schedule, APR); POST: draw (one-time token)."""
    line = selectors.credit_line_get_for_customer(request.customer, line_id)
    if line is None:
        raise Http404
    line.state_label = LINE_STATES.get(line.state, line.state)
    line.rate_percent = sched.fmt_percent(line.annual_rate * 100)
    data = request.POST if request.method == "POST" else (request.GET if "amount" in request.GET else None)
    form = DrawdownForm(data, product=line.product, initial={"amount": line.available})
    quote = error = None
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            if request.method == "POST":
                if not _use_token(request, values.get("token") or ""):
                    messages.warning(request, _("请勿重复提交。"))
                    return redirect("lending:line_list")
                drawdown = drawdown_request(
                    line_id=line.pk,
                    customer=request.customer,
                    amount=values["amount"],
                    term_months=values["term_months"],
                    repayment_method=values["repayment_method"],
                    channel=ApplicationChannel.WEB,
                )
                return redirect("lending:drawdown_result", drawdown_id=drawdown.pk)
            quote = drawdown_quote(
                line_id=line.pk,
                customer=request.customer,
                amount=values["amount"],
                term_months=values["term_months"],
                repayment_method=values["repayment_method"],
            )
        except ApplicationError as exc:
            error = _error_text(exc)
            quote = None
    template = "lending/lines/drawdown_confirm.html" if quote else "lending/lines/drawdown_form.html"
    return render(
        request,
        template,
        {
            "line": line,
            "form": form,
            "quote": quote,
            "error": error,
            "token": _new_token(request),
            "method_label": dict(METHOD_LABELS).get(quote.repayment_method, "") if quote else "",
        },
    )


@never_cache
@customer_required
def drawdown_result(request, drawdown_id: int):
    drawdown = selectors.drawdown_get_for_customer(request.customer, drawdown_id)
    if drawdown is None:
        raise Http404
    drawdown.state_label = DRAWDOWN_STATES.get(drawdown.state, drawdown.state)
    return render(request, "lending/lines/drawdown_result.html", {"drawdown": drawdown, "line": drawdown.line})
