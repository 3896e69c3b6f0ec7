"""Signing keys and certificates for contracts (电子合同签章证书).

Layout of ``settings.JIKUAI_CONTRACT_KEY_DIR`` (development default ``var/keys/contracts/``, git-ignored
through ``/var/``)::

    ca.cert.pem                  trust anchors: the certificates verification trusts (one or more, PEM)
    ca.key.pem                   development only: the key of the local test root CA
    chain.pem                    optional: intermediate certificates embedded in every signature
    <institution code>.key.pem   the institution's signing key (PKCS#8 PEM, passphrase optional)
    <institution code>.cert.pem  the institution's signing certificate
    tsa.key.pem / tsa.cert.pem   development only: the local time-stamping authority (see signing.py)
    ca.crl.pem                   the root's certificate revocation list (CRL); development: kept by the
                                 platform from revoked.json; production: installed from the CA
    crls/*.crl, crls/*.pem       production: further CRLs of the CA hierarchy (DER or PEM), refreshed by ops
    revoked.json                 development only: the certificates the local CA has revoked

**One signing certificate per institution** (法人行社): each member bank is its own legal entity and
the lender in its contracts, so its seal is its own certificate; subject ``O = <institution name>``,
``CN = <institution name> 电子合同签章``, ``serialNumber = <institution code>``.

Development (``JIKUAI_CONTRACT_DEV_PKI``, on unless ``JIKUAI_DEV_KEYS`` is false): a missing root CA,
institution certificate or TSA certificate is generated on first use (RSA-2048, the CA valid 10 years,
leaves 3 years). Files are written with mode 0600 and created with a link so parallel processes agree on
one key. Production turns generation off and installs the files issued by a real CA (e.g. a
CFCA / 省CA institution seal certificate) in the same layout; a missing file is then a clear error.
Keys are never committed and never logged.

**Revocation (证书吊销).** Every development leaf certificate names a CRL distribution point
(``CRL_URL``; never fetched: the CRL is read from the key folder), so a signature's certificate is checked
against the CRL when the contract is signed (a revoked certificate cannot sign) and when it is verified (a
signature by a revoked certificate is reported revoked, with the date). The CRL in force at signing time
is embedded in the signed PDF (its Document Security Store), which makes the signature verifiable for the
life of the loan without reaching the CA (PAdES-B-LT). ``manage.py contract_certificates revoke <code>``
revokes an institution's development certificate (a compromised seal key); the next signature gets a new
one. Older development certificates without a distribution point are reissued (same key) on first use.
"""

import datetime as dt
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

from jikuai.core.exceptions import ApplicationError

CA_NAME = "吉快金融 开发测试根CA Jikuai Development Test Root CA"
TSA_NAME = "吉快金融 开发测试时间戳服务 Jikuai Development TSA"
CRL_URL = "http://pki.jikuai.invalid/contracts/ca.crl"  # the development CA's CRL distribution point (never fetched)
CRL_VALIDITY = dt.timedelta(days=7)  # nextUpdate of the development CRL; reissued daily
CRL_REASONS = ("unspecified", "key_compromise", "affiliation_changed", "superseded", "cessation_of_operation")
_lock = threading.Lock()


class SigningKeyMissing(ApplicationError):
    code = "contract_key_missing"
    status = 503


class SigningCertificateRevoked(ApplicationError):
    code = "contract_certificate_revoked"
    status = 503


@dataclass(frozen=True)
class SigningMaterial:
    """What pyHanko needs to sign as one institution: key and certificate files plus the chain."""

    key_path: Path
    cert_path: Path
    chain_paths: tuple[Path, ...]
    passphrase: bytes | None


def key_dir() -> Path:
    return Path(settings.JIKUAI_CONTRACT_KEY_DIR)


def dev_pki_enabled() -> bool:
    return bool(settings.JIKUAI_CONTRACT_DEV_PKI)


def _safe_code(code: str) -> str:
    cleaned = "".join(ch for ch in code if ch.isalnum() or ch in "-_")
    if not cleaned or cleaned != code:
        raise SigningKeyMissing("机构代码不能用作证书文件名。", f"institution code {code!r} is not a safe file name")
    return cleaned


