"""KYC pipeline speed: OCR per image (ID front, ID back) and face comparison, against the cost of the
work the upload request itself does (decode + validate + re-encode the same image).

    python -m bench.kyc_pipeline --size N      # N generated ID card sets (front, back, selfie)

OCR and face checks run in a Celery worker, off the request path; the target therefore applies to
the request path only (validation and re-encoding of the three images of one submission), and the
engines' per-image times are reported.
"""

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jikuai.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from jikuai.core.idnumber import generate_id_number  # noqa: E402
from jikuai.customers.kyc import faces, ocr  # noqa: E402
from jikuai.customers.kyc.images import clean_image, open_clean  # noqa: E402
from tests.kyc import factories  # noqa: E402  (generated ID cards and packaged face photos; dev dependencies)

NAME = "kyc_pipeline"
RESULTS = Path(__file__).resolve().parent / "results" / f"{NAME}.json"
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["秀英", "建国", "丽华", "志强", "海燕", "文博", "春梅", "国庆"]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict:
    return {
        "mean": round(statistics.fmean(values), 4),
        "p50": round(_p(values, 0.5), 4),
        "p95": round(_p(values, 0.95), 4),
        "max": round(max(values), 4),
    }


def _inputs(size: int, rng: random.Random):
    for index in range(size):
        gender = rng.choice("MF")
        birth = dt.date(rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28))
        number = generate_id_number(region_code="220182", birth_date=birth, gender=gender, rng=rng)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        front = factories.draw_id_front(name=name, id_number=number, gender="男" if gender == "M" else "女")
        angle = rng.uniform(-3, 3)
        yield (
            index,
            name,
            number,
            factories.jpeg_bytes(factories.photo_of(front, angle=angle)),
            factories.jpeg_bytes(factories.photo_of(factories.draw_id_back(), angle=-angle)),
            factories.jpeg_bytes(factories.astronaut_selfie() if index % 2 == 0 else factories.grace_hopper_selfie()),
        )


def run(size: int) -> dict:
    rng = random.Random(20261129)
    started = time.perf_counter()
    ocr.ocr_engine()
    faces.scan_faces(factories.astronaut_portrait())
    model_load = time.perf_counter() - started

    baseline, request_path, ocr_front, ocr_back, face_compare, total = [], [], [], [], [], []
    ocr_cpu, face_cpu = [], []  # CPU seconds (all threads): the wall figures include waiting for a shared CPU
    correct_name = correct_number = same_ok = different_ok = 0
    for index, name, number, front_bytes, back_bytes, selfie_bytes in _inputs(size, rng):
        t0 = time.perf_counter()
        front_clean = clean_image(factories.upload(front_bytes))
        t1 = time.perf_counter()
        back_clean = clean_image(factories.upload(back_bytes))
        selfie_clean = clean_image(factories.upload(selfie_bytes))
        t2 = time.perf_counter()
        baseline.append(t1 - t0)  # decode + validate + re-encode one image (the ID front)
        request_path.append(t2 - t0)  # everything the upload request does with the three images

        front_image, back_image = open_clean(front_clean.content), open_clean(back_clean.content)
        c0 = time.process_time()
        front = ocr.read_front(front_image)
        back = ocr.read_back(back_image)
        c1 = time.process_time()
        ocr_front.append(front.seconds)
        ocr_back.append(back.seconds)
        ocr_cpu.append((c1 - c0) / 2)
        t3 = time.perf_counter()
        portrait = faces.scan_faces(front_image)
        selfie = faces.scan_faces(open_clean(selfie_clean.content))
        distance = None
        if portrait.descriptor is not None and selfie.descriptor is not None:
            distance = faces.face_distance(portrait.descriptor, selfie.descriptor)
        face_compare.append(time.perf_counter() - t3)
        face_cpu.append(time.process_time() - c1)
        total.append(time.perf_counter() - t0)

        correct_name += front.fields.name == name
        correct_number += front.fields.id_number == number
        if distance is not None:
            if index % 2 == 0:
                same_ok += distance <= 0.6
            else:
                different_ok += distance > 0.6

    figures = {
        "ocr_front_seconds": _summary(ocr_front),
        "ocr_back_seconds": _summary(ocr_back),
        "face_compare_seconds": _summary(face_compare),
        "ocr_cpu_seconds_per_image": _summary(ocr_cpu),
        "face_compare_cpu_seconds": _summary(face_cpu),
        "worker_total_seconds_per_submission": _summary(total),
        "request_path_seconds_per_submission": _summary(request_path),
        "model_load_seconds": round(model_load, 3),
        "ocr_images_per_second": round(2 * size / (sum(ocr_front) + sum(ocr_back)), 3),
        "accuracy": {
            "name": f"{correct_name}/{size}",
            "id_number": f"{correct_number}/{size}",
            "same_person_matched": f"{same_ok}/{(size + 1) // 2}",
            "different_person_refused": f"{different_ok}/{size // 2}",
        },
    }
    baseline_summary = _summary(baseline)
    ratios = {
        "ocr_front_vs_reencode": round(figures["ocr_front_seconds"]["p50"] / baseline_summary["p50"], 2),
        "ocr_back_vs_reencode": round(figures["ocr_back_seconds"]["p50"] / baseline_summary["p50"], 2),
        "face_compare_vs_reencode": round(figures["face_compare_seconds"]["p50"] / baseline_summary["p50"], 2),
    }
    return {
        "benchmark": NAME,
        "size": size,
        "figures": figures,
        "baseline": {"decode_validate_reencode_seconds": baseline_summary},
        "ratios": ratios,
        "target": {
            "request_path_p95_seconds_max": 1.0,
            "request_path_met": figures["request_path_seconds_per_submission"]["p95"] <= 1.0,
            "ocr_and_face": "off the request path (Celery worker); per-image times reported, no target",
        },
        "python": platform.python_version(),
        "database": connection.vendor,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4, help="number of ID card sets (front, back, selfie)")
    args = parser.parse_args(argv)
    result = run(max(1, args.size))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
