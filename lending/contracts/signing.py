"""PAdES signing and verification of contract PDFs with pyHanko.

Signing (``sign_with_evidence``) writes ONE incremental update on top of the unsigned contract the customer
read: it appends the evidence page (签署确认页: time, IP, masked mobile, SHA-256 of the unsigned file) and
the institution's signature (PAdES, SHA-256, ``/SubFilter /ETSI.CAdES.detached``, signing time in ``/M``,
the evidence summarised in ``/Reason``, the evidence JSON attached as ``confirmation.json``). The bytes of
the unsigned file are therefore an exact prefix of the signed file: anyone can check that the text signed
is the text confirmed (``VerificationResult.original_sha256``).

Signature level:

* ``JIKUAI_CONTRACT_TSA_URL`` set → PAdES-B-T with an RFC 3161 time-stamp from that TSA (production: a
  trusted TSA, e.g. the 国家授时中心 service of the bank's CA);
* development PKI without a TSA URL → PAdES-B-T with a **local** TSA (pyHanko's in-process time-stamper
  with its own certificate issued by the local test CA). It has the right structure and is verified like a
  real one, but it proves nothing beyond the platform's own clock;
* otherwise (production without a TSA) → PAdES-B-B: the signing time is the signer's claim in ``/M``.

Where revocation lists are installed (``ca.revocation_lists``; the development CA always has one), the
signer's certificate is checked against them before signing (a revoked certificate cannot sign) and the
certificates and CRLs that prove it valid are embedded in the PDF's Document Security Store, inside the
revision the signature covers (so they cannot be swapped unnoticed): with a time-stamp that is PAdES-B-LT,
verifiable for the whole life of the loan without reaching the CA.

Verification trusts only the configured roots (``ca.trust_roots``) and checks revocation against the
installed CRLs plus those embedded in the file; nothing is fetched from the network. A signature whose
certificate has been revoked is reported invalid, with the revocation date.
"""

import asyncio
import datetime as dt
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import InvalidCertificateError, PathBuildingError, PathValidationError, RevokedError

from lending.contracts import ca

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "JikuaiInstitutionSeal"
EVIDENCE_FILE = "confirmation.json"


@dataclass(frozen=True)
class SignedDocument:
    pdf: bytes
    sha256: str
    signer_subject: str
    signed_at: dt.datetime
    level: str  # "PAdES-B-LT", "PAdES-B-T" or "PAdES-B-B"


@dataclass(frozen=True)
class VerificationResult:
    """What the verification page and API report for an uploaded PDF."""

    valid: bool  # every check passed: intact, cryptographically valid, trusted, whole file covered
    intact: bool  # the signed bytes were not changed
    signature_valid: bool  # the signature value matches the signed bytes and the certificate's key
    trusted: bool  # the signer certificate chains to a configured trust root
    covers_whole_file: bool  # nothing was appended after signing
    revoked: bool = False  # the signer's certificate (or its CA's) is on a revocation list
    revoked_at: dt.datetime | None = None
    revocation_checked: bool = False  # a CRL was available for the check
    signer_subject: str = ""
    signer_organisation: str = ""
    signing_time: dt.datetime | None = None
    timestamp_time: dt.datetime | None = None
    timestamp_trusted: bool | None = None
    level: str = ""
    document_sha256: str = ""
    original_sha256: str = ""  # SHA-256 of the file as it was before the signing update (the text confirmed)
    signature_count: int = 0
    reason: str = ""
    evidence: dict = field(default_factory=dict)
    summary_zh: str = ""
    summary_en: str = ""
    error: str = ""

    def as_json(self) -> dict:
        return {
            "valid": self.valid,
            "intact": self.intact,
            "signature_valid": self.signature_valid,
            "trusted": self.trusted,
            "covers_whole_file": self.covers_whole_file,
            "revoked": self.revoked,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_checked": self.revocation_checked,
            "signer_subject": self.signer_subject,
            "signer_organisation": self.signer_organisation,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "timestamp_time": self.timestamp_time.isoformat() if self.timestamp_time else None,
            "timestamp_trusted": self.timestamp_trusted,
            "level": self.level,
            "document_sha256": self.document_sha256,
            "original_sha256": self.original_sha256,
            "signature_count": self.signature_count,
            "evidence": self.evidence,
            "summary_zh": self.summary_zh,
            "summary_en": self.summary_en,
        }


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _timestamper():
    url = settings.JIKUAI_CONTRACT_TSA_URL
    if url:
        return timestamps.HTTPTimeStamper(url, timeout=settings.JIKUAI_CONTRACT_TSA_TIMEOUT)
    material = ca.tsa_material()
    if material is None:
        return None
    key_path, cert_path = material
    return DummyTimeStamper(
        tsa_cert=ca.load_asn1_cert(cert_path),
        tsa_key=ca.load_asn1_key(key_path),
        certs_to_embed=ca.trust_roots(),
    )


