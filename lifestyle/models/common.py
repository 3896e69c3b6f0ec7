"""Shared choices and the target-segment fields used by earning rules and campaigns."""

from django.db import models


class FundingSource(models.TextChoices):
    """Who pays for issued points (出资方): the expense book a posting debits."""

    BANK_MARKETING = "bank_marketing", "银行营销费用 bank marketing"
    DEPOSIT_MARKETING = "deposit_marketing", "存款营销费用 deposit marketing"
    PARTNER = "partner", "合作方出资 partner"
    MERCHANT = "merchant", "商户出资 merchant"


class Topic(models.TextChoices):
    """Built-in earning sources: bus topics plus the internal ones (check-in, month-end deposit job)."""

    INSTALLMENT_PAID = "lending.installment_paid", "按时还款 on-time repayment"
    LOAN_DISBURSED = "lending.loan_disbursed", "首次用信 first drawdown"
    KYC_VERIFIED = "customers.kyc_verified", "完成实名认证 KYC completed"
    CUSTOMER_CREATED = "customers.customer_created", "新客户注册 customer created"
    CARD_ACTIVATED = "lifestyle.card_activated", "社保卡激活 social-security card activated"
    REFERRAL_QUALIFIED = "lifestyle.referral_qualified", "推荐达标 referral qualified"
    CHECKIN = "lifestyle.checkin", "每日签到 daily check-in"
    ACTIVITY_ATTENDED = "lifestyle.activity_attended", "参加活动 activity attended"
    DEPOSIT_GROWTH = "lifestyle.deposit_growth", "存款日均增长 deposit growth (month end)"


class SegmentFields(models.Model):
    """Target segment (目标客群): every filled field must match; an empty segment matches everyone."""

    segment_occupations = models.JSONField(
        "客群职业 occupations", default=list, blank=True, help_text='留空表示不限 / empty = any (e.g. ["farmer"])'
    )
    segment_region = models.ForeignKey(
        "customers.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="客群区域 region",
        help_text="该区域及其下级（按区划代码前缀） / this region and below (code prefix)",
    )
    segment_branch = models.ForeignKey(
        "org.Branch", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name="客群网点 branch"
    )
    segment_kyc_verified_only = models.BooleanField("仅限已实名 KYC verified only", default=False)

    class Meta:
        abstract = True

    def segment_matches(self, customer) -> bool:
        if self.segment_occupations and customer.occupation not in self.segment_occupations:
            return False
        if self.segment_branch_id and customer.branch_id != self.segment_branch_id:
            return False
        if self.segment_kyc_verified_only and customer.kyc_status != "verified":
            return False
        if self.segment_region_id:
            region = customer.region
            if region is None or not region.code.startswith(self.segment_region.code):
                return False
        return True
