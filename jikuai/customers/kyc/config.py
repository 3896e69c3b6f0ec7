"""KYC parameters (实名认证参数). Defaults below; override any of them in ``settings.JIKUAI["KYC"]``.

The face threshold is a Euclidean distance between two 128-d dlib descriptors: the same person is
typically ≈ 0.2–0.4 apart, two different people ≈ 0.6–0.9. 0.6 is dlib's recommended cut-off.
"""

from dataclasses import dataclass

from django.conf import settings

DEFAULTS = {
    # uploads
    "MAX_UPLOAD_BYTES": 8 * 1024 * 1024,  # 8 MB per image as sent by the browser
    "MAX_PIXELS": 40_000_000,  # 40 MP; larger images are refused before they are decoded
    "MIN_SIDE": 300,  # smaller images cannot be read reliably
    "STORE_MAX_SIDE": 2560,  # stored re-encoded copies are downscaled to this longest side
    "JPEG_QUALITY": 90,
    # OCR
    "OCR_MAX_SIDE": 1600,  # images are downscaled to this longest side before OCR
    "MIN_OCR_CONFIDENCE": 0.80,  # mean confidence of the text boxes used for the key fields
    # ONNX Runtime threads per OCR engine. One thread per worker process is fastest when the worker pool
    # already uses every core (measured: 0.57 s vs 1–3 s per image with the default thread pool on a busy
    # 2-core machine, whose spinning threads compete with the other workers). 0 = ONNX Runtime's default.
    "OCR_THREADS": 1,
    # face comparison
    "FACE_DISTANCE_THRESHOLD": 0.6,
    "FACE_MAX_SIDE": 1000,  # images are downscaled to this longest side before face detection
    "FACE_MIN_DETECTION_SCORE": 0.5,  # dlib HOG detector score below which a candidate is not a face
}


@dataclass(frozen=True)
class KycConfig:
    max_upload_bytes: int
    max_pixels: int
    min_side: int
    store_max_side: int
    jpeg_quality: int
    ocr_max_side: int
    min_ocr_confidence: float
    ocr_threads: int
    face_distance_threshold: float
    face_max_side: int
    face_min_detection_score: float


def kyc_config() -> KycConfig:
    """Read on every use (not cached) so ``override_settings`` and admin-driven settings changes apply."""
    overrides = getattr(settings, "JIKUAI", {}).get("KYC", {}) or {}
    values = {**DEFAULTS, **overrides}
    return KycConfig(**{key.lower(): value for key, value in values.items()})
