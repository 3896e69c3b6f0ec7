"""A small Python client for integrators: signs every request and sends an Idempotency-Key on POST.

    from jikuai.api.client import JikuaiClient
    api = JikuaiClient("https://jikuai.example.cn", app_id="jk…", secret="…")
    api.get("/api/v1/ping")
    api.post("/api/v1/customers", {"name": "张三", ...}, idempotency_key="crm-20261129-0001")

Only the standard library is used so it can be copied into other systems.
"""

import json
import uuid
from urllib import error, request
from urllib.parse import urlsplit

from jikuai.api.signing import signed_headers


class ApiResponse:
    def __init__(self, status: int, body: bytes, headers: dict):
        self.status_code = status
        self.content = body
        self.headers = headers

    def json(self):
        return json.loads(self.content.decode("utf-8")) if self.content else None


class JikuaiClient:
    def __init__(self, base_url: str, *, app_id: str, secret: str, timeout: float = 10.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be http(s)")
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.secret = secret
        self.timeout = timeout

    def request(self, method: str, path_and_query: str, payload=None, *, idempotency_key: str | None = None) -> ApiResponse:
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        parts = urlsplit(path_and_query)
        headers = signed_headers(self.app_id, self.secret, method, parts.path, parts.query, body)
        headers["Accept"] = "application/json"
        if body:
            headers["Content-Type"] = "application/json"
        if method.upper() == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        req = request.Request(self.base_url + path_and_query, data=body or None, method=method.upper(), headers=headers)
        try:
            with request.urlopen(req, timeout=self.timeout) as resp:
                return ApiResponse(resp.status, resp.read(), dict(resp.headers))
        except error.HTTPError as exc:
            return ApiResponse(exc.code, exc.read(), dict(exc.headers))

    def get(self, path_and_query: str) -> ApiResponse:
        return self.request("GET", path_and_query)

    def post(self, path: str, payload, *, idempotency_key: str | None = None) -> ApiResponse:
        return self.request("POST", path, payload, idempotency_key=idempotency_key)
