from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from jikuai.core.labels import pick

register = template.Library()


@register.filter(name="lang_label")
def lang_label(value) -> str:
    """``{{ obj.get_state_display|lang_label }}``: the current language's half of a bilingual label."""
    return pick(value)


@register.filter(name="money")
def money(value, places=2) -> str:
    """``{{ amount|money }}`` → ``30,000.00``; ``{{ amount|money:0 }}`` → ``800,000``: amounts in yuan with
    thousands separators, as bank statements print them. Rounded half up (ROUND_HALF_UP), like the ledger;
    empty for None or "" and the value unchanged when it is not a number."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
        places = int(places)
    except (InvalidOperation, ValueError, TypeError):
        return str(value)
    quantum = Decimal(1).scaleb(-places)
    return f"{amount.quantize(quantum, rounding=ROUND_HALF_UP):,.{places}f}"
