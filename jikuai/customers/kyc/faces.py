"""Face comparison (人脸比对) with dlib: HOG face detector, 68-landmark shape predictor, ResNet descriptor.

The model files ship in the ``face-recognition-models`` package; nothing is downloaded at run time.
Two faces are the same person when the Euclidean distance between their 128-d descriptors is at most
the threshold (default 0.6, see ``config``).
"""

import threading
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from jikuai.customers.kyc.config import kyc_config

_models = None
_models_lock = threading.Lock()


def _load_models():
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                import dlib
                import face_recognition_models

                _models = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()),
                    dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
                )
    return _models


@dataclass(frozen=True)
class FaceBox:
    left: int
    top: int
    width: int
    height: int
    score: float


@dataclass(frozen=True)
class FaceScan:
    """The faces found in one image; ``descriptor`` is set when exactly one face was found."""

    faces: tuple[FaceBox, ...]
    descriptor: np.ndarray | None
    seconds: float

    @property
    def count(self) -> int:
        return len(self.faces)


def scan_faces(image: Image.Image) -> FaceScan:
    """Detect faces (upsampling once if none is found at the original scale) and describe a single face."""
    config = kyc_config()
    detector, predictor, describer = _load_models()
    started = time.perf_counter()
    image = image.convert("RGB")
    if max(image.size) > config.face_max_side:
        image = image.copy()
        image.thumbnail((config.face_max_side, config.face_max_side), Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    found = []
    for upsample in (0, 1):
        rects, scores, _kinds = detector.run(pixels, upsample, 0.0)
        found = [(rect, score) for rect, score in zip(rects, scores, strict=True) if score >= config.face_min_detection_score]
        if found:
            break
    faces = tuple(
        FaceBox(left=rect.left(), top=rect.top(), width=rect.width(), height=rect.height(), score=round(float(score), 3))
        for rect, score in found
    )
    descriptor = None
    if len(found) == 1:
        shape = predictor(pixels, found[0][0])
        descriptor = np.array(describer.compute_face_descriptor(pixels, shape, 1))
    return FaceScan(faces=faces, descriptor=descriptor, seconds=time.perf_counter() - started)


def face_distance(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.linalg.norm(first - second))
