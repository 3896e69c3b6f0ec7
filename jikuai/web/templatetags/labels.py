from django import template

from jikuai.core.labels import pick

register = template.Library()


@register.filter(name="lang_label")
def lang_label(value) -> str:
    """``{{ obj.get_state_display|lang_label }}``: the current language's half of a bilingual label."""
    return pick(value)
