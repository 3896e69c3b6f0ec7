"""The outbox relay (总线中继): hands committed bus events to the Celery workers, a few per task.

Requests that publish an event only insert its outbox row (``bus.publish``); this process polls the
outbox for events never tried yet and sends them to the workers as ``dispatch_events`` tasks of up to
``batch`` events, so the publishing request makes no broker round trip and the broker carries a
fraction of the messages. Run it beside the workers (``manage.py bus_relay``, ``make relay``, the
Procfile's ``relay``); one relay is enough, and two are harmless (delivery is idempotent per event and
handler: an event handed twice runs each handler once).

Each round reads only what is new: the events above the highest id seen so far, plus the few ids below
it that were not visible yet when it was passed (a transaction still open). An event handed but still
pending after ``resend_after`` seconds (a worker lost the task) is handed again; an event whose handler
failed has ``attempts`` > 0 and belongs to the redelivery beat job with its backoff, which also picks up
anything older than the relay's window (events committed while it was down, very long transactions).
"""

import datetime as dt
import logging
import time
from collections.abc import Callable

from django.db.models import Max, Q
from django.utils import timezone

from jikuai.core.models import OutboxEvent

logger = logging.getLogger(__name__)


class Relay:
    """Polls the outbox above a high-water mark. An id below the mark that was not visible when the mark
    passed it (its transaction still open, or rolled back) is kept as a gap and looked for again for
    ``window`` seconds; after that the redelivery job owns it."""

    def __init__(
        self,
        *,
        batch: int = 10,
        limit: int = 1000,
        resend_after: float = 60.0,
        window: float = 30.0,
        send: Callable[[list[int]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if batch < 1 or limit < batch:
            raise ValueError("batch must be at least 1 and limit at least batch")
        self.batch = batch
        self.limit = limit
        self.resend_after = resend_after
        self.window = window
        self.send = send or _send
        self.clock = clock
        self.high_water: int | None = None  # every id up to here was seen, or is a gap
        self.gaps: dict[int, float] = {}  # id -> when it was first missed
        self.handed: dict[int, float] = {}  # id -> when it was last handed

    def _start(self) -> int:
        """Begin below the events of the last ``window`` seconds (anything older is the redelivery job's)."""
        cutoff = timezone.now() - dt.timedelta(seconds=self.window)
        return OutboxEvent.objects.filter(created_at__lt=cutoff).aggregate(m=Max("id"))["m"] or 0

    def run_once(self) -> int:
        """Hand the events that are due; returns how many were handed."""
        now = self.clock()
        if self.high_water is None:
            self.high_water = self._start()
        stale = [pk for pk, at in self.handed.items() if now - at >= self.resend_after]
        pending = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, attempts=0)
        new = list(
            pending.filter(Q(pk__gt=self.high_water) | Q(pk__in=list(self.gaps)))
            .order_by("id")
            .values_list("id", flat=True)[: self.limit]
        )
        again = set(pending.filter(pk__in=stale).values_list("id", flat=True)) if stale else set()
        for pk in stale:  # no longer pending (delivered, or failed over to the redelivery job): forget it
            if pk not in again:
                del self.handed[pk]
        above = [pk for pk in new if pk > self.high_water]
        if above:
            seen = set(above)
            for pk in range(self.high_water + 1, min(above[-1], self.high_water + 100_000)):
                if pk not in seen:
                    self.gaps.setdefault(pk, now)
            self.high_water = above[-1]
        for pk in new:
            self.gaps.pop(pk, None)
        self.gaps = {pk: at for pk, at in self.gaps.items() if now - at < self.window}
        due = sorted(set(new) | again)
        handed = 0
        for start in range(0, len(due), self.batch):
            chunk = due[start : start + self.batch]
            try:
                self.send(chunk)
            except Exception:  # broker down: look for them again on the next round
                logger.warning("bus relay: could not hand %s events to the broker; retrying", len(chunk), exc_info=True)
                for pk in due[start:]:
                    if pk not in self.handed:
                        self.gaps.setdefault(pk, now)
                break
            for pk in chunk:
                self.handed[pk] = now
            handed += len(chunk)
        return handed

    def run(self, *, interval: float = 0.2, stop: Callable[[], bool] = lambda: False) -> None:
        """Poll until ``stop()``: every ``interval`` seconds, at once again while a round hits ``limit``."""
        from django.db import close_old_connections

        while not stop():
            try:
                handed = self.run_once()
            except Exception:  # database gone for a moment: reconnect on the next round
                logger.exception("bus relay: poll failed")
                close_old_connections()
                handed = 0
                time.sleep(1.0)
            if handed < self.limit:
                time.sleep(interval)


def _send(event_ids: list[int]) -> None:
    from jikuai.core.tasks import dispatch_events

    dispatch_events.delay(event_ids)
