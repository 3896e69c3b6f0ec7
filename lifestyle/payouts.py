"""Merchant payout adapters (商户结算付款). Core banking is outside the platform: the payout goes through an
adapter with an idempotent reference, so a retry after a timeout can never pay twice. (The loan core-banking
adapter belongs to lending; this one is separate on purpose.)

Configure with ``settings.LIFESTYLE_PAYOUT_ADAPTER`` (dotted path); default LocalPayoutAdapter.
"""

import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass
from decimal import Decimal
from urllib import error, request

from django.conf import settings
from django.utils.module_loading import import_string

from jikuai.core.masking import mask_bank_card

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PayoutRequest:
    reference: str  # idempotency key: the same reference is paid at most once by core banking
    amount: Decimal
    account_no: str
    account_name: str
    merchant_code: str
    memo: str = ""


@dataclass(frozen=True)
class PayoutResult:
    ok: bool
    bank_reference: str = ""
    error: str = ""


class PayoutAdapter:
    def pay(self, payout: PayoutRequest) -> PayoutResult:
        raise NotImplementedError


class LocalPayoutAdapter(PayoutAdapter):
    """Settles immediately (development, demo, tests). Remembers references so a repeated payout returns the
    first result, like a real idempotent core."""

    _paid: dict[str, PayoutResult] = {}
    _lock = threading.Lock()

    def pay(self, payout: PayoutRequest) -> PayoutResult:
        with self._lock:
            if payout.reference in self._paid:
                return self._paid[payout.reference]
            result = PayoutResult(ok=True, bank_reference=f"LOCAL-{payout.reference}")
            self._paid[payout.reference] = result
        logger.info("local payout %s %s to %s", payout.reference, payout.amount, mask_bank_card(payout.account_no))
        return result


class HttpPayoutAdapter(PayoutAdapter):
    """POST {"reference","amount","account_no","account_name","merchant_code","memo"} to the core-banking payout
    endpoint with headers Idempotency-Key (= reference) and X-Signature (hex HMAC-SHA256 of the body).
    Expected answer: {"status": "succeeded"|"failed", "bank_reference": "...", "error": "..."}."""

    def __init__(self, url: str | None = None, secret: str | None = None, timeout: float = 10.0):
        self.url = url or getattr(settings, "LIFESTYLE_PAYOUT_URL", "")
        self.secret = secret if secret is not None else getattr(settings, "LIFESTYLE_PAYOUT_SECRET", "")
        self.timeout = timeout

    def pay(self, payout: PayoutRequest) -> PayoutResult:
        if not self.url.startswith(("https://", "http://")):
            return PayoutResult(ok=False, error="payout URL not configured")
        body = json.dumps(
            {
                "reference": payout.reference,
                "amount": str(payout.amount),
                "account_no": payout.account_no,
                "account_name": payout.account_name,
                "merchant_code": payout.merchant_code,
                "memo": payout.memo,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        signature = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        req = request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": payout.reference, "X-Signature": signature},
        )
        try:
            with request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.loads(resp.read() or b"{}")
        except error.HTTPError as exc:
            return PayoutResult(ok=False, error=f"HTTP {exc.code}")
        except (error.URLError, TimeoutError, ValueError) as exc:
            return PayoutResult(ok=False, error=f"unreachable: {exc.__class__.__name__}")
        if answer.get("status") == "succeeded":
            return PayoutResult(ok=True, bank_reference=str(answer.get("bank_reference", ""))[:80])
        return PayoutResult(ok=False, error=str(answer.get("error") or answer.get("status") or "refused")[:300])


def get_payout_adapter() -> PayoutAdapter:
    return import_string(getattr(settings, "LIFESTYLE_PAYOUT_ADAPTER", "lifestyle.payouts.LocalPayoutAdapter"))()
