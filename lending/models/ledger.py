"""Double-entry loan ledger (贷款分户账): accounts per institution, immutable postings whose legs sum to zero.

Debits are positive, credits negative. Balances are caches of the legs, updated in the same transaction.
PostgreSQL enforces Σ legs = 0 per posting (statement trigger + deferred constraint trigger) and refuses
UPDATE/DELETE of postings and legs; on SQLite the service checks the same before writing.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from jikuai.org.models import Institution
from lending.models.common import BIG_MONEY, MONEY
from lending.models.loans import Loan, Repayment


class AccountCode(models.TextChoices):
    PRINCIPAL_RECEIVABLE = "principal_receivable", "贷款本金 loan principal receivable"
    INTEREST_RECEIVABLE = "interest_receivable", "应收利息 interest receivable"
    PENALTY_RECEIVABLE = "penalty_receivable", "应收罚息 penalty receivable"
    COMPOUND_RECEIVABLE = "compound_receivable", "应收复利 compound receivable"
    INTEREST_INCOME = "interest_income", "利息收入 interest income"
    PENALTY_INCOME = "penalty_income", "罚息收入 penalty income"
    COMPOUND_INCOME = "compound_income", "复利收入 compound income"
    OFF_BALANCE_INTEREST = "off_balance_interest", "表外应收利息 off-balance interest"
    OFF_BALANCE_CONTRA = "off_balance_contra", "表外利息对应 off-balance contra"
    CLEARING = "clearing", "与核心清算往来 clearing with core banking"
    SUSPENSE = "suspense", "暂收款项 suspense"
    WRITEOFF_LOSS = "writeoff_loss", "贷款核销损失 write-off loss"


class LedgerAccount(models.Model):
    institution = models.ForeignKey(
        Institution, on_delete=models.PROTECT, related_name="ledger_accounts", verbose_name="法人行社"
    )
    code = models.CharField("科目 code", max_length=30, choices=AccountCode.choices)
    balance = models.DecimalField("余额(借正贷负) balance", default=0, **BIG_MONEY)

    class Meta:
        verbose_name = "分户账科目 ledger account"
        verbose_name_plural = "分户账科目 ledger accounts"
        ordering = ["institution", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="ledger_account_unique")]

    def __str__(self):
        return f"{self.institution_id} {self.get_code_display()}"


class PostingKind(models.TextChoices):
    DISBURSEMENT = "disbursement", "放款 disbursement"
    REPAYMENT = "repayment", "还款 repayment"
    ACCRUAL = "accrual", "计提利息 interest accrual"
    PENALTY = "penalty", "罚息复利 penalty and compound"
    CLASSIFICATION = "classification", "表内外转换 on/off-balance move"
    WRITE_OFF = "write_off", "核销 write-off"
    REVERSAL = "reversal", "冲正 reversal"
    ADJUSTMENT = "adjustment", "重算调整 replay adjustment"
    CATCH_UP = "catch_up", "补日终 inline close"


class Posting(models.Model):
    """A balanced journal entry. ``loan`` is set when it concerns one loan; nightly batch postings cover
    a chunk of loans and carry the loan on each leg."""

    Kind = PostingKind

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, null=True, blank=True, related_name="postings")
    repayment = models.ForeignKey(Repayment, on_delete=models.PROTECT, null=True, blank=True, related_name="postings")
    kind = models.CharField("类型 kind", max_length=20, choices=PostingKind.choices)
    business_date = models.DateField("营业日期 business date")
    reverses = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by")
    description = models.CharField("摘要 description", max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "记账凭证 posting"
        verbose_name_plural = "记账凭证 postings"
        ordering = ["-id"]
        indexes = [models.Index(fields=["business_date", "kind"])]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()} {self.business_date}"


class PostingLeg(models.Model):
    # the append-only hot table: only the indexes the reads need (posting; loan + account)
    posting = models.ForeignKey(Posting, on_delete=models.PROTECT, related_name="legs")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="legs", db_index=False)
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_legs", db_index=False)
    amount = models.DecimalField("金额(借正贷负) amount", **MONEY)

    class Meta:
        verbose_name = "分录 posting leg"
        verbose_name_plural = "分录 posting legs"
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="posting_leg_non_zero")]
        indexes = [models.Index(fields=["loan", "account"])]

    def __str__(self):
        return f"{self.posting_id} {self.account_id} {self.amount}"
