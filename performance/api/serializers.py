from rest_framework import serializers

from performance.models import Period, ScoreLine, SubjectResult


class PeriodSerializer(serializers.ModelSerializer):
    scheme_code = serializers.CharField(source="scheme.code")
    scheme_name = serializers.CharField(source="scheme.name")
    scheme_version = serializers.IntegerField(source="scheme_version.number")
    position = serializers.CharField(source="scheme.position")

    class Meta:
        model = Period
        fields = [
            "id",
            "label",
            "period_type",
            "start",
            "end",
            "state",
            "scheme_code",
            "scheme_name",
            "scheme_version",
            "position",
            "snapshot_hash",
            "published_at",
            "appeal_closes_at",
            "finalised_at",
        ]


class ScoreLineSerializer(serializers.ModelSerializer):
    indicator = serializers.CharField(source="indicator.code")
    actual = serializers.SerializerMethodField()
    target = serializers.DecimalField(max_digits=20, decimal_places=4, coerce_to_string=True, allow_null=True)
    score = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=True, allow_null=True)

    class Meta:
        model = ScoreLine
        fields = ["indicator", "actual", "target", "score"]

    def get_actual(self, line) -> str:
        return str((line.actual or 0) + line.adjustment)


class ResultSerializer(serializers.ModelSerializer):
    """One assessed staff member (or branch) with score, ranks, grade and incentive for HR / payroll."""

    employee_no = serializers.CharField(source="staff.employee_no", default=None)
    staff_name = serializers.CharField(source="staff.name", default=None)
    branch_code = serializers.CharField(source="branch.code", default=None)
    total = serializers.DecimalField(max_digits=9, decimal_places=2, coerce_to_string=True)
    incentive = serializers.SerializerMethodField()
    lines = ScoreLineSerializer(many=True)

    class Meta:
        model = SubjectResult
        fields = [
            "id",
            "employee_no",
            "staff_name",
            "branch_code",
            "peer_group",
            "total",
            "peer_rank",
            "peer_size",
            "overall_rank",
            "grade",
            "final_grade",
            "incentive",
            "lines",
        ]

    def get_incentive(self, result) -> dict | None:
        award = getattr(result, "award", None)
        if award is None:
            return None
        return {
            "gross": str(award.gross),
            "immediate": str(award.immediate),
            "deferred": str(award.deferred),
            "installments": [
                {"due_date": i.due_date.isoformat(), "amount": str(i.amount), "clawed_back": str(i.clawed_back)}
                for i in award.installments.all()
            ],
        }
