"""Field-level encryption (SM4-GCM with key ids) and blind indexes (keyed HMAC-SM3).

Ciphertext format: ``sm4gcm:<key id>:<base64(nonce 12 | ciphertext | tag 16)>``. The associated data binds
the ciphertext to its purpose (e.g. ``customers.id_number``) so a value cannot be moved between columns.
The last key in ``settings.PII_KEYS`` encrypts new values; older keys still decrypt until
``manage.py pii_reencrypt`` has moved every row to the newest key.
"""

import base64
import hashlib
import hmac as std_hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "sm4gcm"


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=8)
def _parse_keys(spec: str) -> tuple[tuple[str, bytes], ...]:
    keys = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        kid, _, hexkey = part.partition(":")
        key = bytes.fromhex(hexkey)
        if len(key) != 16:
            raise ImproperlyConfigured("每个 PII 密钥必须是 16 字节 (32 位十六进制) / SM4 keys must be 16 bytes")
        keys.append((kid, key))
    if not keys:
        raise ImproperlyConfigured("JIKUAI_PII_KEYS 未配置 / PII keys missing")
    return tuple(keys)


def keyring() -> dict[str, bytes]:
    return dict(_parse_keys(settings.PII_KEYS))


def current_key_id() -> str:
    return _parse_keys(settings.PII_KEYS)[-1][0]


def encrypt(plaintext: str, *, purpose: str) -> str:
    kid = current_key_id()
    key = keyring()[kid]
    nonce = os.urandom(12)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(purpose.encode())
    body = encryptor.update(plaintext.encode("utf-8")) + encryptor.finalize()
    token = base64.b64encode(nonce + body + encryptor.tag).decode("ascii")
    return f"{PREFIX}:{kid}:{token}"


def key_id_of(ciphertext: str) -> str:
    return ciphertext.split(":", 2)[1]


def decrypt(ciphertext: str, *, purpose: str) -> str:
    try:
        prefix, kid, token = ciphertext.split(":", 2)
    except ValueError as exc:
        raise DecryptionError("malformed ciphertext") from exc
    if prefix != PREFIX:
        raise DecryptionError("unknown cipher")
    key = keyring().get(kid)
    if key is None:
        raise DecryptionError(f"unknown key id {kid}")
    raw = base64.b64decode(token)
    nonce, body, tag = raw[:12], raw[12:-16], raw[-16:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(purpose.encode())
    try:
        return (decryptor.update(body) + decryptor.finalize()).decode("utf-8")
    except InvalidTag as exc:
        raise DecryptionError("integrity check failed") from exc


def blind_index(value: str, *, purpose: str) -> str:
    """Keyed HMAC-SM3 of a normalised value, hex. Equal inputs give equal indexes; the key stays secret."""
    h = hmac.HMAC(bytes.fromhex(settings.BLIND_INDEX_KEY), hashes.SM3())
    h.update(purpose.encode() + b"\x00" + value.encode("utf-8"))
    return h.finalize().hex()


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return std_hmac.compare_digest(a.encode(), b.encode())


def sign_token_bytes(data: bytes) -> str:
    return std_hmac.new(bytes.fromhex(settings.TOKEN_SIGNING_KEY), data, hashlib.sha256).hexdigest()
