"""Request signatures shared by the server and the Python client (kept free of Django imports).

String to sign (UTF-8), lines joined by "\\n":
    METHOD            upper case
    PATH              URL path, percent-encoded as sent
    QUERY             query parameters sorted by name then value, "k=v" joined by "&" (may be empty)
    TIMESTAMP         Unix seconds
    NONCE             8-64 characters, unique per client within the replay window
    SHA256(body) hex  of the exact body bytes (empty body → hash of b"")
Signature: hex HMAC-SHA256 with the client secret. Headers: X-App-Id, X-Timestamp, X-Nonce, X-Signature.
"""

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl, quote


def canonical_query(query_string: str) -> str:
    pairs = sorted(parse_qsl(query_string or "", keep_blank_values=True))
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def string_to_sign(method: str, path: str, query_string: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join(
        [method.upper(), path, canonical_query(query_string), str(timestamp), nonce, hashlib.sha256(body or b"").hexdigest()]
    )


def sign(secret: str, method: str, path: str, query_string: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, query_string, timestamp, nonce, body)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    app_id: str,
    secret: str,
    method: str,
    path: str,
    query_string: str = "",
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {
        "X-App-Id": app_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": sign(secret, method, path, query_string, ts, nonce, body),
    }
