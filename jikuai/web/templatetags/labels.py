from decimal import Decimal

from django import template

from jikuai.core.labels import pick
from jikuai.core.money import round_to

register = template.Library()


@register.filter(name="lang_label")
def lang_label(value) -> str:
    """``{{ obj.get_state_display|lang_label }}``: the current language's half of a bilingual label."""
    return pick(value)


@register.filter(name="money")
def money(value, places=2) -> str:
    """``{{ amount|money }}`` → ``30,000.00``; ``{{ amount|money:0 }}`` → ``800,000``: amounts in yuan with
    thousands separators, as bank statements print them, rounded half up by the money helpers; empty for
    None or "" and the value unchanged when it is not a number."""
    if value is None or value == "":
        return ""
    try:
        places = int(places)
        amount = round_to(Decimal(str(value)) if isinstance(value, float) else value, places)  # floats: display only
    except (ValueError, TypeError):
        return str(value)
    return f"{amount:,.{places}f}"
