"""Reasons of points movements (积分事由) in the reader's language.

The Chinese ``reason`` stored on a PointsLot or PointsDebit is the record and is never rewritten. Writers build it
here from a template and named arguments (``record``) and keep both in the row's ``reference`` (``reason_key``,
``reason_args``), so a page can say the same thing in English. Rows written before that, or with a free-text reason
(a rule's name, a test grant), are rebuilt from their structured columns (topic, source reference, period, debit
kind, the lot a debit belongs to) only when the rebuilt Chinese text is exactly the stored one; otherwise the stored
text is shown as it is. Names that are data (a benefit, an activity title, a staff note) stay as written.
"""

import re
from collections.abc import Iterable, Iterator

from django.utils.translation import gettext, gettext_noop

from jikuai.core.labels import is_english
from lifestyle.models import PointsDebit, Topic

# Chinese source strings, translated in locale/en (named placeholders only: the English order may differ)
TEMPLATES = {
    "installment_paid": gettext_noop("按时还款（贷款 %(loan_id)s 第 %(number)s 期）"),
    "first_drawdown": gettext_noop("首次用信（贷款 %(loan_id)s）"),
    "drawdown": gettext_noop("用信（贷款 %(loan_id)s）"),
    "kyc_verified": gettext_noop("完成实名认证"),
    "customer_created": gettext_noop("新客户注册"),
    "card_activated": gettext_noop("社保卡激活"),
    "referral_qualified": gettext_noop("推荐好友达标"),
    "activity_attended": gettext_noop("参加活动：%(title)s"),
    "community_activity": gettext_noop("参加社区活动"),
    "checkin": gettext_noop("每日签到（连续 %(streak)s 天）"),
    "deposit_growth": gettext_noop("存款日均增长奖励 %(month)s"),
    "redemption_refunded": gettext_noop("核销撤销退回：%(benefit)s（%(note)s）"),
    "benefit_redeemed": gettext_noop("兑换权益：%(benefit)s"),
    "expired": gettext_noop("积分到期"),
    "reward_reversed": gettext_noop("撤销奖励：%(note)s"),
    "reward_reversed_by": gettext_noop("撤销奖励：%(note)s（经办 %(staff)s）"),
    "debt_settled": gettext_noop("抵扣欠分（%(earning)s）"),
}

# earning topics whose reason is one fixed sentence
_FIXED_BY_TOPIC = {
    Topic.KYC_VERIFIED.value: "kyc_verified",
    Topic.CUSTOMER_CREATED.value: "customer_created",
    Topic.CARD_ACTIVATED.value: "card_activated",
    Topic.REFERRAL_QUALIFIED.value: "referral_qualified",
    Topic.ACTIVITY_ATTENDED.value: "community_activity",
}
_INSTALLMENT_REF = re.compile(r"loan:(\d+):installment:(\d+)")
_DISBURSED_REF = re.compile(r"loan:(\d+):disbursed")

Candidate = tuple[str, dict]


def chinese(key: str, /, **args) -> str:
    """The stored (Chinese) text of a reason."""
    return TEMPLATES[key] % args


def record(key: str, /, **args) -> tuple[str, dict]:
    """What a writer stores: the Chinese ``reason`` and the ``reference`` keys that let it be shown in English."""
    return chinese(key, **args), {"reason_key": key, "reason_args": args}


def _written(reference) -> Iterator[Candidate]:
    if isinstance(reference, dict) and isinstance(reference.get("reason_args"), dict):
        yield reference.get("reason_key"), reference["reason_args"]


def _matching(stored: str, candidates: Iterable[Candidate]) -> Candidate | None:
    """The first candidate whose Chinese text is exactly the stored one (a truncated or free text matches none)."""
    for key, args in candidates:
        template = TEMPLATES.get(key)
        if template is None:
            continue
        try:
            if template % args == stored:
                return key, args
        except (KeyError, TypeError, ValueError):
            continue
    return None


def _lot_candidates(*, source: str, source_ref: str, period: str, reference) -> Iterator[Candidate]:
    yield from _written(reference)
    if source == Topic.INSTALLMENT_PAID and (match := _INSTALLMENT_REF.fullmatch(source_ref or "")):
        yield "installment_paid", {"loan_id": match[1], "number": match[2]}
    elif source == Topic.LOAN_DISBURSED and (match := _DISBURSED_REF.fullmatch(source_ref or "")):
        yield "first_drawdown", {"loan_id": match[1]}
        yield "drawdown", {"loan_id": match[1]}
    elif source == Topic.DEPOSIT_GROWTH and period:
        yield "deposit_growth", {"month": period}
    elif source in _FIXED_BY_TOPIC:
        yield _FIXED_BY_TOPIC[source], {}


def lot_reason(*, reason: str, source: str, source_ref: str, period: str, reference) -> str:
    """A lot's reason in the reader's language (Chinese: the stored text, unchanged)."""
    if not is_english():
        return reason
    found = _matching(reason, _lot_candidates(source=source, source_ref=source_ref, period=period, reference=reference))
    return gettext(TEMPLATES[found[0]]) % found[1] if found else reason


def debit_reason(*, reason: str, kind: str, reference, lot: dict | None = None) -> str:
    """A debit's reason in the reader's language. ``lot`` (reason, source, source_ref, period, reference) is the
    earning a reversal or debt settlement belongs to; a debt settlement quotes that earning's reason."""
    if not is_english():
        return reason
    if kind == PointsDebit.Kind.DEBT_SETTLEMENT:
        if lot is not None and reason == chinese("debt_settled", earning=lot["reason"]):
            return gettext(TEMPLATES["debt_settled"]) % {"earning": lot_reason(**lot)}
        return reason
    candidates = list(_written(reference))
    if kind == PointsDebit.Kind.EXPIRE:
        candidates.append(("expired", {}))
    found = _matching(reason, candidates)
    return gettext(TEMPLATES[found[0]]) % found[1] if found else reason
