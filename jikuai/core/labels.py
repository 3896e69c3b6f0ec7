"""Bilingual choice labels ("已签署 signed"): the half of the current language (Chinese first)."""

from django.utils.translation import get_language


def is_english() -> bool:
    """The current request's language is English (Chinese is the default)."""
    return (get_language() or "").startswith("en")


def pick(label) -> str:
    """``"已签署 signed"`` → ``"已签署"`` in Chinese, ``"Signed"`` in English (first letter capitalised, as a label on a page); other labels unchanged."""
    text = str(label or "")
    chinese, _, english = text.partition(" ")
    if not english or not any("\u4e00" <= ch <= "\u9fff" for ch in chinese):
        return text
    if is_english():
        return english[:1].upper() + english[1:]  # labels stand alone on a page: "Active", "Equal installment"
    return chinese