def _append_page(writer: IncrementalPdfFileWriter, page_pdf: bytes) -> None:
    """Append page 1 of ``page_pdf`` as a new last page (imported as a form XObject)."""
    source = PdfFileReader(io.BytesIO(page_pdf))
    xobject = writer.import_page_as_xobject(source, page_ix=0)
    media_box = source.root["/Pages"]["/Kids"][0].get_object()["/MediaBox"]
    content = generic.StreamObject(stream_data=b"q /EvidencePage Do Q")
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(list(media_box)),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/EvidencePage"): xobject})}
            ),
            pdf_name("/Contents"): writer.add_object(content),
        }
    )
    writer.insert_page(page)


def _attach_evidence(writer: IncrementalPdfFileWriter, evidence: dict) -> None:
    data = json.dumps(evidence, ensure_ascii=False, sort_keys=True, indent=2).encode("utf-8")
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=EVIDENCE_FILE,
            file_name=EVIDENCE_FILE,
            embedded_data=embed.EmbeddedFileObject.from_file_data(writer, data=data, mime_type="application/json"),
            description="客户签署确认证据 customer confirmation evidence",
        ),
    )


def _load_signer(institution_code: str, institution_name: str):
    material = ca.signing_material(institution_code=institution_code, institution_name=institution_name)
    signer = signers.SimpleSigner.load(
        str(material.key_path),
        str(material.cert_path),
        ca_chain_files=[str(p) for p in material.chain_paths],
        key_passphrase=material.passphrase,
    )
    if signer is None:
        raise ca.SigningKeyMissing("签章证书无法读取。", "the signing key or certificate cannot be read")
    return signer


def _validated_path(signer, crls: list):
    """The signer certificate's path to a trust root, checked against the CRLs; a revoked certificate or one
    that does not chain to a trusted root raises."""
    context = ValidationContext(trust_roots=ca.trust_roots(), crls=crls, allow_fetching=False, revocation_mode="hard-fail")
    validator = CertificateValidator(signer.signing_cert, intermediate_certs=signer.cert_registry, validation_context=context)
    try:
        path = asyncio.run(validator.async_validate_usage({"non_repudiation"}))
    except RevokedError as exc:
        raise ca.SigningCertificateRevoked(
            "本机构的电子合同签章证书已被吊销，暂不能签署，请联系系统管理员更换证书。",
            "the institution's signing certificate has been revoked",
        ) from exc
    except (PathBuildingError, PathValidationError, InvalidCertificateError) as exc:
        raise ca.SigningKeyMissing(
            "本机构的电子合同签章证书无法通过校验，请联系系统管理员。",
            "the institution's signing certificate cannot be validated",
        ) from exc
    return path


def ensure_can_sign(*, institution_code: str, institution_name: str) -> None:
    """Raise (SigningKeyMissing / SigningCertificateRevoked) unless the institution can seal a contract now:
    checked before the customer's one-time code is spent."""
    signer = _load_signer(institution_code, institution_name)
    crls = ca.revocation_lists()
    if crls:
        _validated_path(signer, crls)


