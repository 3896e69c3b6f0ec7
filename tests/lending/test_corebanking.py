"""Core-banking adapters: the local one settles immediately; the HTTP one is tested against a real
HTTP server on 127.0.0.1 (signed requests, retries on 5xx and timeouts, async 202 answers)."""

import datetime as dt
import hashlib
import hmac
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jikuai.api.signing import string_to_sign
from lending import corebanking
from lending.corebanking import HttpAdapter, LocalAdapter, TransferRequest

SECRET = "core-secret-0123456789"


class PendingAdapter(LocalAdapter):
    """Answers every disbursement with 'pending' (an asynchronous core)."""

    def disburse(self, transfer):
        return corebanking.TransferResult(transfer.request_id, corebanking.PENDING, Decimal("0.00"), reference="ASYNC")


class CoreServer:
    """A small core-banking stand-in on loopback that records and verifies every request."""

    def __init__(self, script):
        self.script = list(script)  # per request: (status, body) or ("sleep", seconds, status, body)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = hmac.new(
                    SECRET.encode(),
                    string_to_sign("POST", self.path, "", self.headers["X-Timestamp"], self.headers["X-Nonce"], body).encode(),
                    hashlib.sha256,
                ).hexdigest()
                outer.requests.append(
                    {
                        "path": self.path,
                        "body": json.loads(body),
                        "signed": hmac.compare_digest(expected, self.headers["X-Signature"]),
                        "key": self.headers.get("Idempotency-Key"),
                    }
                )
                step = outer.script.pop(0) if outer.script else (500, {})
                if step[0] == "sleep":
                    threading.Event().wait(step[1])
                    step = step[2:]
                status, payload = step
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/core"


def transfer(request_id="COL000000000001"):
    return TransferRequest(request_id, "JK-1", "ACC-1", Decimal("123.45"), "2026-03-01")


def adapter(server, **kwargs):
    return HttpAdapter(
        base_url=server.url,
        app_id="jikuai",
        secret=SECRET,
        timeout=kwargs.pop("timeout", 2),
        retries=kwargs.pop("retries", 2),
        backoff=0.01,
        callback_url="https://jikuai.example/api/v1/corebanking/disbursements/callback",
        **kwargs,
    )


def test_signed_request_and_settled_answer():
    with CoreServer([(200, {"status": "settled", "amount": "123.45", "reference": "C1"})]) as server:
        result = adapter(server).collect(transfer())
    assert result.status == "settled" and result.amount == Decimal("123.45") and result.reference == "C1"
    [request] = server.requests
    assert request["signed"] and request["path"] == "/core/collections" and request["key"] == "COL000000000001"
    assert request["body"]["amount"] == "123.45" and request["body"]["callback_url"].endswith("/callback")


def test_retries_on_server_errors_with_the_same_idempotency_key():
    with CoreServer([(503, {}), (500, {}), (202, {"status": "pending", "reference": "Q9"})]) as server:
        result = adapter(server).disburse(transfer("DSB000000000007"))
    assert result.status == "pending" and result.amount == 0
    assert len(server.requests) == 3 and {r["key"] for r in server.requests} == {"DSB000000000007"}
    assert all(r["signed"] for r in server.requests)


def test_timeout_is_retried_then_reported():
    with CoreServer([("sleep", 1.0, 200, {"status": "settled"}), (200, {"status": "failed", "message": "余额不足"})]) as server:
        result = adapter(server, timeout=0.3).collect(transfer())
    assert result.status == "failed" and result.message == "余额不足"
    with CoreServer([("sleep", 1.0, 200, {}), ("sleep", 1.0, 200, {})]) as server, pytest.raises(corebanking.CoreBankingError):
        adapter(server, timeout=0.2, retries=1).collect(transfer())


def test_client_errors_are_not_retried():
    with CoreServer([(400, {"error": "bad account"})]) as server, pytest.raises(corebanking.CoreBankingError, match="400"):
        adapter(server).collect(transfer())
    assert len(server.requests) == 1


def test_unreachable_core():
    with pytest.raises(corebanking.CoreBankingError):
        HttpAdapter(base_url="http://127.0.0.1:9", app_id="a", secret="s", timeout=0.2, retries=1, backoff=0.01).collect(
            transfer()
        )
    with pytest.raises(corebanking.CoreBankingError):
        HttpAdapter(base_url="ftp://core", app_id="a", secret="s")


def test_local_adapter_settles_immediately_and_is_idempotent():
    local = LocalAdapter()
    LocalAdapter.set_available("ACC-1", Decimal("100.00"))
    first = local.collect(transfer("A"))
    assert first.status == "settled" and first.amount == Decimal("100.00")
    assert local.collect(transfer("A")) == first  # same request id: same answer, no second debit
    assert local.collect(transfer("B")).status == "failed"


@pytest.mark.django_db
def test_http_adapter_end_to_end_collection_with_async_callback(client, settings):
    """The nightly close sends 代扣 to the HTTP core; the core answers 202 and later calls the
    repayments API with the request id as external id (value date = the close's date)."""
    from jikuai.core.workdays import business_date_set
    from lending.models import CollectionAttempt, Repayment
    from lending.services import run_cob
    from tests.factories import SignedApi, make_client
    from tests.lending.factories import make_loan

    loan = make_loan(value_date=dt.date(2026, 1, 15), auto_debit=True)
    with CoreServer([(202, {"status": "pending", "reference": "Q1"})]) as server:
        settings.JIKUAI_CORE_BANKING_ADAPTER = "lending.corebanking.HttpAdapter"
        settings.JIKUAI_CORE_BANKING_URL = server.url
        settings.JIKUAI_CORE_BANKING_APP_ID = "jikuai"
        settings.JIKUAI_CORE_BANKING_SECRET = SECRET
        settings.JIKUAI_CORE_BANKING_RETRIES = 0
        business_date_set(day=dt.date(2026, 2, 15))
        run_cob()
    [request] = server.requests
    attempt = CollectionAttempt.objects.get(loan=loan)
    assert attempt.status == "requested" and request["body"]["request_id"] == attempt.reference
    loan.refresh_from_db()
    assert loan.state == "overdue"  # nothing collected yet at the close
    api = SignedApi(client, make_client(institution=loan.institution, scopes=["lending:write"]))
    response = api.post(
        f"/api/v1/loans/{loan.pk}/repayments",
        {"external_id": attempt.reference, "amount": request["body"]["amount"], "value_date": "2026-02-15"},
        key="cb-1",
    )
    assert response.status_code == 201, response.json()
    loan.refresh_from_db()
    assert loan.state == "active" and loan.penalty_posted == 0  # the late callback replayed: as if collected on time
    assert Repayment.objects.get(external_id=attempt.reference).value_date == dt.date(2026, 2, 15)
