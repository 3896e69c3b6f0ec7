from rest_framework import serializers

from jikuai.customers.models import Customer


class CustomerCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    id_number = serializers.CharField(max_length=30)
    mobile = serializers.CharField(max_length=20)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    occupation = serializers.ChoiceField(choices=Customer.Occupation.choices, required=False, default=Customer.Occupation.OTHER)
    employer = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    monthly_income = serializers.DecimalField(max_digits=18, decimal_places=2, required=False, default="0", coerce_to_string=True)
    branch_code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    region_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


class CustomerSerializer(serializers.ModelSerializer):
    """Customer with masked personal data: integrators never receive full ID or mobile numbers here."""

    id_number = serializers.CharField(source="masked_id_number")
    mobile = serializers.CharField(source="masked_mobile")
    name = serializers.CharField(source="masked_name")
    address = serializers.CharField(source="masked_address")
    branch_code = serializers.CharField(source="branch.code", default=None)
    region_code = serializers.CharField(source="region.code", default=None)
    monthly_income = serializers.DecimalField(max_digits=18, decimal_places=2, coerce_to_string=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "id_number",
            "mobile",
            "address",
            "gender",
            "birth_date",
            "occupation",
            "employer",
            "monthly_income",
            "branch_code",
            "region_code",
            "kyc_status",
            "channel",
            "referral_code",
            "created_at",
        ]


class PingSerializer(serializers.Serializer):
    pong = serializers.BooleanField()
    app_id = serializers.CharField()
    institution = serializers.CharField()
    server_time = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
