"""The decision rules over plain values: what passes and what goes to manual review (never a rejection)."""

import datetime as dt

import numpy as np
import pytest

from jikuai.core.idnumber import check_character
from jikuai.customers.kyc.analysis import Entered, decide
from jikuai.customers.kyc.faces import FaceBox, FaceScan
from jikuai.customers.kyc.ocr import BackFields, FrontFields

TODAY = dt.date(2026, 11, 29)
NUMBER = "11010519491231002X"  # female, born 1949-12-31
ENTERED = Entered(name="张三", id_number=NUMBER, address="北京市朝阳区1号")


def front(**overrides) -> FrontFields:
    values = {
        "name": "张三",
        "gender": "F",
        "ethnicity": "汉",
        "birth_date": dt.date(1949, 12, 31),
        "address": "北京市朝阳区1号",
        "id_number": NUMBER,
        "confidence": 0.99,
        "labels_found": ["姓名", "性别", "民族", "出生", "住址", "公民身份号码"],
    }
    return FrontFields(**{**values, **overrides})


def back(**overrides) -> BackFields:
    values = {
        "authority": "北京市公安局",
        "valid_from": dt.date(2016, 1, 1),
        "valid_until": dt.date(2036, 1, 1),
        "labels_found": ["签发机关", "有效期限"],
    }
    return BackFields(**{**values, **overrides})


def scan(*descriptors, faces: int | None = None) -> FaceScan:
    count = len(descriptors) if faces is None else faces
    boxes = tuple(FaceBox(0, 0, 100, 100, 1.0) for _ in range(count))
    return FaceScan(faces=boxes, descriptor=descriptors[0] if count == 1 else None, seconds=0.01)


BASE = np.zeros(128)


def near(distance: float) -> np.ndarray:
    vector = np.zeros(128)
    vector[0] = distance
    return vector


def run(**overrides):
    arguments = {
        "entered": ENTERED,
        "front": front(),
        "back": back(),
        "portrait": scan(BASE),
        "selfie": scan(near(0.3)),
        "threshold": 0.6,
        "min_confidence": 0.8,
        "today": TODAY,
    }
    return decide(**{**arguments, **overrides})


def codes(decision) -> set[str]:
    return {reason["code"] for reason in decision.reasons}


def test_everything_matches():
    decision = run()
    assert decision.passed
    assert decision.mismatches == []
    assert decision.face_distance == pytest.approx(0.3)
    assert decision.face_match is True


def test_distance_exactly_at_threshold_passes_and_above_does_not():
    assert run(selfie=scan(near(0.6))).passed
    decision = run(selfie=scan(near(0.61)))
    assert codes(decision) == {"face_mismatch"}
    assert decision.face_match is False


def test_name_and_number_mismatch_are_listed_masked():
    other = "11010519491231003" + check_character("11010519491231003")
    decision = run(front=front(name="李四", id_number=other))
    assert "mismatch" in codes(decision)
    fields = {m["field"]: m for m in decision.mismatches}
    assert fields["name"]["entered"] == "张*" and fields["name"]["extracted"] == "李*"
    assert fields["id_number"]["extracted"] == "1101**********" + other[-4:]
    assert all(m["blocking"] for m in fields.values() if m["field"] in ("name", "id_number"))


def test_printed_birth_date_or_gender_that_contradict_the_number_are_blocking():
    decision = run(front=front(birth_date=dt.date(1950, 1, 1), gender="M"))
    assert {m["field"] for m in decision.mismatches} == {"birth_date", "gender"}
    assert "mismatch" in codes(decision)


def test_other_address_is_shown_but_not_blocking():
    decision = run(front=front(address="吉林省榆树市某村"))
    assert decision.passed
    assert decision.mismatches == [
        {"field": "address", "label": "住址", "entered": "北京****", "extracted": "吉林****", "blocking": False}
    ]


def test_invalid_or_missing_number_unreadable_sides_and_low_confidence():
    assert "id_number_invalid" in codes(run(front=front(id_number="110105194912310021", id_number_error="校验位错误")))
    assert "id_number_invalid" in codes(run(front=front(id_number="110105194912310021")))  # checked again here
    assert "id_number_missing" in codes(run(front=front(id_number="", id_number_error="未识别")))
    assert codes(run(front=FrontFields())) >= {"front_unreadable"}
    assert codes(run(back=BackFields())) == {"back_unreadable"}
    assert codes(run(front=front(confidence=0.5))) == {"low_confidence"}


def test_expired_or_not_yet_valid_card():
    assert codes(run(back=back(valid_until=dt.date(2026, 11, 28)))) == {"expired"}
    assert codes(run(back=back(valid_from=dt.date(2026, 12, 1)))) == {"not_yet_valid"}
    assert run(back=back(valid_until=None, long_term=True)).passed


def test_faces_missing_or_several():
    assert codes(run(selfie=scan())) == {"selfie_no_face"}
    assert codes(run(selfie=scan(faces=2))) == {"selfie_many_faces"}
    assert codes(run(portrait=scan())) == {"portrait_no_face"}
    assert codes(run(portrait=scan(faces=3))) == {"portrait_many_faces"}
    assert run(selfie=scan()).face_match is None
