"""The KYC decision (核验结论): from OCR fields and face scans to verified or manual review.

Pure functions over plain values, so every rule is visible in one place and testable without models.
Nothing here ever rejects on its own: any failed or impossible check sends the record to a person.
"""

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from jikuai.core.idnumber import parse_id_number
from jikuai.core.masking import mask_address, mask_id_number, mask_name
from jikuai.customers.kyc.faces import FaceScan, face_distance
from jikuai.customers.kyc.ocr import BackFields, FrontFields

GENDER_LABELS = {"M": "男", "F": "女"}


@dataclass(frozen=True)
class Entered:
    """What the customer (or the account manager) entered when the customer was registered."""

    name: str
    id_number: str
    address: str = ""


@dataclass
class Decision:
    reasons: list[dict] = field(default_factory=list)  # {"code", "message"}
    mismatches: list[dict] = field(default_factory=list)  # {"field", "label", "entered", "extracted", "blocking"}
    face_distance: float | None = None
    face_match: bool | None = None

    @property
    def passed(self) -> bool:
        return not self.reasons

    def refer(self, code: str, message: str) -> None:
        self.reasons.append({"code": code, "message": message})


def normalise_name(value: str) -> str:
    value = unicodedata.normalize("NFKC", value or "")
    value = re.sub(r"[•・.．]", "·", value)
    return re.sub(r"\s+", "", value)


def normalise_address(value: str) -> str:
    return re.sub(r"[\s,，、.。:：;；#\-—()（）]", "", unicodedata.normalize("NFKC", value or ""))


def decide(
    *,
    entered: Entered,
    front: FrontFields | None,
    back: BackFields | None,
    portrait: FaceScan | None,
    selfie: FaceScan | None,
    threshold: float,
    min_confidence: float,
    today: dt.date,
) -> Decision:
    decision = Decision()
    _check_front(decision, entered, front, min_confidence)
    _check_back(decision, back, today)
    _check_faces(decision, portrait, selfie, threshold)
    return decision


def _mismatch(decision: Decision, name: str, label: str, entered: str, extracted: str, *, blocking: bool) -> None:
    decision.mismatches.append({"field": name, "label": label, "entered": entered, "extracted": extracted, "blocking": blocking})


def _check_front(decision: Decision, entered: Entered, front: FrontFields | None, min_confidence: float) -> None:
    if front is None or not front.looks_like_front:
        decision.refer("front_unreadable", "未能识别身份证人像面，请确认上传的是清晰的身份证人像面照片。")
        return
    parsed = None
    if not front.id_number:
        decision.refer("id_number_missing", "未能从身份证人像面识别出身份证号码。")
    else:
        try:
            parsed = parse_id_number(front.id_number)
        except ValidationError as exc:
            reason = front.id_number_error or "；".join(exc.messages)
            decision.refer("id_number_invalid", f"识别出的身份证号码未通过校验：{reason}")
    if not front.name:
        decision.refer("name_missing", "未能从身份证人像面识别出姓名。")
    if front.confidence < min_confidence:
        decision.refer("low_confidence", f"证件文字识别置信度偏低（{front.confidence:.2f}，要求不低于 {min_confidence:.2f}）。")

    if front.name and normalise_name(front.name) != normalise_name(entered.name):
        _mismatch(decision, "name", "姓名", mask_name(entered.name), mask_name(front.name), blocking=True)
    if front.id_number and front.id_number.upper() != (entered.id_number or "").upper():
        _mismatch(
            decision, "id_number", "身份证号码", mask_id_number(entered.id_number), mask_id_number(front.id_number), blocking=True
        )
    # Printed gender and birth date must agree with the number itself: a mismatch suggests an edited image.
    if parsed is not None:
        if front.gender and front.gender != parsed.gender:
            _mismatch(
                decision,
                "gender",
                "性别（与证件号码不符）",
                GENDER_LABELS[parsed.gender],
                GENDER_LABELS.get(front.gender, front.gender),
                blocking=True,
            )
        if front.birth_date and front.birth_date != parsed.birth_date:
            _mismatch(
                decision,
                "birth_date",
                "出生日期（与证件号码不符）",
                parsed.birth_date.isoformat(),
                front.birth_date.isoformat(),
                blocking=True,
            )
    if front.address and entered.address:
        entered_address, read_address = normalise_address(entered.address), normalise_address(front.address)
        if entered_address not in read_address and read_address not in entered_address:
            # the registered address often differs from the residence: shown, not blocking
            _mismatch(decision, "address", "住址", mask_address(entered.address), mask_address(front.address), blocking=False)
    if any(m["blocking"] for m in decision.mismatches):
        labels = "、".join(m["label"] for m in decision.mismatches if m["blocking"])
        decision.refer("mismatch", f"证件信息与登记信息不一致：{labels}。")


def _check_back(decision: Decision, back: BackFields | None, today: dt.date) -> None:
    if back is None or not back.looks_like_back:
        decision.refer("back_unreadable", "未能识别身份证国徽面，请确认上传的是清晰的身份证国徽面照片。")
        return
    if back.valid_from is None or (back.valid_until is None and not back.long_term):
        decision.refer("validity_missing", "未能识别身份证有效期限。")
        return
    if back.valid_from > today:
        decision.refer("not_yet_valid", f"身份证有效期起始日 {back.valid_from:%Y-%m-%d} 晚于今天。")
    if back.valid_until is not None and back.valid_until < today:
        decision.refer("expired", f"身份证已过期（有效期至 {back.valid_until:%Y-%m-%d}），请使用有效证件。")
    if back.valid_until is not None and back.valid_until <= back.valid_from:
        decision.refer("validity_inconsistent", "身份证有效期限的起止日期不合理。")


def _check_faces(decision: Decision, portrait: FaceScan | None, selfie: FaceScan | None, threshold: float) -> None:
    if portrait is None or portrait.count == 0:
        decision.refer("portrait_no_face", "身份证人像面上未检测到人像。")
    elif portrait.count > 1:
        decision.refer("portrait_many_faces", f"身份证人像面上检测到 {portrait.count} 张人脸。")
    if selfie is None or selfie.count == 0:
        decision.refer("selfie_no_face", "自拍照中未检测到人脸，请正对镜头、光线充足地重新拍摄。")
    elif selfie.count > 1:
        decision.refer("selfie_many_faces", f"自拍照中检测到 {selfie.count} 张人脸，请本人单独拍摄。")
    if portrait is not None and selfie is not None and portrait.descriptor is not None and selfie.descriptor is not None:
        distance = face_distance(portrait.descriptor, selfie.descriptor)
        decision.face_distance = round(distance, 4)
        decision.face_match = distance <= threshold
        if not decision.face_match:
            decision.refer("face_mismatch", f"自拍照与身份证照片比对不一致（距离 {distance:.2f}，阈值 {threshold:.2f}）。")
