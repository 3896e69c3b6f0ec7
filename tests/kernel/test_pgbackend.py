"""jikuai.core.pgbackend: the per-request health check of a kept connection costs no round trip while the
connection is healthy, and still finds a connection the server has dropped."""

import time
from unittest import mock

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection
from django.db.backends.postgresql import base as django_postgresql

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the backend is PostgreSQL's")
    assert connection.settings_dict["ENGINE"] == "jikuai.core.pgbackend"
    assert connection.health_check_enabled


def _server_side(sql: str, *params) -> None:
    """Run a statement on a connection of its own (another session, as an operator would)."""
    dsn = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in dsn.items() if k not in ("cursor_factory", "context")}, autocommit=True) as other:
        other.execute(sql, params)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _wait_readable(seconds: float = 5.0) -> None:
    import select

    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + seconds
    while not poller.poll(50):
        assert time.monotonic() < deadline, "the server's message never arrived"


def test_a_healthy_idle_connection_is_usable_without_a_statement():
    _backend_pid()
    with mock.patch.object(django_postgresql.DatabaseWrapper, "is_usable", autospec=True) as select_one:
        assert connection.is_usable() is True
    select_one.assert_not_called()  # no SELECT 1: nothing was waiting on the socket


def test_a_connection_the_server_terminated_is_found_and_replaced_at_the_next_request():
    pid = _backend_pid()
    _server_side("SELECT pg_terminate_backend(%s)", pid)
    _wait_readable()
    assert connection.is_usable() is False
    # the request cycle as Django runs it: the kept connection is checked before its first use
    request_started.send(sender=None)
    try:
        new_pid = _backend_pid()  # would raise OperationalError had the dead connection been used
    finally:
        request_finished.send(sender=None)
    assert new_pid != pid


def test_something_harmless_waiting_is_left_to_the_servers_answer():
    _backend_pid()
    with connection.cursor() as cursor:
        cursor.execute("LISTEN jikuai_health_probe")
    _server_side("NOTIFY jikuai_health_probe")
    _wait_readable()
    with mock.patch.object(
        django_postgresql.DatabaseWrapper, "is_usable", autospec=True, side_effect=lambda self: True
    ) as select_one:
        assert connection.is_usable() is True
    select_one.assert_called_once()  # readable: the SELECT 1 check decided
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")
    assert connection.is_usable() is True  # and Django's real check passes on the live connection


def test_a_closed_connection_is_unusable():
    _backend_pid()
    connection.connection.close()
    assert connection.is_usable() is False
    connection.close()
