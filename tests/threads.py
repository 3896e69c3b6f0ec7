"""Real threads racing on PostgreSQL (each with its own connection), for concurrency tests."""

import threading

from django.db import connection

from jikuai.core.exceptions import ApplicationError


def run_threads(target, count: int = 2) -> list:
    """Run ``target(index, barrier)`` on ``count`` threads (they meet at the barrier to start together);
    each result in its slot: the return value, ``("refused", code)`` for an ApplicationError or
    ``("error", repr)`` for anything else (surfaced in the caller's assertions)."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def worker(index):
        try:
            results[index] = target(index, barrier)
        except ApplicationError as exc:
            results[index] = ("refused", exc.code)
        except Exception as exc:  # surfaced in the assertions
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