def _private_tmp(path: Path, data: bytes) -> Path:
    """``data`` in a new 0600 temp file beside ``path`` (in a 0700 folder), to be linked or renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    return tmp


def _write_once(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it exists; the first writer wins (link of a private temp file)."""
    tmp = _private_tmp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_key(path: Path, passphrase: bytes | None = None):
    return serialization.load_pem_private_key(path.read_bytes(), password=passphrase)


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ensure_root() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    folder = key_dir()
    key_path, cert_path = folder / "ca.key.pem", folder / "ca.cert.pem"
    if not key_path.exists():
        _write_once(key_path, _key_pem(_new_key()))
    key = _load_key(key_path)
    if not cert_path.exists():
        now = dt.datetime.now(dt.UTC)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "吉快金融平台（开发测试）"),
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_once(cert_path, _cert_pem(cert))
    return key, _load_cert(cert_path)


def _has_crl_point(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    except x509.ExtensionNotFound:
        return False
    return True


def _issue_leaf(path_stem: str, subject: x509.Name, *, purpose: str) -> None:
    folder = key_dir()
    key_path, cert_path = folder / f"{path_stem}.key.pem", folder / f"{path_stem}.cert.pem"
    if cert_path.exists() and key_path.exists():
        if _has_crl_point(_load_cert(cert_path)):
            return
        cert_path.unlink(missing_ok=True)  # issued before revocation checking: reissue for the same key
    ca_key, ca_cert = _ensure_root()
    if not key_path.exists():
        _write_once(key_path, _key_pem(_new_key()))
    key = _load_key(key_path)
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=purpose == "sign",  # non-repudiation for document signatures
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(
            x509.CRLDistributionPoints([x509.DistributionPoint([x509.UniformResourceIdentifier(CRL_URL)], None, None, None)]),
            critical=False,
        )
    )
    if purpose == "tsa":
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    _write_once(cert_path, _cert_pem(builder.sign(ca_key, hashes.SHA256())))


def institution_subject(*, code: str, name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, code),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} 电子合同签章"),
        ]
    )


def signing_material(*, institution_code: str, institution_name: str) -> SigningMaterial:
    """The key and certificate an institution signs with; generated on first use in development."""
    code = _safe_code(institution_code)
    folder = key_dir()
    if dev_pki_enabled():
        with _lock:
            _issue_leaf(code, institution_subject(code=code, name=institution_name), purpose="sign")
    key_path, cert_path = folder / f"{code}.key.pem", folder / f"{code}.cert.pem"
    if not (key_path.exists() and cert_path.exists()):
        raise SigningKeyMissing(
            "本机构的电子合同签章证书未配置，请联系系统管理员。",
            f"no contract signing certificate for institution {code} in {folder}",
        )
    chain = tuple(p for p in (folder / "chain.pem", folder / "ca.cert.pem") if p.exists())
    passphrase = settings.JIKUAI_CONTRACT_KEY_PASSPHRASE or None
    return SigningMaterial(key_path, cert_path, chain, passphrase.encode() if passphrase else None)


def tsa_material() -> tuple[Path, Path] | None:
    """The local development TSA (key, certificate), or None when development PKI is off."""
    if not dev_pki_enabled():
        return None
    with _lock:
        _issue_leaf(
            "tsa",
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "吉快金融平台（开发测试）"),
                    x509.NameAttribute(NameOID.COMMON_NAME, TSA_NAME),
                ]
            ),
            purpose="tsa",
        )
    folder = key_dir()
    return folder / "tsa.key.pem", folder / "tsa.cert.pem"


def _revoked_path() -> Path:
    return key_dir() / "revoked.json"