def _embed_validation_data(writer: IncrementalPdfFileWriter, signer, crls: list, timestamper) -> None:
    """Put the certificates and CRLs that prove the signer's certificate valid (checked here: a revoked one
    cannot sign) into the document's security store (DSS), inside the revision the signature covers, so
    they cannot be changed unnoticed."""
    certs = list(_validated_path(signer, crls))
    tsa_cert = getattr(timestamper, "tsa_cert", None)
    if tsa_cert is not None:
        certs.append(tsa_cert)
    DocumentSecurityStore.supply_dss_in_writer(writer, None, certs=certs, crls=crls)


def sign_with_evidence(
    *,
    unsigned_pdf: bytes,
    evidence_page: bytes,
    evidence: dict,
    institution_code: str,
    institution_name: str,
    reason: str,
    location: str,
) -> SignedDocument:
    """Append the evidence page and sign the whole file as the institution (PAdES)."""
    signer = _load_signer(institution_code, institution_name)
    writer = IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf), strict=False)
    _append_page(writer, evidence_page)
    _attach_evidence(writer, evidence)
    timestamper = _timestamper()
    crls = ca.revocation_lists()
    if crls:
        _embed_validation_data(writer, signer, crls, timestamper)
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=institution_name,
        contact_info=settings.JIKUAI_CONTRACT_CONTACT,
    )
    signed_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    pdf_signer = signers.PdfSigner(metadata, signer=signer, timestamper=timestamper)
    output = pdf_signer.sign_pdf(writer)
    data = output.getvalue()
    subject = signer.signing_cert.subject.human_friendly
    level = "PAdES-B-B" if timestamper is None else ("PAdES-B-LT" if crls else "PAdES-B-T")
    return SignedDocument(pdf=data, sha256=sha256_hex(data), signer_subject=subject, signed_at=signed_at, level=level)


def original_revision_sha256(pdf: bytes) -> str:
    """SHA-256 of the first revision (up to and including the first ``%%EOF`` line)."""
    end = pdf.find(b"%%EOF")
    if end < 0:
        return ""
    end += len(b"%%EOF")
    while end < len(pdf) and pdf[end : end + 1] in (b"\r", b"\n"):
        end += 1
    return sha256_hex(pdf[:end])


