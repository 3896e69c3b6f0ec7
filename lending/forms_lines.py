from django import forms
from django.utils.translation import gettext_lazy as _

from lending import schedule as sched


class DrawdownForm(forms.Form):
    """用信: amount, term and method within the line's product."""

    amount = forms.DecimalField(label=_("支用金额（元）"), min_value=0, max_digits=12, decimal_places=2)
    term_months = forms.TypedChoiceField(label=_("期限"), coerce=int)
    repayment_method = forms.ChoiceField(label=_("还款方式"))
    token = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, product, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["term_months"].choices = [(t, _("%(n)s 个月") % {"n": t}) for t in product.term_options]
        labels = dict(METHOD_LABELS)
        self.fields["repayment_method"].choices = [(m, labels.get(m, m)) for m in product.allowed_methods]
        if product.default_method in product.allowed_methods:
            self.fields["repayment_method"].initial = product.default_method


METHOD_LABELS = [
    (sched.Method.EQUAL_INSTALLMENT, _("等额本息")),
    (sched.Method.EQUAL_PRINCIPAL, _("等额本金")),
    (sched.Method.INTEREST_ONLY, _("按月付息、到期还本")),
    (sched.Method.BULLET, _("利随本清")),
]
