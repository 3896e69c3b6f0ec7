"""Origination pages. Customers (`/loans/products/`, `/loans/applications/`): products, apply, the decision
right after submitting, my applications, cancel. Staff field app (移动展业, `/loans/field/`): find or
create a customer and apply on their behalf. Mobile-first, no JavaScript needed; forms carry a
one-time token so a double submit does nothing."""

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from jikuai.core.exceptions import ApplicationError
from jikuai.core.labels import pick
from jikuai.customers import services as customer_services
from jikuai.customers.models import Customer
from jikuai.customers.services import consent_grant, consent_is_active
from jikuai.web.decorators import customer_required, staff_required
from lending import schedule as sched
from lending import selectors_origination as selectors
from lending.models import ApplicationState, Loan, Product, ProductKind, ReviewTask, ReviewTaskStatus
from lending.services.origination import (
    EMPLOYER_CATEGORIES,
    HOUSEHOLD_APPRAISALS,
    application_cancel,
    application_create,
    application_submit,
)
from lending.views import _error_text, _new_token, _use_token

FIELD_ALIASES = {"amount": "amount", "term_months": "term_months", "repayment_method": "repayment_method"}
METHOD_CHOICES = dict(sched.Method.CHOICES)


def method_label(code: str) -> str:
    return pick(METHOD_CHOICES.get(code, code))


STATE_BADGES = {
    ApplicationState.APPROVED: "badge-ok",
    ApplicationState.DISBURSED: "badge-ok",
    ApplicationState.ACTIVE: "badge-ok",
    ApplicationState.REJECTED: "badge-danger",
    ApplicationState.REFERRED: "badge-warn",
    ApplicationState.EXPIRED: "badge-danger",
}
REVIEW_PROMISE = gettext_lazy("通常1个工作日内完成人工审核，结果将短信通知您。")


class ApplyForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    amount = forms.DecimalField(label=gettext_lazy("申请金额（元）"), max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    term_months = forms.TypedChoiceField(label=gettext_lazy("期限"), coerce=int)
    repayment_method = forms.ChoiceField(label=gettext_lazy("还款方式"))
    purpose = forms.CharField(label=gettext_lazy("借款用途"), max_length=200, required=False)
    declared_monthly_income = forms.DecimalField(
        label=gettext_lazy("月收入（元，选填）"), max_digits=12, decimal_places=2, min_value=0, required=False
    )
    employer_category = forms.ChoiceField(
        label=gettext_lazy("单位类别"), choices=[("", "—"), *EMPLOYER_CATEGORIES.items()], required=False
    )
    employment_years = forms.DecimalField(
        label=gettext_lazy("现单位工作年限"), max_digits=4, decimal_places=1, min_value=0, required=False
    )
    business_years = forms.DecimalField(
        label=gettext_lazy("经营年限"), max_digits=4, decimal_places=1, min_value=0, required=False
    )
    household_appraisal = forms.ChoiceField(
        label=gettext_lazy("农户评议结果"), choices=[("", "—"), *HOUSEHOLD_APPRAISALS.items()], required=False
    )
    credit_consent = forms.BooleanField(
        label=gettext_lazy("征信查询授权：本人授权贵行向中国人民银行征信中心查询、使用本人信用信息，用于本次贷款审批及贷后管理"),
        required=False,
    )

    def __init__(self, *args, product: Product, consent_needed: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if consent_needed:
            self.fields["credit_consent"].required = True
            self.fields["credit_consent"].error_messages["required"] = _("请阅读并同意征信查询授权，否则无法审批。")
        else:
            del self.fields["credit_consent"]  # already on file
        self.fields["term_months"].choices = [(t, _("%(n)s 个月") % {"n": t}) for t in product.term_options]
        self.fields["repayment_method"].choices = [(m, method_label(m)) for m in product.allowed_methods]
        self.fields["amount"].help_text = _("%(low)s 至 %(high)s 元") % {
            "low": f"{product.min_amount:,.0f}",
            "high": f"{product.max_amount:,.0f}",
        }
        # ask only what the product's rules read
        if product.segment not in ("employee", "civil_servant", "teacher"):
            del self.fields["employer_category"]
            del self.fields["employment_years"]
        if product.segment not in ("business", "micro_business"):
            del self.fields["business_years"]
        if product.segment != "farmer":
            del self.fields["household_appraisal"]

    def extra_inputs(self) -> dict:
        names = ("employer_category", "employment_years", "business_years", "household_appraisal")
        return {n: self.cleaned_data[n] for n in names if n in self.cleaned_data and self.cleaned_data[n] not in (None, "")}


def _product_rows(products) -> list[dict]:
    return [
        {
            "product": p,
            "methods": "、".join(method_label(m) for m in p.allowed_methods),
            "terms": "、".join(str(t) for t in p.term_options),
            "min_rate": p.min_rate * 100,
            "max_rate": p.max_rate * 100,
        }
        for p in products
    ]


def _apply_to_form(form: ApplyForm, exc: ApplicationError) -> None:
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, _error_text(exc))


CREDIT_CONSENT_VERSION = "2026-01"


def _consent_needed(customer: Customer) -> bool:
    return not consent_is_active(customer_id=customer.pk, purpose="credit_report")


def _create_and_submit(
    form: ApplyForm, *, customer: Customer, product: Product, channel: str, staff=None, ip_address: str | None = None
):
    data = form.cleaned_data
    if data.get("credit_consent"):
        consent_grant(
            customer=customer,
            purpose="credit_report",
            text_version=CREDIT_CONSENT_VERSION,
            channel=channel,
            ip_address=ip_address,
        )
    app = application_create(
        customer=customer,
        product=product,
        amount=data["amount"],
        term_months=data["term_months"],
        repayment_method=data["repayment_method"],
        channel=channel,
        purpose=data["purpose"],
        staff=staff,
        declared_monthly_income=data.get("declared_monthly_income"),
        extra_inputs=form.extra_inputs(),
    )
    return application_submit(application_id=app.pk, staff=staff, customer=None if staff else customer)


OFFER_STATES = (
    ApplicationState.APPROVED,
    ApplicationState.CONTRACT_PENDING,
    ApplicationState.SIGNED,
    ApplicationState.ACTIVE,
    ApplicationState.DISBURSED,
)


def _decision_context(app) -> dict:
    task = None
    if app.state == ApplicationState.REFERRED:
        task = ReviewTask.objects.filter(application=app, status__in=[ReviewTaskStatus.OPEN, ReviewTaskStatus.CLAIMED]).first()
    contract = app.contracts.exclude(state="void").order_by("-id").first()
    line = getattr(app, "credit_line", None) if app.kind == ProductKind.LINE else None
    loan = None
    if app.state == ApplicationState.DISBURSED and contract is not None:
        loan = Loan.objects.filter(contract_no=contract.contract_no, customer_id=app.customer_id).first()
    return {
        "app": app,
        "contract": contract,
        "credit_line": line,
        "loan": loan,
        "offer_states": OFFER_STATES,
        "badge": STATE_BADGES.get(app.state, ""),
        "state_label": pick(app.get_state_display()),
        "method_label": method_label(app.repayment_method),
        "rate_percent": app.annual_rate * 100 if app.annual_rate is not None else None,
        "apr_percent": app.apr * 100 if app.apr is not None else None,
        "reason_texts": [text for _code, text in app.reasons or []],
        "review_task": task,
        "review_promise": REVIEW_PROMISE,
        "is_line": app.kind == ProductKind.LINE,
        "can_cancel": app.state
        in (
            ApplicationState.DRAFT,
            ApplicationState.SUBMITTED,
            ApplicationState.REFERRED,
            ApplicationState.APPROVED,
            ApplicationState.CONTRACT_PENDING,
        ),
    }


# --- customer pages ---------------------------------------------------------------------------------------


@customer_required
def product_list(request):
    products = selectors.product_list_for_customer(request.customer)
    return render(request, "lending/origination/product_list.html", {"rows": _product_rows(products)})


@customer_required
def product_detail(request, code: str):
    product = selectors.product_get_for_customer(request.customer, code)
    if product is None:
        raise Http404
    return render(request, "lending/origination/product_detail.html", {"row": _product_rows([product])[0]})


@never_cache
@customer_required
@require_http_methods(["GET", "POST"])
def apply(request, code: str):
    customer = request.customer
    product = selectors.product_get_for_customer(customer, code)
    if product is None:
        raise Http404
    if request.method == "POST":
        form = ApplyForm(request.POST, product=product, consent_needed=_consent_needed(customer))
        if form.is_valid():
            if not _use_token(request, form.cleaned_data["token"]):
                messages.warning(request, _("请勿重复提交。"))
                return redirect("lending:applications")
            try:
                app = _create_and_submit(
                    form, customer=customer, product=product, channel="web", ip_address=request.META.get("REMOTE_ADDR")
                )
            except ApplicationError as exc:
                _apply_to_form(form, exc)
            else:
                return redirect("lending:application", application_id=app.pk)
        form.data = form.data.copy()
        form.data["token"] = _new_token(request)
    else:
        form = ApplyForm(
            initial={"token": _new_token(request), "term_months": 12, "repayment_method": product.default_method},
            product=product,
            consent_needed=_consent_needed(customer),
        )
    return render(request, "lending/origination/apply.html", {"product": product, "form": form, "field_mode": False})


@customer_required
def application_list(request):
    rows = [
        {"app": app, "badge": STATE_BADGES.get(app.state, ""), "state_label": pick(app.get_state_display())}
        for app in selectors.application_list_for_customer(request.customer)[:100]
    ]
    return render(request, "lending/origination/application_list.html", {"rows": rows})


@never_cache
@customer_required
def application_detail(request, application_id: int):
    app = selectors.application_get_for_customer(request.customer, application_id)
    if app is None:
        raise Http404
    return render(request, "lending/origination/decision.html", {**_decision_context(app), "field_mode": False})


@customer_required
@require_POST
def application_submit_view(request, application_id: int):
    """Submit a draft (e.g. one an account manager prepared) and show the decision."""
    try:
        application_submit(application_id=application_id, customer=request.customer)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    return redirect("lending:application", application_id=application_id)


@customer_required
@require_POST
def application_cancel_view(request, application_id: int):
    reason = (request.POST.get("reason") or "").strip() or _("客户主动撤销")
    try:
        application_cancel(application_id=application_id, reason=reason, customer=request.customer)
    except ApplicationError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("申请已撤销。"))
    return redirect("lending:application", application_id=application_id)


