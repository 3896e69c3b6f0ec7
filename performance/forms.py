from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from jikuai.org.models import Staff


class AppealForm(forms.Form):
    line = forms.TypedChoiceField(label=_("申诉指标"), coerce=int, required=False, empty_value=None)
    reason = forms.CharField(label=_("申诉理由"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
    evidence_text = forms.CharField(
        label=_("证据说明"), widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )
    evidence_file = forms.FileField(label=_("证据文件（PDF/PNG/JPG/XLSX，≤5MB）"), required=False)
    requested_actual = forms.DecimalField(label=_("应为实际值"), required=False, max_digits=20, decimal_places=4)
    requested_target = forms.DecimalField(label=_("应为目标值"), required=False, max_digits=20, decimal_places=4)

    def __init__(self, *args, lines=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["line"].choices = [("", _("（整体结果）"))] + [(line.pk, line.indicator.name) for line in lines]


class AppealDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("处理"), choices=[("accept", _("采纳")), ("reject", _("驳回"))])
    note = forms.CharField(label=_("处理意见"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    corrected_actual = forms.DecimalField(label=_("更正实际值"), required=False, max_digits=20, decimal_places=4)
    corrected_target = forms.DecimalField(label=_("更正目标值"), required=False, max_digits=20, decimal_places=4)


class ClaimForm(forms.Form):
    customer = forms.TypedChoiceField(label=_("客户"), coerce=int)
    my_share = forms.DecimalField(label=_("本人份额 %"), initial=Decimal("100"), max_digits=5, decimal_places=2)
    partner = forms.CharField(label=_("合作员工工号（可选）"), required=False, max_length=30)
    partner_share = forms.DecimalField(label=_("合作员工份额 %"), required=False, max_digits=5, decimal_places=2)
    reason = forms.CharField(label=_("认领理由"), required=False, max_length=200)

    def __init__(self, *args, customers=(), institution_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.institution_id = institution_id
        self.fields["customer"].choices = [(c.pk, f"{c.masked_name}（{c.masked_mobile}）") for c in customers]

    def clean_partner(self):
        employee_no = self.cleaned_data.get("partner", "").strip()
        if not employee_no:
            return None
        staff = Staff.objects.filter(employee_no=employee_no, institution_id=self.institution_id, is_active=True).first()
        if staff is None:
            raise forms.ValidationError(_("工号不存在或不在本行社 / unknown employee number"))
        return staff


class ClaimDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("批准")), ("reject", _("驳回"))])
    note = forms.CharField(required=False, max_length=200)
