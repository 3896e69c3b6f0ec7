"""Apply-to-decision over the integrator API against gunicorn on loopback (八随五秒: the answer in seconds).

    python -m bench.origination_apply [--clients 16] [--requests 800] [--workers N] [--keep-db]

Runs in its own database ``<DATABASE_URL name>_apply_bench`` (created, migrated, dropped afterwards unless
--keep-db). Setup (not timed): the rule policy and the seven products, N teachers with verified KYC, a
credit-report consent and a declared income, an integrator client; gunicorn started on a free loopback
port as production runs it (``gunicorn.conf.py``: sync workers, one per core plus one; DEBUG off).

Timed, with ``--clients`` concurrent client threads, a new connection per request (gunicorn sync workers
close every connection), after a warm-up of each, two phases that take turns in ``--rounds`` slices
(baseline, apply, baseline, apply, …) so that the machine's changing speed weighs on both alike:
1. baseline — ``GET /version.json``, a plain JSON view through the same middleware stack;
2. apply — ``POST /api/v1/applications`` signed (HMAC, nonce, timestamp; signed before the timed phase, as a
   load generator prepares its requests) with an Idempotency-Key: create
   and submit a 园丁贷 application for a distinct customer; the automated decision (admission → rating →
   limit → pricing, one rule-flow decision) runs inside the request; the response carries the outcome.
Reported per phase: requests/s, p50 / p95 / p99 latency, status codes, and the CPU spent per request by
the app server (gunicorn's processes), the database (the PostgreSQL processes) and this client (read from
/proc); for apply the outcomes too.
Targets (issue 5): apply p99 ≤ 1 s and apply throughput ≥ 0.10 × the baseline's. With ``REDIS_URL`` set the
after-commit work (the contract PDF of an approved application) is queued to Celery as in production, by
the bus relay (``manage.py bus_relay``, started here too; its CPU is reported beside the app server's);
without it Celery is eager and that work runs inside the request (reported in the result). OCR and face checks run
off the request path (a Celery task); their per-image times come from ``bench.kyc_pipeline``'s results,
copied into this report.
"""

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import runpy
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

NAME = "origination_apply"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / f"{NAME}.json"
KYC_RESULTS = ROOT / "bench" / "results" / "kyc_pipeline.json"
SECRET = secrets.token_hex(24)  # a fresh integrator secret per run
PRODUCT = "ydd"
BUSINESS_DATE = dt.date(2026, 6, 15)


def _bench_database(keep: bool) -> tuple[str, str]:
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench.origination_apply needs DATABASE_URL=postgres://…")
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "jikuai") + "_apply_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + name))
    return name, admin


