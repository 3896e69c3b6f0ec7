from rest_framework import serializers


class SubjectSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["application", "customer", "loan", "merchant", "credit_line", "household"], help_text="决策对象类型"
    )
    id = serializers.CharField(max_length=64, help_text="对象编号（申请号、贷款号等）")
    customer_id = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="本机构客户 id（可选）")


class DecisionRequestSerializer(serializers.Serializer):
    subject = SubjectSerializer()
    inputs = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        default=dict,
        help_text="变量值：金额为整数分（*_fen），日期 YYYY-MM-DD；名单查询可附 id_number / mobile / device_id / business_licence",
    )
    channel = serializers.RegexField(r"^[a-z][a-z0-9_]{1,29}$", required=False, default="default")


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    text = serializers.CharField()


class DecisionSubjectSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.CharField()
    customer_id = serializers.IntegerField(allow_null=True)


class DecisionSerializer(serializers.Serializer):
    decision_id = serializers.IntegerField()
    ruleset_code = serializers.CharField()
    outcome = serializers.CharField(help_text="approve / reject / refer；评级为等级；预警为 normal / watch / alert")
    reasons = ReasonSerializer(many=True)
    grade = serializers.CharField(allow_null=True)
    amount = serializers.CharField(allow_null=True, help_text="额度（元，字符串）")
    rate = serializers.CharField(allow_null=True, help_text="年利率（小数，字符串），如 0.003450 = 3.45%")
    outputs = serializers.JSONField()
    version_id = serializers.IntegerField()
    version_number = serializers.IntegerField()
    version_hash = serializers.CharField()
    engine_version = serializers.CharField()
    arm = serializers.CharField()
    mode = serializers.CharField()
    channel = serializers.CharField()
    subject = DecisionSubjectSerializer()
    decision_date = serializers.DateField()
    latency_us = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class DecisionDetailSerializer(DecisionSerializer):
    inputs = serializers.JSONField(help_text="特征解析后的输入快照")
    missing = serializers.JSONField()
    explanation = serializers.JSONField(help_text="逐节点解释：命中规则行、读取的输入、输出")
    hit_rows = serializers.ListField(child=serializers.CharField())
