"""Rate limits hold under concurrent requests (PostgreSQL, real threads).

Every thread requests a code for the same mobile at the same moment. Each waits a little between its
checks and its insert, which is exactly where a check-then-insert race happens. With the advisory lock
only one code is issued; the naive variant (lock removed) issues several, which proves the test can fail.
"""

import threading
import time

import pytest
from django.db import close_old_connections, connection

from jikuai.core.exceptions import RateLimited
from jikuai.customers import accounts
from jikuai.customers.models import OneTimeCode
from tests.web.factories import new_mobile

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 4


def race(monkeypatch, mobile: str) -> list[str]:
    if connection.vendor != "postgresql":
        pytest.fail("concurrency tests need PostgreSQL (DATABASE_URL)")
    original_create = OneTimeCode.objects.create

    def slow_create(**kwargs):
        time.sleep(0.3)  # widen the window between the rate-limit checks and the insert
        return original_create(**kwargs)

    monkeypatch.setattr(OneTimeCode.objects, "create", slow_create)
    start = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def request_code():
        try:
            start.wait(timeout=10)
            accounts.otp_send(mobile=mobile, purpose=OneTimeCode.Purpose.LOGIN, ip_address="10.7.7.7")
            outcomes.append("sent")
        except RateLimited:
            outcomes.append("limited")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=request_code) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_concurrent_requests_issue_one_code(monkeypatch, sms_outbox):
    mobile = new_mobile()
    outcomes = race(monkeypatch, mobile)
    assert sorted(outcomes) == ["limited"] * (THREADS - 1) + ["sent"]
    assert OneTimeCode.objects.count() == 1
    assert len(sms_outbox) == 1


def test_naive_variant_without_the_lock_issues_several_codes(monkeypatch, sms_outbox):
    monkeypatch.setattr(accounts, "_advisory_locks", lambda *keys: None)
    outcomes = race(monkeypatch, new_mobile())
    assert outcomes.count("sent") > 1  # the race the lock prevents
    assert OneTimeCode.objects.count() > 1
