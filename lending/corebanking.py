"""Core banking adapter (核心系统适配器): disbursement and auto-collection (代扣).

The core banking system is outside the platform; this module is the only place that talks to it.
``LocalAdapter`` settles immediately (embedded default, demo, tests); ``HttpAdapter`` sends signed
requests with timeouts and retries, and accepts asynchronous answers: a 202 means the result comes
later through the callback endpoints (``POST /api/v1/corebanking/disbursements/callback`` and the
idempotent ``POST /api/v1/loans/{id}/repayments`` for collections).

Chosen by ``settings.JIKUAI_CORE_BANKING_ADAPTER`` (default ``lending.corebanking.LocalAdapter``).
"""

import json
import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from urllib import error, request

from django.conf import settings
from django.utils.module_loading import import_string

from jikuai.api.signing import signed_headers

logger = logging.getLogger(__name__)

SETTLED = "settled"
PENDING = "pending"
FAILED = "failed"


@dataclass(frozen=True)
class TransferRequest:
    request_id: str  # our idempotency key towards the core system
    contract_no: str
    account_ref: str
    amount: Decimal
    value_date: str  # ISO business date


@dataclass(frozen=True)
class TransferResult:
    request_id: str
    status: str  # settled | pending | failed
    amount: Decimal  # amount actually moved (0 unless settled)
    reference: str = ""
    message: str = ""


class CoreBankingError(Exception):
    pass


class CoreBankingAdapter:
    """Interface. Implementations must be idempotent per ``request_id``."""

    def disburse(self, transfer: TransferRequest) -> TransferResult:
        raise NotImplementedError

    def collect(self, transfer: TransferRequest) -> TransferResult:
        raise NotImplementedError

    def collect_many(self, transfers: list[TransferRequest]) -> list[TransferResult]:
        return [self.collect(transfer) for transfer in transfers]


class LocalAdapter(CoreBankingAdapter):
    """Settles immediately. Accounts have unlimited funds unless ``set_available`` limited them (a
    simulation of the customer's deposit account for demos and tests)."""

    _lock = threading.Lock()
    _available: dict[str, Decimal] = {}
    _seen: dict[str, TransferResult] = {}

    @classmethod
    def set_available(cls, account_ref: str, amount: Decimal | None) -> None:
        with cls._lock:
            if amount is None:
                cls._available.pop(account_ref, None)
            else:
                cls._available[account_ref] = Decimal(amount)

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls._available.clear()
            cls._seen.clear()

    def disburse(self, transfer: TransferRequest) -> TransferResult:
        with self._lock:
            seen = self._seen.get(transfer.request_id)
            if seen is not None:
                return seen
            result = TransferResult(transfer.request_id, SETTLED, transfer.amount, reference=f"L{transfer.request_id}")
            self._seen[transfer.request_id] = result
            return result

    def collect(self, transfer: TransferRequest) -> TransferResult:
        with self._lock:
            seen = self._seen.get(transfer.request_id)
            if seen is not None:
                return seen
            available = self._available.get(transfer.account_ref)
            amount = transfer.amount if available is None else min(transfer.amount, available)
            if amount <= 0:
                result = TransferResult(transfer.request_id, FAILED, Decimal("0.00"), message="余额不足 insufficient funds")
            else:
                if available is not None:
                    self._available[transfer.account_ref] = available - amount
                result = TransferResult(transfer.request_id, SETTLED, amount, reference=f"L{transfer.request_id}")
            self._seen[transfer.request_id] = result
            return result


