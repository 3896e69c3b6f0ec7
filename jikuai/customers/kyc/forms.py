"""Upload forms. Files are only collected here; all image validation happens in the service."""

from django import forms

_ID_ATTRS = {"accept": "image/*"}
# On phones ``capture="user"`` opens the front camera; desktop browsers show a plain file picker.
_SELFIE_ATTRS = {"accept": "image/*", "capture": "user"}


class KycUploadForm(forms.Form):
    id_front = forms.FileField(
        label="身份证人像面",
        help_text="有照片和身份证号码的一面，四角完整、文字清晰、无反光。",
        widget=forms.FileInput(attrs=_ID_ATTRS),
        error_messages={"required": "请上传身份证人像面。"},
    )
    id_back = forms.FileField(
        label="身份证国徽面",
        help_text="有签发机关和有效期限的一面。",
        widget=forms.FileInput(attrs=_ID_ATTRS),
        error_messages={"required": "请上传身份证国徽面。"},
    )
    selfie = forms.FileField(
        label="本人自拍照",
        help_text="正对镜头、光线充足，只拍本人，不要戴帽子、口罩或墨镜。",
        widget=forms.FileInput(attrs=_SELFIE_ATTRS),
        error_messages={"required": "请上传本人自拍照。"},
    )


class FieldKycUploadForm(KycUploadForm):
    """Field app (移动展业): the account manager photographs the customer at home."""

    selfie = forms.FileField(
        label="客户本人照片",
        help_text="请客户正对镜头，只拍客户本人。",
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "environment"}),
        error_messages={"required": "请拍摄客户本人照片。"},
    )
    field_photo = forms.FileField(
        label="现场照片（可选）",
        help_text="客户经理与客户在客户家中的合影，作为上门核实的凭证。",
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )
