"""The outbox relay: with a broker, a publishing request only writes the outbox row and the relay hands
committed events to the workers a few per task (jikuai.core.relay)."""

import datetime as dt
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from jikuai.core import bus, relay
from jikuai.core.models import OutboxEvent
from jikuai.core.relay import Relay

pytestmark = pytest.mark.django_db(transaction=True)

BROKER = {"CELERY_TASK_ALWAYS_EAGER": False, "BUS_RELAY": True}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def sent():
    return []


@pytest.fixture
def handoffs(monkeypatch):
    """What the publishing request itself sends to the broker (one task per event)."""
    calls = []
    monkeypatch.setattr(bus, "_enqueue", calls.append)
    monkeypatch.setattr(bus, "_enqueue_many", calls.append)
    return calls


def _publish(count: int) -> list[int]:
    with transaction.atomic():
        return [bus.publish("test.relay", {"n": n}).pk for n in range(count)]


@override_settings(**BROKER)
def test_publishing_request_sends_nothing_and_relay_hands_committed_events_in_batches(handoffs, sent):
    ids = _publish(7)
    with transaction.atomic():  # rolled back: never handed
        bus.publish("test.relay", {"n": "gone"})
        transaction.set_rollback(True)
    assert handoffs == []
    assert OutboxEvent.objects.filter(pk__in=ids, status=OutboxEvent.Status.PENDING).count() == 7

    handed = Relay(batch=3, send=sent.append).run_once()

    assert handed == 7
    assert sent == [ids[0:3], ids[3:6], ids[6:7]]
    assert OutboxEvent.objects.count() == 7


@override_settings(**BROKER)
def test_an_event_is_handed_once_then_again_only_if_still_pending_after_resend_after(handoffs, sent):
    clock = Clock()
    first, second = _publish(2)
    r = Relay(batch=10, resend_after=60, send=sent.append, clock=clock)
    assert r.run_once() == 2
    assert r.run_once() == 0  # handed, the workers have it
    OutboxEvent.objects.filter(pk=first).update(status=OutboxEvent.Status.DELIVERED)
    clock.now += 61
    assert r.run_once() == 1  # the task was lost: handed again; the delivered one is not
    assert sent == [[first, second], [second]]


@override_settings(**BROKER)
def test_an_event_committed_after_a_later_one_is_handed_when_it_commits(handoffs, sent):
    """Ids are taken at insert, visibility comes at commit: the relay's mark passes an open transaction's
    event and looks for it again until it commits."""
    inserted, release, earlier = threading.Event(), threading.Event(), []

    def slow_transaction():
        try:
            with transaction.atomic():
                earlier.append(bus.publish("test.relay", {"n": "slow"}).pk)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=slow_transaction)
    worker.start()
    assert inserted.wait(10)
    (later,) = _publish(1)
    r = Relay(send=sent.append)
    assert r.run_once() == 1 and sent == [[later]]
    assert earlier[0] < later and earlier[0] in r.gaps
    release.set()
    worker.join(10)
    assert r.run_once() == 1 and sent == [[later], earlier]
    assert earlier[0] not in r.gaps and r.run_once() == 0


@override_settings(**BROKER)
def test_a_rolled_back_gap_is_forgotten_after_the_window(handoffs, sent):
    clock = Clock()
    with transaction.atomic():
        bus.publish("test.relay", {"n": "gone"})
        transaction.set_rollback(True)
    r = Relay(send=sent.append, clock=clock, window=30)
    r.run_once()
    (kept,) = _publish(1)
    assert r.run_once() == 1 and sent == [[kept]]
    clock.now += 31
    r.run_once()
    assert r.gaps == {}


@override_settings(**BROKER)
def test_events_older_than_the_window_at_start_are_left_to_the_redelivery_job(handoffs, sent):
    (old,) = _publish(1)
    OutboxEvent.objects.filter(pk=old).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    (new,) = _publish(1)
    assert Relay(send=sent.append, window=30).run_once() == 1
    assert sent == [[new]]


@override_settings(**BROKER)
def test_events_that_failed_once_are_left_to_the_redelivery_job(handoffs, sent):
    (event_id,) = _publish(1)
    OutboxEvent.objects.filter(pk=event_id).update(attempts=1)  # a handler failed; backoff applies
    assert Relay(send=sent.append).run_once() == 0
    assert sent == []


@override_settings(**BROKER)
def test_broker_down_hands_nothing_and_the_next_round_hands_everything(handoffs):
    ids = _publish(4)
    attempts = []

    def down(chunk):
        attempts.append(chunk)
        raise ConnectionError("broker unreachable")

    r = Relay(batch=2, send=down)
    assert r.run_once() == 0
    assert attempts == [ids[:2]]  # stops at the first failure
    delivered = []
    r.send = delivered.append
    assert r.run_once() == 4
    assert delivered == [ids[:2], ids[2:]]


@override_settings(**BROKER)
def test_relay_handed_events_are_delivered_once_by_dispatch_events(handoffs):
    seen = []
    saved = dict(bus._registry)
    bus._registry.clear()
    bus.subscribe("test.relay", name="tests.relay_handler")(lambda event: seen.append(event.id))
    try:
        ids = _publish(3)
        from jikuai.core.tasks import dispatch_events

        Relay(batch=2, send=dispatch_events).run_once()  # the task body, run here
        Relay(batch=2, send=dispatch_events, resend_after=0).run_once()  # nothing left to hand
    finally:
        bus._registry.clear()
        bus._registry.update(saved)
    assert sorted(seen) == ids
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxEvent.Status.DELIVERED}


def test_without_a_broker_each_event_is_delivered_after_commit_and_the_relay_refuses_to_run(handoffs):
    (event_id,) = _publish(1)  # tests run eagerly: the request hands the event itself
    assert handoffs == [event_id]
    with pytest.raises(CommandError, match="总线中继未启用"):
        call_command("bus_relay", "--once")


@override_settings(**BROKER)
def test_bus_relay_command_once(handoffs, sent, monkeypatch, capsys):
    monkeypatch.setattr(relay, "_send", sent.append)
    ids = _publish(2)
    call_command("bus_relay", "--once", "--batch", "5")
    assert sent == [ids]
    assert "handed 2 events" in capsys.readouterr().out


@override_settings(BUS_RELAY=False, CELERY_TASK_ALWAYS_EAGER=False)
def test_relay_off_sends_one_task_per_event_after_commit(handoffs):
    ids = _publish(2)
    assert handoffs == ids
