"""总线中继 / outbox relay: hand committed bus events to the Celery workers (see jikuai.core.relay)."""

import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jikuai.core import bus
from jikuai.core.relay import Relay


class Command(BaseCommand):
    help = "Hand committed bus events to the workers, a few per task (run beside the workers)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between polls when idle")
        parser.add_argument("--batch", type=int, default=10, help="events per task")
        parser.add_argument("--once", action="store_true", help="one round, then exit")

    def handle(self, *args, interval, batch, once, **options):
        if not bus.relayed():
            raise CommandError(
                "总线中继未启用：需要消息代理（REDIS_URL）且 BUS_RELAY 打开。/ "
                "the relay is off: it needs a broker (REDIS_URL) and BUS_RELAY on"
            )
        relay = Relay(batch=batch)
        if once:
            self.stdout.write(f"handed {relay.run_once()} events")
            return
        stopping = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.append(True))
        self.stdout.write(
            f"bus relay: polling every {interval}s, {batch} events per task ({settings.CELERY_BROKER_URL.split('@')[-1]})"
        )
        relay.run(interval=interval, stop=lambda: bool(stopping))
