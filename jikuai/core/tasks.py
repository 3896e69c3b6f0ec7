from celery import shared_task

from jikuai.core import bus


@shared_task(name="jikuai.core.tasks.dispatch_event", acks_late=True)
def dispatch_event(event_id: int) -> None:
    bus.dispatch(event_id)


@shared_task(name="jikuai.core.tasks.dispatch_events", acks_late=True)
def dispatch_events(event_ids: list[int]) -> None:
    for event_id in event_ids:
        bus.dispatch(event_id)


@shared_task(name="jikuai.core.tasks.redeliver_events")
def redeliver_events() -> int:
    return bus.redeliver_due()
