from rest_framework import serializers

from lending import schedule as sched
from lending.models import Installment, Loan, Repayment


def money(value) -> str:
    return f"{value:.2f}"


def interest_owed(loan) -> object:
    """Accrued unpaid contract interest, on- or off-balance (表外 for non-performing loans)."""
    if loan.off_balance_accrual:
        return loan.off_balance_interest - (loan.penalty_posted - loan.penalty_paid) - (loan.compound_posted - loan.compound_paid)
    return loan.interest_receivable


class LoanSerializer(serializers.ModelSerializer):
    product_code = serializers.CharField(source="product.code")
    principal = serializers.SerializerMethodField()
    principal_outstanding = serializers.SerializerMethodField()
    annual_rate = serializers.SerializerMethodField()
    apr = serializers.SerializerMethodField()
    paid_to_date = serializers.SerializerMethodField()

    class Meta:
        model = Loan
        fields = [
            "id",
            "contract_no",
            "customer_id",
            "product_code",
            "principal",
            "annual_rate",
            "apr",
            "method",
            "term_months",
            "value_date",
            "maturity_date",
            "state",
            "dpd",
            "loan_class",
            "principal_outstanding",
            "paid_to_date",
            "last_closed_business_date",
            "branch_id",
            "account_manager_id",
        ]

    def get_principal(self, obj) -> str:
        return money(obj.principal)

    def get_principal_outstanding(self, obj) -> str:
        return money(obj.principal_outstanding)

    def get_paid_to_date(self, obj) -> str:
        return money(obj.paid_to_date)

    def get_annual_rate(self, obj) -> str:
        return sched.fmt_percent(obj.annual_rate * 100)

    def get_apr(self, obj) -> str:
        return f"{obj.apr:.2f}"


class LoanDetailSerializer(LoanSerializer):
    interest_receivable = serializers.SerializerMethodField()
    penalty_owed = serializers.SerializerMethodField()
    compound_owed = serializers.SerializerMethodField()

    class Meta(LoanSerializer.Meta):
        fields = [
            *LoanSerializer.Meta.fields,
            "interest_receivable",
            "penalty_owed",
            "compound_owed",
            "schedule_version",
            "settled_on",
        ]

    def get_interest_receivable(self, obj) -> str:
        return money(interest_owed(obj))

    def get_penalty_owed(self, obj) -> str:
        return money(obj.penalty_posted - obj.penalty_paid)

    def get_compound_owed(self, obj) -> str:
        return money(obj.compound_posted - obj.compound_paid)


class InstallmentSerializer(serializers.ModelSerializer):
    principal = serializers.SerializerMethodField()
    interest = serializers.SerializerMethodField()
    payment = serializers.SerializerMethodField()
    paid_principal = serializers.SerializerMethodField()
    paid_interest = serializers.SerializerMethodField()

    class Meta:
        model = Installment
        fields = [
            "number",
            "start_date",
            "due_date",
            "principal",
            "interest",
            "payment",
            "paid_principal",
            "paid_interest",
            "status",
            "paid_on",
        ]

    def get_principal(self, obj) -> str:
        return money(obj.principal)

    def get_interest(self, obj) -> str:
        return money(obj.interest)

    def get_payment(self, obj) -> str:
        return money(obj.principal + obj.interest)

    def get_paid_principal(self, obj) -> str:
        return money(obj.paid_principal)

    def get_paid_interest(self, obj) -> str:
        return money(obj.paid_interest)


class RepaymentSerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()

    class Meta:
        model = Repayment
        fields = [
            "id",
            "loan_id",
            "external_id",
            "kind",
            "prepayment_option",
            "channel",
            "amount",
            "value_date",
            "entry_date",
            "status",
            "allocation",
        ]

    def get_amount(self, obj) -> str:
        return money(obj.amount)


class RepaymentCreateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64, help_text="核心系统流水号（幂等键）")
    amount = serializers.CharField(max_length=20, help_text="金额（元），字符串，两位小数")
    value_date = serializers.DateField(required=False, help_text="起息日（默认营业日期；早于最后日终日期时重算）")
    kind = serializers.ChoiceField(choices=Repayment.Kind.choices, default=Repayment.Kind.REGULAR)
    prepayment_option = serializers.ChoiceField(choices=[("", "—"), *sched.PrepaymentOption.CHOICES], default="", required=False)


class ReversalSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=64, required=False, default="")
    repayment_id = serializers.IntegerField(required=False)
    reason = serializers.CharField(max_length=200)


class CalculatorSerializer(serializers.Serializer):
    method = serializers.CharField(max_length=30)
    principal = serializers.CharField(max_length=20)
    annual_rate = serializers.CharField(max_length=20, help_text="百分比：6 表示 6%")
    months = serializers.IntegerField()
    start = serializers.DateField()
    day_basis = serializers.ChoiceField(choices=[(360, "360"), (365, "365")], default=360)
    quarterly = serializers.BooleanField(default=False)
    fee = serializers.CharField(max_length=20, required=False, default="0")


class ScheduleRowSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    due_date = serializers.CharField()
    principal = serializers.CharField()
    interest = serializers.CharField()
    payment = serializers.CharField()
    balance = serializers.CharField()


class CalculatorResultSerializer(serializers.Serializer):
    method = serializers.CharField()
    principal = serializers.CharField()
    annual_rate = serializers.CharField()
    apr = serializers.CharField()
    total_interest = serializers.CharField()
    total_payment = serializers.CharField()
    installments = ScheduleRowSerializer(many=True)


class DisbursementCallbackSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=64, help_text="放款请求号 request_id")
    status = serializers.ChoiceField(choices=[("settled", "settled"), ("failed", "failed")])
    core_reference = serializers.CharField(max_length=64, required=False, default="")
    message = serializers.CharField(max_length=200, required=False, default="")
