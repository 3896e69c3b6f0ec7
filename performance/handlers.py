"""Bus subscribers: business events from lending, lifestyle and the kernel become attributed facts; a loan
turning non-performing proposes clawbacks. Handler names are stable (the bus records deliveries by name)."""

from jikuai.core.bus import BusEvent, subscribe
from performance.sources import TOPICS


def _facts(event: BusEvent) -> None:
    from performance.services.attribution import facts_from_event

    facts_from_event(event)


for _topic in TOPICS:
    subscribe(_topic, name=f"performance.facts:{_topic}")(_facts)


@subscribe("lending.loan_classified", name="performance.clawback:lending.loan_classified")
def propose_clawbacks(event: BusEvent) -> None:
    from performance.services.pay import clawback_propose_for_loan

    clawback_propose_for_loan(event)
