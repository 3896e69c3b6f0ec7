"""Gunicorn settings of the web process — the Procfile's ``web`` and the apply benchmark read this file
(gunicorn loads ``./gunicorn.conf.py`` by default; the command line still wins).

Workers: one sync worker per core plus one (``WEB_CONCURRENCY`` overrides). The usual ``2 × cores + 1``
suits an app whose requests mostly wait on a remote database; here PostgreSQL and Redis share the cores
with the workers and a request's waits are sub-millisecond round trips, so more workers only add
context switches and cache misses: on the two-core machine the apply benchmark measured 5.1–5.2 ms of
app-server CPU per apply with 3 workers against 5.6–6.2 ms with 5 (and ~16 % more applies per second),
the plain JSON view the same either way; 2 workers left the plain view short of CPU (docs/origination.md).
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY") or (os.cpu_count() or 1) + 1)
worker_class = "sync"
timeout = 60
