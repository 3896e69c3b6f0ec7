"""The real wiring: an event published in a committed transaction travels through Redis to a Celery
worker process, which delivers it and marks it delivered in the database."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection, transaction

from jikuai.core import bus
from jikuai.core.models import OutboxEvent

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_event_is_delivered_by_a_worker_through_redis(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL shared between the test and the worker process (DATABASE_URL)")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "jikuai.settings",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    queue = f"test-{os.getpid()}"
    log = tempfile.NamedTemporaryFile("w+", prefix="celery-worker-", suffix=".log")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "jikuai",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "-l",
            "warning",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    # A producer of its own (the project app runs eagerly in tests); the on-commit hook of publish()
    # sends the task through Redis exactly as production's dispatch_event.delay() would.
    producer = Celery("jikuai-test-producer", broker=redis_url)
    monkeypatch.setattr(
        bus, "_enqueue", lambda event_id: producer.send_task("jikuai.core.tasks.dispatch_event", args=[event_id], queue=queue)
    )
    try:
        with transaction.atomic():
            event = bus.publish("test.worker_roundtrip", {"n": 1})
        deadline = time.monotonic() + 180  # the worker boots the whole project; slow on a busy 2-core machine
        while time.monotonic() < deadline:
            event.refresh_from_db()
            if event.status == OutboxEvent.Status.DELIVERED:
                break
            if worker.poll() is not None:
                log.seek(0)
                pytest.fail(f"worker exited: {log.read()[-2000:]}")
            time.sleep(0.3)
        log.seek(0)
        assert event.status == OutboxEvent.Status.DELIVERED, log.read()[-3000:]
    finally:
        producer.close()
        worker.terminate()
        worker.wait(timeout=20)
        log.close()
