"""`make smoke`: the `make run` path on the embedded default (SQLite, eager tasks), without blocking.

Migrates a fresh SQLite file, seeds the demo twice (idempotent), starts the development server on a free
port, requests the key pages and stops it. Exits non-zero on the first failure.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="jikuai-smoke-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["DATABASE_URL"] = f"sqlite:///{workdir / 'smoke.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "jikuai.settings"
    manage = [PY, str(ROOT / "manage.py")]
    for args in (
        ["migrate", "--noinput"],
        ["seed_demo", "--customers-per-bank", "20"],
        ["seed_demo", "--customers-per-bank", "20"],
    ):
        print("smoke:", " ".join(args), flush=True)
        subprocess.run([*manage, *args], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except Exception:
                time.sleep(0.2)
        checks = [
            ("/", "吉快金融"),
            ("/healthz", '"database"'),
            ("/admin/login/", "吉快金融"),
            ("/api/v1/schema/", "/api/v1/customers"),
            ("/api/v1/docs/", "swagger"),
        ]
        for path, needle in checks:
            with urllib.request.urlopen(base + path, timeout=10) as resp:
                body = resp.read().decode("utf-8")
                if resp.status != 200 or needle not in body:
                    print(f"smoke: FAILED {path} status={resp.status}", file=sys.stderr)
                    return 1
                if path == "/healthz":
                    health = json.loads(body)
                    if health["status"] != "ok":
                        print(f"smoke: FAILED health {health}", file=sys.stderr)
                        return 1
            print(f"smoke: ok {path}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("smoke: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
