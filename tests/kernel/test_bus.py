import pytest
from django.db import transaction

from jikuai.core import bus
from jikuai.core.models import EventDelivery, OutboxEvent
from jikuai.org.models import Institution

pytestmark = pytest.mark.django_db(transaction=True)

calls: list[tuple[str, int]] = []


@pytest.fixture(autouse=True)
def _handlers():
    calls.clear()
    saved = dict(bus._registry)
    bus._registry.clear()

    @bus.subscribe("test.thing_happened", name="tests.ok_handler")
    def ok_handler(event):
        calls.append(("ok", event.id))
        Institution.objects.create(code=f"EV{event.id}", name="from event")

    yield
    bus._registry.clear()
    bus._registry.update(saved)


def test_event_is_delivered_after_commit_once():
    with transaction.atomic():
        event = bus.publish("test.thing_happened", {"n": 1})
        assert calls == []  # nothing before commit
    assert calls == [("ok", event.id)]
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED
    # delivering again runs nothing
    bus.dispatch(event.id)
    bus.dispatch(event.id)
    assert calls == [("ok", event.id)]
    assert Institution.objects.filter(code=f"EV{event.id}").count() == 1


def test_event_in_rolled_back_transaction_is_never_delivered():
    with pytest.raises(RuntimeError), transaction.atomic():
        bus.publish("test.thing_happened", {"n": 2})
        raise RuntimeError("business failure")
    assert OutboxEvent.objects.count() == 0
    assert bus.redeliver_due(min_age_seconds=0) == 0
    assert calls == []


def test_failing_handler_is_retried_without_duplicating_the_other_handler():
    attempts = {"n": 0}

    @bus.subscribe("test.thing_happened", name="tests.flaky_handler")
    def flaky(event):
        attempts["n"] += 1
        Institution.objects.create(code=f"FL{event.id}-{attempts['n']}", name="flaky side effect")
        if attempts["n"] == 1:
            raise ValueError("temporary failure")

    with transaction.atomic():
        event = bus.publish("test.thing_happened", {"n": 3})
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.PENDING
    assert event.attempts == 1 and "temporary failure" in event.last_error
    # the failed attempt's side effect was rolled back with it
    assert not Institution.objects.filter(code=f"FL{event.id}-1").exists()
    assert event.next_attempt_at > event.created_at

    OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=event.created_at)
    assert bus.redeliver_due(min_age_seconds=0) == 1
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED
    assert calls == [("ok", event.id)]  # the good handler ran exactly once
    assert Institution.objects.filter(code=f"FL{event.id}-2").count() == 1
    assert set(EventDelivery.objects.filter(event=event).values_list("handler", flat=True)) == {
        "tests.ok_handler",
        "tests.flaky_handler",
    }


def test_event_fails_after_max_attempts_and_can_be_retried_by_staff():
    @bus.subscribe("test.thing_happened", name="tests.always_fails")
    def always_fails(event):
        raise ValueError("broken")

    with transaction.atomic():
        event = bus.publish("test.thing_happened", {"n": 4})
    for _ in range(bus.MAX_ATTEMPTS):
        bus.dispatch(event.id)
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.FAILED
    bus._registry["test.thing_happened"].pop("tests.always_fails")
    event = bus.event_retry(event_id=event.id)
    assert event.status == OutboxEvent.Status.DELIVERED


def test_publish_many_delivers_each_event_once_after_commit():
    with transaction.atomic():
        count = bus.publish_many("test.thing_happened", [{"n": i} for i in range(5)])
        assert count == 5 and calls == []
    assert len(calls) == 5
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.DELIVERED).count() == 5


def test_enqueue_dispatches_committed_events_in_batches():
    from unittest import mock

    with mock.patch.object(bus, "_enqueue"):  # publish() alone must not deliver here
        with transaction.atomic():
            events = [bus.publish("test.thing_happened", {"n": i}) for i in range(3)]
    assert calls == []
    assert bus.enqueue([e.id for e in events], batch_size=2) == 3
    assert sorted(c[1] for c in calls) == sorted(e.id for e in events)