# --- staff field app (移动展业) ------------------------------------------------------------------------------


class FindCustomerForm(forms.Form):
    id_number = forms.CharField(label=gettext_lazy("客户身份证号"), max_length=18, min_length=15)


class NewCustomerForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("姓名"), max_length=50)
    id_number = forms.CharField(label=gettext_lazy("身份证号"), max_length=18)
    mobile = forms.CharField(label=gettext_lazy("手机号"), max_length=11)
    occupation = forms.ChoiceField(label=gettext_lazy("职业"), choices=Customer.Occupation.choices)
    employer = forms.CharField(label=gettext_lazy("工作单位"), max_length=100, required=False)
    monthly_income = forms.DecimalField(label=gettext_lazy("月收入（元）"), max_digits=12, decimal_places=2, min_value=0)
    address = forms.CharField(label=gettext_lazy("住址"), max_length=200, required=False)


def _staff(request):
    staff = getattr(request.user, "staff", None) if hasattr(request.user, "staff") else None
    if staff is None or staff.institution_id is None or not staff.is_active:
        raise Http404  # the field app is for an institution's staff
    return staff


def _field_customer(staff, customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id, institution_id=staff.institution_id).first()
    if customer is None:
        raise Http404
    return customer


@never_cache
@staff_required
@require_http_methods(["GET", "POST"])
def field_home(request):
    staff = _staff(request)
    find = FindCustomerForm(request.GET or None)
    found = None
    searched = False
    if request.GET and find.is_valid():
        searched = True
        try:
            found = customer_services.customer_find_by_id_number(
                institution=staff.institution, id_number=find.cleaned_data["id_number"]
            ).first()
        except Exception:  # an unparsable ID number
            find.add_error("id_number", _("身份证号格式不正确。"))
    new = NewCustomerForm(request.POST or None, initial={"id_number": request.GET.get("id_number", "")})
    if request.method == "POST" and new.is_valid():
        try:
            customer = customer_services.customer_create(
                institution=staff.institution,
                branch=staff.branch,
                account_manager=staff,
                channel=Customer.Channel.FIELD,
                **new.cleaned_data,
            )
        except ApplicationError as exc:
            field = exc.extra.get("field")
            new.add_error(field if field in new.fields else None, _error_text(exc))
        else:
            messages.success(request, _("客户已建档，请完成实名认证并发起申请。"))
            return redirect("lending:field_customer", customer_id=customer.pk)
    recent = selectors.application_list_for_staff(request.user).filter(created_by_staff=staff)[:20]
    return render(
        request,
        "lending/origination/field_home.html",
        {"staff": staff, "find": find, "found": found, "searched": searched, "new": new, "recent": recent},
    )


@staff_required
def field_customer(request, customer_id: int):
    staff = _staff(request)
    customer = _field_customer(staff, customer_id)
    products = selectors.product_list_for_customer(customer, channel="field")
    return render(
        request,
        "lending/origination/field_customer.html",
        {"customer": customer, "rows": _product_rows(products), "kyc_label": customer.get_kyc_status_display()},
    )


@never_cache
@staff_required
@require_http_methods(["GET", "POST"])
def field_apply(request, customer_id: int, code: str):
    staff = _staff(request)
    customer = _field_customer(staff, customer_id)
    product = selectors.product_get_for_customer(customer, code, channel="field")
    if product is None:
        raise Http404
    if request.method == "POST":
        form = ApplyForm(request.POST, product=product, consent_needed=_consent_needed(customer))
        if form.is_valid():
            if not _use_token(request, form.cleaned_data["token"]):
                messages.warning(request, _("请勿重复提交。"))
                return redirect("lending:field")
            try:
                app = _create_and_submit(
                    form,
                    customer=customer,
                    product=product,
                    channel="field",
                    staff=staff,
                    ip_address=request.META.get("REMOTE_ADDR"),
                )
            except ApplicationError as exc:
                _apply_to_form(form, exc)
            else:
                return redirect("lending:field_application", application_id=app.pk)
        form.data = form.data.copy()
        form.data["token"] = _new_token(request)
    else:
        form = ApplyForm(
            initial={"token": _new_token(request), "term_months": 12, "repayment_method": product.default_method},
            product=product,
            consent_needed=_consent_needed(customer),
        )
    return render(
        request,
        "lending/origination/apply.html",
        {"product": product, "form": form, "field_mode": True, "customer": customer},
    )


@never_cache
@staff_required
def field_application(request, application_id: int):
    app = selectors.application_get_for_staff(request.user, application_id)
    if app is None:
        raise Http404
    return render(request, "lending/origination/decision.html", {**_decision_context(app), "field_mode": True})