def _drop_database(name: str, admin: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _setup(count: int) -> tuple[str, list[int]]:
    """Policy, products, ``count`` eligible teachers and an integrator client; returns (app id, customer ids)."""
    from django.utils import timezone

    from jikuai.api.models import IntegratorClient
    from jikuai.core.idnumber import generate_id_number
    from jikuai.core.workdays import business_date_set
    from jikuai.customers.models import Consent, Customer
    from jikuai.customers.services import id_number_index, mobile_index
    from jikuai.org.models import Branch, Institution
    from lending.demo_origination import seed_products
    from riskrules.policy.seed import seed_policy

    business_date_set(day=BUSINESS_DATE)
    seed_policy(product_codes=[PRODUCT])
    seed_products()
    institution, _ = Institution.objects.get_or_create(
        code="BENCHAPPLY", defaults={"name": "基准测试农商行", "short_name": "基准"}
    )
    branch, _ = Branch.objects.get_or_create(institution=institution, code="BENCH01", defaults={"name": "基准支行"})
    rng = random.Random(uuid.uuid4().int)  # fresh identities on every call (a kept database may hold earlier ones)
    stamp = uuid.uuid4().hex[:4]
    opened = timezone.now() - dt.timedelta(days=365 * 6)
    customers = []
    for n in range(count):
        birth = dt.date(rng.randint(1970, 1995), rng.randint(1, 12), rng.randint(1, 28))
        number = generate_id_number(region_code="220182", birth_date=birth, gender=rng.choice("MF"), sequence=n % 900, rng=rng)
        mobile = f"137{rng.randint(0, 99_999_999):08d}"
        customers.append(
            Customer(
                institution=institution,
                branch=branch,
                name="基准教师",
                id_number=number,
                id_number_index=id_number_index(number),
                mobile=mobile,
                mobile_index=mobile_index(mobile),
                gender="M",
                birth_date=birth,
                occupation="teacher",
                employer="第一中学",
                monthly_income=rng.choice([6000, 8000, 12000]),
                referral_code=f"A{stamp}{n:07d}",
                kyc_status="verified",
                created_at=opened,
            )
        )
    before = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0
    Customer.objects.bulk_create(customers, batch_size=1000, ignore_conflicts=True)
    ids = list(
        Customer.objects.filter(institution=institution, name="基准教师", id__gt=before)
        .order_by("id")
        .values_list("id", flat=True)
    )
    Consent.objects.bulk_create(
        [Consent(customer_id=pk, purpose="credit_report", text_version="v1", channel="batch") for pk in ids], batch_size=1000
    )
    client = IntegratorClient(institution=institution, name="基准测试接入方", scopes=["*"], allowed_ips=[], is_active=True)
    client.secret = SECRET
    client.save()
    return client.app_id, ids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _configured_workers() -> int:
    """The worker count production runs with: the ``workers`` of ``gunicorn.conf.py`` (the Procfile's web)."""
    return int(runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"])


def _start_gunicorn(port: int, workers: int) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    env = {**os.environ, "DJANGO_DEBUG": "False", "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "ERROR"}
    command = [str(gunicorn), "jikuai.wsgi:application", "-c", str(ROOT / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        [*command, "-w", str(workers), "--log-level", "error"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/version.json")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    sys.exit("gunicorn did not start")


def _start_relay() -> subprocess.Popen | None:
    """The bus's outbox relay, as production runs it beside the workers (only with a broker)."""
    if not os.environ.get("REDIS_URL"):
        return None
    env = {**os.environ, "DJANGO_DEBUG": "False", "LOG_LEVEL": "ERROR"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "bus_relay"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _run(port: int, clients: int, jobs: list) -> dict:
    """Run ``jobs`` (callables taking a connection factory, returning (status, body)) on ``clients`` threads."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list = []
    lock = threading.Lock()

    def one(job):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        status, body = job(conn)
        elapsed = time.perf_counter() - started
        conn.close()
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1
            bodies.append(body)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, jobs))
    seconds = time.perf_counter() - started
    return {
        "requests": len(jobs),
        "seconds": round(seconds, 3),
        "requests_per_second": round(len(jobs) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "_bodies": bodies,
        "_latencies": latencies,
    }


def _cpu_seconds(server_group: int, relay_group: int | None = None) -> dict | None:
    """CPU seconds used so far by the app server (gunicorn's process group), PostgreSQL (every ``postgres``
    process), the bus relay and this client process; None where /proc is missing (not Linux)."""
    if not os.path.isdir("/proc"):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    used = {"app_server": 0.0, "database": 0.0, "relay": 0.0, "client": time.process_time()}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue  # gone since listed
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(fields[2]) == server_group:
            used["app_server"] += seconds
        elif relay_group is not None and int(fields[2]) == relay_group:
            used["relay"] += seconds
        elif comm == "postgres":
            used["database"] += seconds
    return used


def _interleaved(port: int, clients: int, phases: dict, rounds: int, server_group: int, relay_group: int | None) -> dict:
    """Run each phase's jobs in ``rounds`` slices, the phases taking turns (baseline, apply, baseline, …), so
    a change in the machine's speed during the run weighs on both alike; each phase's figures are over all
    of its slices (requests/s = its requests ÷ the time its slices took)."""
    totals = {name: {"seconds": 0.0, "latencies": [], "statuses": {}, "bodies": [], "cpu": None} for name in phases}
    for index in range(rounds):
        for name, jobs in phases.items():
            size = -(-len(jobs) // rounds)
            part = jobs[index * size : (index + 1) * size]
            if not part:
                continue
            before = _cpu_seconds(server_group, relay_group)
            result = _run(port, clients, part)
            after = _cpu_seconds(server_group, relay_group)
            total = totals[name]
            total["seconds"] += result["seconds"]
            total["latencies"] += result["_latencies"]
            total["bodies"] += result["_bodies"]
            for status, count in result["statuses"].items():
                total["statuses"][status] = total["statuses"].get(status, 0) + count
            if before and after:
                spent = {side: after[side] - before[side] for side in after}
                total["cpu"] = {side: (total["cpu"] or {}).get(side, 0.0) + spent[side] for side in spent}
    out = {}
    for name, total in totals.items():
        latencies, count = total["latencies"], len(total["latencies"])
        out[name] = {
            "requests": count,
            "seconds": round(total["seconds"], 3),
            "requests_per_second": round(count / total["seconds"], 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(_percentile(latencies, 95) * 1000, 1),
            "p99_ms": round(_percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
            "statuses": dict(sorted(total["statuses"].items())),
            "_bodies": total["bodies"],
        }
        if total["cpu"]:
            out[name]["cpu_ms_per_request"] = {
                side: round(total["cpu"][side] * 1000 / count, 2) for side in ("app_server", "database", "relay", "client")
            }
    return out


def _version_job(conn):
    conn.request("GET", "/version.json")
    response = conn.getresponse()
    return response.status, response.read()


def _apply_job(app_id: str, customer_id: int, amount: int):
    from jikuai.api.signing import signed_headers

    path = "/api/v1/applications"
    body = json.dumps(
        {
            "customer_id": customer_id,
            "product_code": PRODUCT,
            "amount": f"{amount}.00",
            "term_months": 12,
            "repayment_method": "equal_installment",
            "purpose": "家庭装修",
        }
    ).encode()

    # signed when the job is built, before the timed phase (well inside the signature's time window): the
    # load generator shares the two cores with the server, so its own work is kept out of the measurement
    headers = signed_headers(app_id=app_id, secret=SECRET, method="POST", path=path, body=body)
    headers.update({"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex})

    def job(conn):
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    return job


def _outcome(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "unparsable"
    return str(data.get("state") or data.get("code") or "unknown")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=800, help="timed requests per phase")
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4, help="slices per phase, the phases taking turns")
    parser.add_argument(
        "--workers", type=int, default=None, help="gunicorn sync workers (default: as production, gunicorn.conf.py)"
    )
    parser.add_argument("--size", type=int, default=None, help="alias of --requests (python -m bench --size N)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)
    if args.size:
        args.requests = args.size
    if args.workers is None:
        args.workers = _configured_workers()
    name, admin = _bench_database(args.keep_db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")
    os.environ["DJANGO_DEBUG"] = "False"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    print(f"migrating {name} …", file=sys.stderr, flush=True)
    call_command("migrate", verbosity=0, interactive=False)
    process = relay = None
    try:
        app_id, customer_ids = _setup(args.requests + args.warmup)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            version = cursor.connection.info.server_version
        connections.close_all()
        port = _free_port()
        relay = _start_relay()  # first: it has booted by the time gunicorn answers
        relay_group = relay.pid if relay is not None else None
        process = _start_gunicorn(port, args.workers)
        rng = random.Random(7)
        amounts = [rng.choice([30_000, 50_000, 80_000, 120_000]) for _ in customer_ids]
        jobs = [_apply_job(app_id, pk, amount) for pk, amount in zip(customer_ids, amounts, strict=True)]
        _run(port, args.clients, [_version_job] * args.warmup)
        _run(port, args.clients, jobs[: args.warmup])
        phases = {"baseline": [_version_job] * args.requests, "apply": jobs[args.warmup :]}
        measured = _interleaved(port, args.clients, phases, args.rounds, process.pid, relay_group)
        baseline, apply = measured["baseline"], measured["apply"]
        outcomes: dict[str, int] = {}
        for body in apply.pop("_bodies"):
            key = _outcome(body)
            outcomes[key] = outcomes.get(key, 0) + 1
        baseline.pop("_bodies")
        apply["outcomes"] = dict(sorted(outcomes.items()))
        ratio = apply["requests_per_second"] / baseline["requests_per_second"]
        kyc = json.loads(KYC_RESULTS.read_text())["figures"] if KYC_RESULTS.exists() else None
        result = {
            "benchmark": NAME,
            "size": args.requests,
            "figures": {
                "clients": args.clients,
                "rounds": args.rounds,
                "gunicorn_workers": args.workers,
                "baseline_plain_json": baseline,
                "apply_to_decision": apply,
                "throughput_ratio": round(ratio, 3),
                "kyc_off_request_path_per_image": kyc,
                "after_commit_work": (
                    "the decided event stays in the outbox; the bus relay (running, its CPU reported) hands it to"
                    " Celery through Redis, a few events per task (contract generation runs in a worker, none is"
                    " started here)"
                    if os.environ.get("REDIS_URL")
                    else "eager: the bus handlers (contract PDF of approved applications) run inside the request"
                ),
            },
            "targets": {"apply_p99_ms_max": 1000, "throughput_ratio_min": 0.10},
            "met": {
                "p99": apply["p99_ms"] <= 1000,
                "throughput_ratio": ratio >= 0.10,
                "all_answered": set(apply["statuses"]) <= {"200", "201"},
            },
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "database": f"postgresql {version // 10000}.{version % 100}",
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    finally:
        if process is not None:
            _stop(process)
        if relay is not None:
            _stop(relay)
        if not args.keep_db:
            _drop_database(name, admin)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
