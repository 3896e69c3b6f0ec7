"""Explicit serializers of the lifestyle integrator API (money as strings, points as integers)."""

from rest_framework import serializers


class DepositRowSerializer(serializers.Serializer):
    date = serializers.CharField(help_text="YYYY-MM-DD")
    account_no = serializers.CharField(help_text="存款账号（仅保存盲索引与后四位）")
    customer_id = serializers.IntegerField()
    balance = serializers.CharField(help_text='日终余额，字符串金额，如 "12345.67"，不得为负')


class DepositBatchSerializer(serializers.Serializer):
    rows = serializers.ListField(child=serializers.DictField(), allow_empty=False, max_length=5000)


class RowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()


class DepositBatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    errors = RowErrorSerializer(many=True)


class CardActivationSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    card_ref = serializers.CharField(max_length=40)
    activated_on = serializers.DateField()


class CardActivationResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    card_ref = serializers.CharField()
    activated_on = serializers.DateField()
    created = serializers.BooleanField()


class ExpiringSerializer(serializers.Serializer):
    date = serializers.DateField()
    points = serializers.IntegerField()


class PointsBalanceSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField()
    balance = serializers.IntegerField()
    pending = serializers.IntegerField()
    debt = serializers.IntegerField()
    expiring = ExpiringSerializer(many=True)


class PointsMovementSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    points = serializers.IntegerField(help_text="获得为正，支出为负")
    kind = serializers.CharField()
    reason = serializers.CharField(source="reason_recorded", help_text="事由（记录原文，中文）")
    reason_en = serializers.CharField(
        help_text="reason in English, built from the movement's data; the recorded text where that is not possible"
    )
    status = serializers.CharField(allow_blank=True)
    expires_on = serializers.DateField(allow_null=True)
    rule_code = serializers.CharField(allow_blank=True)
    merchant = serializers.CharField(allow_blank=True, help_text="券核销商户")


class VoucherVerifySerializer(serializers.Serializer):
    token = serializers.CharField(required=False, allow_blank=True, default="", help_text="二维码内容")
    code = serializers.CharField(required=False, allow_blank=True, default="", max_length=20, help_text="券码（离线）")
    otp = serializers.CharField(required=False, allow_blank=True, default="", max_length=6, help_text="客户短信验证码")

    def validate(self, attrs):
        if not attrs["token"] and not attrs["code"]:
            raise serializers.ValidationError("请提供 token 或 code / give token or code")
        if attrs["code"] and not attrs["token"] and not attrs["otp"]:
            raise serializers.ValidationError("券码核销需要客户验证码 otp / a code needs the customer's otp")
        return attrs


class VoucherOtpSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20)


class VoucherResultSerializer(serializers.Serializer):
    voucher_id = serializers.IntegerField(source="pk")
    code = serializers.CharField()
    status = serializers.CharField()
    benefit = serializers.CharField(source="benefit.name")
    points = serializers.IntegerField()
    redeemed_at = serializers.DateTimeField(allow_null=True)
    payable_amount = serializers.SerializerMethodField()

    def get_payable_amount(self, voucher) -> str | None:
        line = voucher.payable_lines.filter(kind="redemption").first()
        return str(line.amount) if line else None
