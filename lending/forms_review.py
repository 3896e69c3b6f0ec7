"""Reviewer's decision form (人工审核): the rate is entered in percent (6.5 = 6.5 % a year)."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


class ReviewDecisionForm(forms.Form):
    ACTIONS = [("approve", _("批准")), ("reject", _("拒绝")), ("pass_up", _("提交上级审批"))]

    action = forms.ChoiceField(label=_("审批结论"), choices=ACTIONS, widget=forms.RadioSelect)
    approved_amount = forms.DecimalField(
        label=_("批准金额（元）"), max_digits=18, decimal_places=2, min_value=Decimal("0.01"), required=False
    )
    annual_rate_percent = forms.DecimalField(
        label=_("执行年利率（%）"), max_digits=8, decimal_places=4, min_value=Decimal("0"), required=False
    )
    comment = forms.CharField(label=_("审批意见"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def annual_rate(self) -> Decimal | None:
        percent = self.cleaned_data.get("annual_rate_percent")
        return None if percent is None else (percent / 100).quantize(Decimal("0.00000001"))
