"""The engines on their own (no database): dlib faces on packaged photos, rapidocr on a sideways card."""

import pytest
from PIL import Image

from jikuai.customers.kyc import faces, ocr, specimens
from jikuai.customers.kyc.config import kyc_config
from jikuai.customers.kyc.images import clean_image, open_clean
from tests.kyc import factories as images
from tests.kyc.conftest import HOLDER_ID, HOLDER_NAME


@pytest.fixture(scope="module")
def portrait():
    card = images.draw_id_front(name=HOLDER_NAME, id_number=HOLDER_ID, gender="女")
    scan = faces.scan_faces(card)
    assert scan.count == 1
    return scan


def test_same_person_is_close(portrait):
    selfie = faces.scan_faces(images.astronaut_selfie())
    distance = faces.face_distance(portrait.descriptor, selfie.descriptor)
    assert distance < kyc_config().face_distance_threshold
    assert 0.05 < distance < 0.45  # a different photo of the same face, not the same pixels


def test_different_person_is_far(portrait):
    selfie = faces.scan_faces(images.grace_hopper_selfie())
    assert selfie.count == 1
    distance = faces.face_distance(portrait.descriptor, selfie.descriptor)
    assert 0.6 < distance < 0.9


def test_no_face_and_several_faces():
    assert faces.scan_faces(images.no_face_image()).count == 0
    assert faces.scan_faces(specimens.silhouette_portrait()).count == 0  # the demo cards' drawn portrait
    several = faces.scan_faces(images.two_faces_selfie())
    assert several.count == 2 and several.descriptor is None


def test_large_selfie_is_scanned_downscaled():
    big = images.astronaut_selfie().resize((2400, 2400), Image.Resampling.BICUBIC)
    scan = faces.scan_faces(big)
    assert scan.count == 1 and max(scan.faces[0].width, scan.faces[0].height) < kyc_config().face_max_side


@pytest.mark.parametrize(("turned", "expected_rotation"), [(90, 270), (180, 180)])
def test_a_card_photographed_sideways_or_upside_down_is_read_after_turning_it(turned, expected_rotation):
    card = images.draw_id_front(name="李建国", id_number="110105194912310011", gender="男")
    photo = images.photo_of(card).rotate(turned, expand=True)
    outcome = ocr.read_front(open_clean(clean_image(images.upload(images.jpeg_bytes(photo))).content))
    assert outcome.runs >= 2 and outcome.rotation == expected_rotation
    assert outcome.fields.name == "李建国"
    assert outcome.fields.id_number == "110105194912310011" and outcome.fields.id_number_valid
