"""The SMS gateway is outside the platform: its HTTP adapter is tested against a real HTTP server on
loopback; everything else uses the in-memory outbox adapter."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from jikuai.core.sms import HttpGatewayBackend, SmsError, SmsMessage, send_sms


@pytest.fixture
def gateway():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = hmac.new(b"gw-secret", body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(expected, self.headers.get("X-Signature", ""))
            received.append((json.loads(body), ok))
            answer = {"ok": ok, "message_id": "m-1"} if ok else {"ok": False, "error": "bad signature"}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/send", received
    server.shutdown()


def test_http_gateway_sends_a_signed_request(gateway):
    url, received = gateway
    backend = HttpGatewayBackend(url=url, app_id="jk", secret="gw-secret", timeout=2)
    assert backend.send(SmsMessage(mobile="13812345678", text="验证码 123456", template="otp")) == "m-1"
    payload, signature_ok = received[0]
    assert signature_ok and payload["mobile"] == "13812345678" and payload["template"] == "otp"


def test_http_gateway_refusal_is_an_error(gateway):
    url, _ = gateway
    backend = HttpGatewayBackend(url=url, app_id="jk", secret="wrong", timeout=2)
    with pytest.raises(SmsError):
        backend.send(SmsMessage(mobile="13812345678", text="x", template="otp"))


def test_unreachable_gateway_is_an_error_after_retries():
    backend = HttpGatewayBackend(url="http://127.0.0.1:9/send", app_id="jk", secret="s", timeout=0.5, retries=1)
    with pytest.raises(SmsError):
        backend.send(SmsMessage(mobile="13812345678", text="x", template="otp"))


def test_tests_use_the_in_memory_outbox(sms_outbox):
    send_sms(mobile="13812345678", text="hello", template="otp")
    assert sms_outbox[-1].mobile == "13812345678"