class HttpAdapter(CoreBankingAdapter):
    """Signed JSON over HTTP(S) with timeouts and retries (exponential backoff).

    Requests carry the kernel's signature headers (X-App-Id, X-Timestamp, X-Nonce, X-Signature over
    method, path, body digest) and ``Idempotency-Key: <request_id>``, so a retry after a timeout
    cannot move money twice. Answers: 200 {"status": "settled"|"failed", "amount", "reference"} or
    202 {"status": "pending", "reference"} when the result will come by callback.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        app_id: str | None = None,
        secret: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
        callback_url: str | None = None,
    ):
        self.base_url = (base_url or getattr(settings, "JIKUAI_CORE_BANKING_URL", "")).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise CoreBankingError("JIKUAI_CORE_BANKING_URL must be an http(s) URL")
        self.app_id = app_id or getattr(settings, "JIKUAI_CORE_BANKING_APP_ID", "")
        self.secret = secret or getattr(settings, "JIKUAI_CORE_BANKING_SECRET", "")
        self.timeout = timeout if timeout is not None else float(getattr(settings, "JIKUAI_CORE_BANKING_TIMEOUT", 5.0))
        self.retries = retries if retries is not None else int(getattr(settings, "JIKUAI_CORE_BANKING_RETRIES", 3))
        self.backoff = backoff if backoff is not None else float(getattr(settings, "JIKUAI_CORE_BANKING_BACKOFF", 0.5))
        self.callback_url = (
            callback_url if callback_url is not None else getattr(settings, "JIKUAI_CORE_BANKING_CALLBACK_URL", "")
        )

    def _send(self, path: str, payload: dict, idempotency_key: str) -> dict:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url_path = path if path.startswith("/") else "/" + path
        last_error: Exception | None = None
        for attempt in range(self.retries + 1):
            headers = signed_headers(self.app_id, self.secret, "POST", self._full_path(url_path), "", body)
            headers.update({"Content-Type": "application/json", "Idempotency-Key": idempotency_key})
            req = request.Request(self.base_url + url_path, data=body, method="POST", headers=headers)
            try:
                with request.urlopen(req, timeout=self.timeout) as response:
                    data = json.loads(response.read().decode("utf-8") or "{}")
                    data["_http_status"] = response.status
                    return data
            except error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    detail = exc.read().decode("utf-8", "replace")[:200]
                    raise CoreBankingError(f"core banking refused the request ({exc.code}): {detail}") from exc
                last_error = exc
            except (error.URLError, TimeoutError, OSError) as exc:
                last_error = exc
            if attempt < self.retries:
                time.sleep(self.backoff * (2**attempt))
        logger.warning("core banking: %s failed after %s attempts: %r", url_path, self.retries + 1, last_error)
        raise CoreBankingError(f"core banking unreachable after {self.retries + 1} attempts: {last_error!r}")

    def _full_path(self, path: str) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.base_url).path.rstrip("/") + path

    @staticmethod
    def _result(transfer: TransferRequest, data: dict) -> TransferResult:
        status = data.get("status")
        if status not in (SETTLED, PENDING, FAILED):
            raise CoreBankingError(f"unexpected core banking answer: {data!r}")
        amount = Decimal(str(data.get("amount", transfer.amount if status == SETTLED else "0")))
        return TransferResult(
            transfer.request_id,
            status,
            amount if status == SETTLED else Decimal("0.00"),
            reference=str(data.get("reference", "")),
            message=str(data.get("message", "")),
        )

    def _payload(self, transfer: TransferRequest, kind: str) -> dict:
        return {
            "request_id": transfer.request_id,
            "contract_no": transfer.contract_no,
            "account_ref": transfer.account_ref,
            "amount": f"{transfer.amount:.2f}",
            "value_date": transfer.value_date,
            "callback_url": self.callback_url,
            "kind": kind,
        }

    def disburse(self, transfer: TransferRequest) -> TransferResult:
        return self._result(transfer, self._send("/disbursements", self._payload(transfer, "disbursement"), transfer.request_id))

    def collect(self, transfer: TransferRequest) -> TransferResult:
        return self._result(transfer, self._send("/collections", self._payload(transfer, "collection"), transfer.request_id))


def get_adapter() -> CoreBankingAdapter:
    path = getattr(settings, "JIKUAI_CORE_BANKING_ADAPTER", "lending.corebanking.LocalAdapter")
    return import_string(path)()
