"""Shared choices for the loan engine."""

from django.db import models

from lending.schedule import Method, PrepaymentOption

MONEY = {"max_digits": 18, "decimal_places": 2}
BIG_MONEY = {"max_digits": 20, "decimal_places": 2}
RATE = {"max_digits": 10, "decimal_places": 8}


class LoanClass(models.TextChoices):
    """五级分类 five-category classification; the last three are non-performing (不良)."""

    NORMAL = "normal", "正常 normal"
    SPECIAL_MENTION = "special_mention", "关注 special mention"
    SUBSTANDARD = "substandard", "次级 substandard"
    DOUBTFUL = "doubtful", "可疑 doubtful"
    LOSS = "loss", "损失 loss"


CLASS_RANK = {
    LoanClass.NORMAL: 0,
    LoanClass.SPECIAL_MENTION: 1,
    LoanClass.SUBSTANDARD: 2,
    LoanClass.DOUBTFUL: 3,
    LoanClass.LOSS: 4,
}
NON_PERFORMING = frozenset({LoanClass.SUBSTANDARD, LoanClass.DOUBTFUL, LoanClass.LOSS})


class MethodChoices(models.TextChoices):
    EQUAL_INSTALLMENT = Method.EQUAL_INSTALLMENT, "等额本息 equal installment"
    EQUAL_PRINCIPAL = Method.EQUAL_PRINCIPAL, "等额本金 equal principal"
    INTEREST_ONLY = Method.INTEREST_ONLY, "按月付息到期还本 interest only"
    BULLET = Method.BULLET, "利随本清 bullet"


class PrepaymentOptionChoices(models.TextChoices):
    SHORTEN_TERM = PrepaymentOption.SHORTEN_TERM, "缩期 shorten the term"
    REDUCE_PAYMENT = PrepaymentOption.REDUCE_PAYMENT, "减额 lower the installment"


class Bucket(models.TextChoices):
    """Repayment allocation buckets (还款冲销顺序)."""

    COMPOUND = "compound", "复利 compound interest"
    PENALTY = "penalty", "罚息 penalty interest"
    OVERDUE_INTEREST = "overdue_interest", "逾期利息 overdue interest"
    OVERDUE_PRINCIPAL = "overdue_principal", "逾期本金 overdue principal"
    CURRENT_INTEREST = "current_interest", "当期利息 current interest"
    CURRENT_PRINCIPAL = "current_principal", "当期本金 current principal"
    PREPAYMENT = "prepayment", "提前还本 prepayment of principal"


DEFAULT_ALLOCATION_ORDER = [
    Bucket.COMPOUND.value,
    Bucket.PENALTY.value,
    Bucket.OVERDUE_INTEREST.value,
    Bucket.OVERDUE_PRINCIPAL.value,
    Bucket.CURRENT_INTEREST.value,
    Bucket.CURRENT_PRINCIPAL.value,
    Bucket.PREPAYMENT.value,
]
PRINCIPAL_FIRST_ORDER = [
    Bucket.OVERDUE_PRINCIPAL.value,
    Bucket.CURRENT_PRINCIPAL.value,
    Bucket.OVERDUE_INTEREST.value,
    Bucket.CURRENT_INTEREST.value,
    Bucket.PENALTY.value,
    Bucket.COMPOUND.value,
    Bucket.PREPAYMENT.value,
]


def default_allocation_order():
    return list(DEFAULT_ALLOCATION_ORDER)


def principal_first_order():
    return list(PRINCIPAL_FIRST_ORDER)