def _read_revoked() -> dict:
    path = _revoked_path()
    return json.loads(path.read_text()) if path.exists() else {}


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (private temp file, then rename)."""
    os.replace(_private_tmp(path, data), path)


def _issue_crl(revoked: dict) -> None:
    ca_key, ca_cert = _ensure_root()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for serial, entry in revoked.items():
        reason = x509.ReasonFlags[entry.get("reason", "unspecified")]
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(int(serial))
            .revocation_date(dt.datetime.fromisoformat(entry["at"]))
            .add_extension(x509.CRLReason(reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(item)
    crl = builder.sign(ca_key, hashes.SHA256())
    _replace(key_dir() / "ca.crl.pem", crl.public_bytes(serialization.Encoding.PEM))


def _ensure_dev_crl() -> None:
    path = key_dir() / "ca.crl.pem"
    if path.exists():
        crl = x509.load_pem_x509_crl(path.read_bytes())
        if crl.next_update_utc and crl.next_update_utc - dt.datetime.now(dt.UTC) > CRL_VALIDITY - dt.timedelta(days=1):
            return
    _issue_crl(_read_revoked())


def revocation_lists() -> list[asn1_crl.CertificateList]:
    """The CRLs signing and verification check certificates against: ``ca.crl.pem`` (kept fresh by the
    development CA) and every file under ``crls/``. Empty when none is installed (production without CRLs:
    revocation is then not checked, as before)."""
    if dev_pki_enabled():
        with _lock:
            _ensure_root()
            _ensure_dev_crl()
    folder = key_dir()
    paths = [folder / "ca.crl.pem", *sorted((folder / "crls").glob("*"))]
    lists = []
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        if asn1_pem.detect(data):
            lists.extend(asn1_crl.CertificateList.load(der) for _t, _h, der in asn1_pem.unarmor(data, multiple=True))
        else:
            lists.append(asn1_crl.CertificateList.load(data))
    return lists


def revoke_institution_certificate(*, institution_code: str, reason: str = "key_compromise") -> int:
    """Development CA: revoke the institution's signing certificate (e.g. its key leaked) and set the key
    and certificate aside, so the next signature is made with a newly issued certificate. Returns the
    revoked serial number. Production revokes at the CA and installs its CRL and the new certificate."""
    if not dev_pki_enabled():
        raise SigningKeyMissing(
            "生产环境的证书由 CA 吊销，请安装 CA 发布的吊销列表。",
            "production certificates are revoked by their CA: install its CRL",
        )
    if reason not in CRL_REASONS:
        raise ApplicationError("吊销原因无效。", f"unknown revocation reason {reason!r}", code="invalid_reason")
    code = _safe_code(institution_code)
    folder = key_dir()
    cert_path, key_path = folder / f"{code}.cert.pem", folder / f"{code}.key.pem"
    if not cert_path.exists():
        raise SigningKeyMissing("该机构没有签章证书。", f"institution {code} has no signing certificate")
    with _lock:
        serial = _load_cert(cert_path).serial_number
        revoked = _read_revoked()
        revoked[str(serial)] = {"at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(), "reason": reason}
        _replace(_revoked_path(), json.dumps(revoked, indent=2).encode())
        _issue_crl(revoked)
        cert_path.rename(folder / f"{code}.revoked-{serial:x}.cert.pem")
        key_path.rename(folder / f"{code}.revoked-{serial:x}.key.pem")
    return serial


def trust_roots() -> list[asn1_x509.Certificate]:
    """The certificates verification trusts: every certificate in ``ca.cert.pem`` (and the extra PEM files
    listed in ``JIKUAI_CONTRACT_TRUST_ROOTS``)."""
    if dev_pki_enabled():
        with _lock:
            _ensure_root()
    paths = [key_dir() / "ca.cert.pem", *(Path(p) for p in settings.JIKUAI_CONTRACT_TRUST_ROOTS)]
    roots = []
    for path in paths:
        if path.exists():
            roots.extend(load_pem_certificates(path.read_bytes()))
    return roots


def load_pem_certificates(data: bytes) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(der) for _type, _headers, der in asn1_pem.unarmor(data, multiple=True)]


def load_asn1_key(path: Path, passphrase: bytes | None = None) -> asn1_keys.PrivateKeyInfo:
    key = _load_key(path, passphrase)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return asn1_keys.PrivateKeyInfo.load(der)


def load_asn1_cert(path: Path) -> asn1_x509.Certificate:
    return load_pem_certificates(path.read_bytes())[0]
