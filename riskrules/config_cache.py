"""The rule configuration a decision reads on every call — the variable catalogue, the reason texts and
the chosen deployments — memoised per process under the platform's reference generation
(``jikuai.core.refmemo``: one shared token, renewed after every committed change, read once per request).

A decision used to read the whole variable catalogue (one model per variable) and join its deployment
with the rule set and both versions on every call; now a process reads them once per generation.
``QuerySet.update()`` and bulk writes send no signals: code that changes these tables that way calls
``config_changed()`` itself (``versions.py`` does).
"""

from jikuai.core import refmemo

GENERATION_KEY = refmemo.GENERATION_KEY
WATCHED = ("Variable", "ReasonCode", "RuleSet", "RuleVersion", "Deployment")

memoized = refmemo.memoized
clear = refmemo.clear
config_changed = refmemo.changed


def connect_signals() -> None:
    from django.apps import apps

    refmemo.watch(*(apps.get_model("riskrules", name) for name in WATCHED))
