"""Forms of the customer pages. They parse input and give field errors in the active language; the
services in ``jikuai.customers.accounts`` do every business check again."""

from django import forms
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from jikuai.core.idnumber import parse_id_number, parse_mobile
from jikuai.customers.accounts import OTP_LENGTH, registration_institutions
from jikuai.customers.models import Customer

# Messages raised in Chinese by the kernel validators (jikuai.core.idnumber); listed here so that they are
# extracted into the translation catalogue and shown in English when English is chosen.
KERNEL_MESSAGES = (
    gettext_noop("请输入身份证号码。"),
    gettext_noop("不再受理15位旧身份证号码，请输入18位身份证号码。"),
    gettext_noop("身份证号码应为18位，前17位为数字，最后一位为数字或X。"),
    gettext_noop("身份证号码的省份代码无效。"),
    gettext_noop("身份证号码中的出生日期不存在。"),
    gettext_noop("身份证号码中的出生日期无效。"),
    gettext_noop("身份证号码校验位错误，请核对后重新输入。"),
    gettext_noop("请输入手机号码。"),
    gettext_noop("手机号码应为以1开头的11位数字。"),
)


def _translated(exc: ValidationError) -> ValidationError:
    return ValidationError([gettext(message) for message in exc.messages])


class MobileField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("手机号"))
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"inputmode": "numeric", "autocomplete": "tel", "placeholder": _("11位手机号")})

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        try:
            return parse_mobile(value)
        except ValidationError as exc:
            raise _translated(exc) from exc


class CodeField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("短信验证码"))
        kwargs.setdefault("max_length", 10)
        super().__init__(**kwargs)
        self.widget.attrs.update(
            {"inputmode": "numeric", "autocomplete": "one-time-code", "placeholder": _("6位数字"), "maxlength": OTP_LENGTH}
        )

    def clean(self, value):
        value = (super().clean(value) or "").strip()
        if value and not (len(value) == OTP_LENGTH and value.isdigit()):
            raise ValidationError(_("验证码为6位数字。"))
        return value


class NewPasswordMixin:
    """Two new-password fields checked against Django's password validators."""

    check_new_password = True

    def clean(self):
        cleaned = super().clean()
        if not self.check_new_password:
            return cleaned
        password, confirm = cleaned.get("password1"), cleaned.get("password2")
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                self.add_error("password1", exc)
        if password and confirm and password != confirm:
            self.add_error("password2", _("两次输入的密码不一致。"))
        return cleaned


def _password_field(label):
    return forms.CharField(
        label=label, strip=False, max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )


class RegisterForm(NewPasswordMixin, forms.Form):
    institution = forms.ModelChoiceField(
        label=_("开户行社"),
        queryset=None,
        empty_label=None,
        help_text=_("请选择您所在地的农商行/农信社"),
    )
    name = forms.CharField(label=_("姓名"), max_length=50, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    id_number = forms.CharField(label=_("身份证号"), max_length=20, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    mobile = MobileField()
    password1 = _password_field(_("登录密码"))
    password2 = _password_field(_("确认密码"))
    consent = forms.BooleanField(
        label=_("我已阅读并同意《个人信息处理授权书》"),
        error_messages={"required": _("请阅读并同意《个人信息处理授权书》。")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        institutions = registration_institutions()
        self.fields["institution"].queryset = institutions
        if not self.is_bound:
            self.fields["institution"].initial = institutions.values_list("pk", flat=True).first()
        self.fields["password1"].help_text = _("至少8位，不能全是数字，不能过于常见")

    def clean_id_number(self):
        try:
            return parse_id_number(self.cleaned_data["id_number"]).number
        except ValidationError as exc:
            raise _translated(exc) from exc


class RegisterConfirmForm(forms.Form):
    code = CodeField(required=False)


class LoginForm(forms.Form):
    mobile = MobileField()
    password = forms.CharField(
        label=_("登录密码"), strip=False, max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class CodeLoginForm(forms.Form):
    """One form, two buttons: "send code" needs only the mobile, "log in" needs the code too."""

    mobile = MobileField()
    code = CodeField(required=False)


class ResetPasswordForm(NewPasswordMixin, forms.Form):
    mobile = MobileField()
    code = CodeField(required=False)
    password1 = _password_field(_("新密码"))
    password2 = _password_field(_("确认新密码"))

    def __init__(self, *args, sending: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if sending:  # only the mobile is needed to send the code
            for name in ("password1", "password2"):
                self.fields[name].required = False
            self.check_new_password = False


class PasswordChangeForm(NewPasswordMixin, forms.Form):
    old_password = forms.CharField(
        label=_("原密码"), strip=False, max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    password1 = _password_field(_("新密码"))
    password2 = _password_field(_("确认新密码"))


OCCUPATION_LABELS = {
    Customer.Occupation.FARMER: _("农户"),
    Customer.Occupation.CIVIL_SERVANT: _("公职人员"),
    Customer.Occupation.TEACHER: _("教师"),
    Customer.Occupation.EMPLOYEE: _("企业职工"),
    Customer.Occupation.INDIVIDUAL_BUSINESS: _("个体工商户"),
    Customer.Occupation.MICRO_BUSINESS_OWNER: _("小微企业主"),
    Customer.Occupation.OTHER: _("其他"),
}


class ProfileForm(forms.Form):
    address = forms.CharField(
        label=_("居住地址"), max_length=200, required=False, widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    occupation = forms.ChoiceField(label=_("职业类别"), choices=list(OCCUPATION_LABELS.items()))
    employer = forms.CharField(label=_("工作单位"), max_length=100, required=False)
    monthly_income = forms.DecimalField(
        label=_("月收入（元）"), min_value=0, max_value=100_000_000, max_digits=18, decimal_places=2, localize=False
    )