def _evidence_from(reader: PdfFileReader) -> dict:
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for index in range(0, len(names), 2):
            if str(names[index]) == EVIDENCE_FILE:
                spec = names[index + 1].get_object()
                return json.loads(spec["/EF"]["/F"].get_object().data.decode("utf-8"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}
    return {}


def _org(subject) -> str:
    try:
        return str(subject.native.get("organization_name") or "")
    except (AttributeError, ValueError):
        return ""


def _failed(document_sha: str, zh: str, en: str, **extra) -> VerificationResult:
    return VerificationResult(
        valid=False,
        intact=False,
        signature_valid=False,
        trusted=False,
        covers_whole_file=False,
        document_sha256=document_sha,
        summary_zh=zh,
        summary_en=en,
        error=en,
        **extra,
    )


def verify(pdf: bytes) -> VerificationResult:
    """Verify the last signature of ``pdf`` against the configured trust roots. Never raises on bad input."""
    document_sha = sha256_hex(pdf)
    if not pdf.startswith(b"%PDF-"):
        return _failed(document_sha, "文件不是 PDF。", "the file is not a PDF")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception as exc:  # a damaged file: pyHanko raises many kinds of errors
        logger.info("contract verification: unreadable PDF (%s)", exc.__class__.__name__)
        return _failed(document_sha, "文件已损坏或被篡改，无法读取。", "the file is damaged or was modified: it cannot be read")
    if not signatures:
        return _failed(document_sha, "文件中没有电子签章。", "the file carries no signature", original_sha256="")
    embedded = signatures[-1]
    local_crls = ca.revocation_lists()
    settings_ = {"trust_roots": ca.trust_roots(), "crls": local_crls, "allow_fetching": False, "revocation_mode": "soft-fail"}
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None
    except Exception as exc:  # a damaged store: validate without it
        logger.info("contract verification: unreadable DSS (%s)", exc.__class__.__name__)
        dss = None
    try:
        context = dss.as_validation_context(settings_) if dss is not None else ValidationContext(**settings_)
        status = validate_pdf_signature(embedded, context)
    except Exception as exc:
        logger.info("contract verification: signature not verifiable (%s)", exc.__class__.__name__)
        return _failed(
            document_sha,
            "电子签章无法校验，文件可能已被篡改。",
            "the signature cannot be checked; the file may have been modified",
            signature_count=len(signatures),
        )
    covers = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    ts = status.timestamp_validity
    timestamp_ok = ts is None or (ts.valid and ts.intact and ts.trusted)
    valid = bool(status.bottom_line and covers and timestamp_ok)
    subject = status.signing_cert.subject
    signer_subject = subject.human_friendly
    reason = ""
    try:
        reason = str(embedded.sig_object.get("/Reason", ""))
    except (KeyError, AttributeError):
        reason = ""
    signing_time = status.signer_reported_dt
    revocation = status.revocation_details
    embedded_crls = bool(dss is not None and dss.crls)
    if ts is None:
        level = "PAdES-B-B"
    else:
        level = "PAdES-B-LT" if embedded_crls else "PAdES-B-T"
    result = dict(
        valid=valid,
        intact=bool(status.intact),
        signature_valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=bool(covers),
        revoked=revocation is not None,
        revoked_at=revocation.revocation_date if revocation is not None else None,
        revocation_checked=bool(local_crls) or embedded_crls,
        signer_subject=signer_subject,
        signer_organisation=_org(subject),
        signing_time=signing_time,
        timestamp_time=ts.timestamp if ts is not None else None,
        timestamp_trusted=bool(ts.trusted) if ts is not None else None,
        level=level,
        document_sha256=document_sha,
        original_sha256=original_revision_sha256(pdf),
        signature_count=len(signatures),
        reason=reason,
        evidence=_evidence_from(reader) if valid else {},
    )
    zh, en = _summary(result)
    return VerificationResult(**result, summary_zh=zh, summary_en=en)


def _summary(r: dict) -> tuple[str, str]:
    if r["valid"]:
        when = r["timestamp_time"] or r["signing_time"]
        local = when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S") if when else "—"
        return (
            f"签章有效：文件自签章后未被修改，签章机构为“{r['signer_organisation'] or r['signer_subject']}”，"
            f"证书由受信任的 CA 签发，签章时间 {local}（北京时间）。",
            f"valid: unchanged since signing, signed by {r['signer_subject']} with a trusted certificate at {when}",
        )
    problems_zh, problems_en = [], []
    if not r["intact"]:
        problems_zh.append("文件内容在签章后被修改")
        problems_en.append("the signed content was modified")
    elif not r["signature_valid"]:
        problems_zh.append("签名值与证书不匹配")
        problems_en.append("the signature value does not match")
    if r.get("revoked"):
        when = r["revoked_at"]
        local = when.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M") if when else "—"
        problems_zh.append(f"签章证书已于 {local}（北京时间）被吊销")
        problems_en.append(f"the signing certificate was revoked at {when.isoformat() if when else '—'}")
    elif r["intact"] and r["signature_valid"] and not r["trusted"]:
        problems_zh.append("签章证书不是由受信任的 CA 签发")
        problems_en.append("the signing certificate is not issued by a trusted CA")
    if r["intact"] and not r["covers_whole_file"]:
        problems_zh.append("签章后文件末尾被追加了内容")
        problems_en.append("content was appended after signing")
    if r["timestamp_trusted"] is False:
        problems_zh.append("时间戳不受信任")
        problems_en.append("the time-stamp is not trusted")
    return "签章无效：" + "；".join(problems_zh or ["校验未通过"]) + "。", "invalid: " + "; ".join(
        problems_en or ["checks failed"]
    )
