"""SMS gateway adapter (outside the platform, so the only thing tests replace).

Backends: ConsoleBackend (development: prints the message to the console, logs only a masked line),
LocmemBackend (tests: an in-memory outbox), HttpGatewayBackend (production: signed JSON POST to the
gateway URL). Message text is never logged because it contains one-time codes.
"""

import hashlib
import hmac
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from urllib import error, request

from django.conf import settings
from django.utils.module_loading import import_string

from jikuai.core.masking import mask_mobile

logger = logging.getLogger(__name__)


class SmsError(Exception):
    pass


@dataclass(frozen=True)
class SmsMessage:
    mobile: str
    text: str
    template: str


class BaseBackend:
    def send(self, message: SmsMessage) -> str:
        raise NotImplementedError


class ConsoleBackend(BaseBackend):
    def send(self, message: SmsMessage) -> str:
        logger.info("sms to %s template=%s (text not logged)", mask_mobile(message.mobile), message.template)
        sys.stdout.write(f"[SMS 开发环境] {message.mobile}: {message.text}\n")
        sys.stdout.flush()
        return "console-" + secrets.token_hex(6)


outbox: list[SmsMessage] = []


class LocmemBackend(BaseBackend):
    def send(self, message: SmsMessage) -> str:
        outbox.append(message)
        return f"locmem-{len(outbox)}"


class HttpGatewayBackend(BaseBackend):
    """POST {"app_id","mobile","template","text","timestamp","nonce"} with X-Signature: hex HMAC-SHA256
    of the body under the gateway secret. Expects a JSON answer {"ok": true, "message_id": "..."}."""

    def __init__(
        self,
        url: str | None = None,
        app_id: str | None = None,
        secret: str | None = None,
        timeout: float | None = None,
        retries: int = 2,
    ):
        self.url = url or settings.SMS_GATEWAY_URL
        self.app_id = app_id or settings.SMS_GATEWAY_APP_ID
        self.secret = secret or settings.SMS_GATEWAY_SECRET
        self.timeout = timeout or settings.SMS_GATEWAY_TIMEOUT
        self.retries = retries

    def send(self, message: SmsMessage) -> str:
        if not self.url.startswith(("https://", "http://")):
            raise SmsError("短信网关未配置 / SMS gateway URL not configured")
        body = json.dumps(
            {
                "app_id": self.app_id,
                "mobile": message.mobile,
                "template": message.template,
                "text": message.text,
                "timestamp": int(time.time()),
                "nonce": secrets.token_hex(8),
            },
            ensure_ascii=False,
        ).encode("utf-8")
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        req = request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json", "X-Signature": signature}
        )
        last_error = None
        for attempt in range(self.retries + 1):
            try:
                with request.urlopen(req, timeout=self.timeout) as resp:
                    answer = json.loads(resp.read() or b"{}")
                if not answer.get("ok"):
                    raise SmsError(f"gateway refused: {answer.get('error', 'unknown')}")
                return str(answer.get("message_id", ""))
            except (error.URLError, TimeoutError) as exc:
                last_error = exc
                if attempt < self.retries:
                    time.sleep(0.2 * (attempt + 1))
        logger.warning("sms gateway unreachable for %s: %s", mask_mobile(message.mobile), last_error)
        raise SmsError("短信发送失败，请稍后再试 / SMS gateway unreachable")


def get_backend() -> BaseBackend:
    return import_string(settings.SMS_BACKEND)()


def send_sms(*, mobile: str, text: str, template: str) -> str:
    return get_backend().send(SmsMessage(mobile=mobile, text=text, template=template))
