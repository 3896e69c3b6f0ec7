import datetime as dt

from django import forms
from django.utils.translation import gettext_lazy as _

from jikuai.core.labels import pick
from lending import schedule as sched


def _choices(pairs):
    """Choices whose bilingual labels show the current language's half (evaluated when rendered)."""
    return lambda: [(value, pick(label)) for value, label in pairs]


class CalculatorForm(forms.Form):
    method = forms.ChoiceField(
        label=_("还款方式"), choices=_choices(sched.Method.CHOICES), initial=sched.Method.EQUAL_INSTALLMENT
    )
    principal = forms.DecimalField(label=_("贷款金额（元）"), min_value=1, max_digits=12, decimal_places=2, initial=100000)
    annual_rate = forms.DecimalField(label=_("年利率（%）"), min_value=0, max_value=24, max_digits=7, decimal_places=4, initial=6)
    months = forms.IntegerField(label=_("期限（月）"), min_value=1, max_value=360, initial=12)
    start = forms.DateField(label=_("起息日"), widget=forms.DateInput(attrs={"type": "date"}))
    fee = forms.DecimalField(
        label=_("一次性手续费（元）"), min_value=0, max_digits=12, decimal_places=2, required=False, initial=0
    )
    quarterly = forms.BooleanField(label=_("按季结息（仅先息后本）"), required=False)

    def __init__(self, *args, start: dt.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if start:
            self.fields["start"].initial = start


class RepayForm(forms.Form):
    token = forms.CharField(widget=forms.HiddenInput)
    amount = forms.DecimalField(label=_("还款金额（元）"), min_value=0, max_digits=12, decimal_places=2)


class PrepayForm(forms.Form):
    amount = forms.DecimalField(label=_("提前还款金额（元）"), min_value=0, max_digits=12, decimal_places=2)
    option = forms.ChoiceField(
        label=_("还款后"), choices=_choices(sched.PrepaymentOption.CHOICES), initial=sched.PrepaymentOption.REDUCE_PAYMENT
    )
    token = forms.CharField(widget=forms.HiddenInput, required=False)
