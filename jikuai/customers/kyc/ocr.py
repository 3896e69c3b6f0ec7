"""ID card OCR (身份证识别) with rapidocr-onnxruntime, and the parser that turns text boxes into fields.

The OCR models ship inside the rapidocr wheel; nothing is downloaded at run time. The engine is built
once per process (a worker) and reused. Parsing works on text boxes with positions: boxes are grouped
into lines by their vertical centres, each line is read left to right, and fields are found by their
printed labels (姓名, 性别, 民族, 出生, 住址, 公民身份号码 on the portrait side; 签发机关 and 有效期限 on
the emblem side). The address continues over the following lines until the ID number line.
"""

import datetime as dt
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from PIL import Image

from jikuai.core.idnumber import parse_id_number
from jikuai.customers.kyc.config import kyc_config

_engine = None
_engine_lock = threading.Lock()


def ocr_engine():
    """The process-wide RapidOCR engine (models load once, ≈0.1 s)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                threads = kyc_config().ocr_threads
                _engine = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1) if threads > 0 else RapidOCR()
    return _engine


@dataclass(frozen=True)
class TextBox:
    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)


@dataclass
class Line:
    boxes: list[TextBox]

    @property
    def text(self) -> str:
        return normalise_text(" ".join(box.text for box in sorted(self.boxes, key=lambda b: b.x0)))

    @property
    def x0(self) -> float:
        return min(box.x0 for box in self.boxes)

    @property
    def score(self) -> float:
        return min(box.score for box in self.boxes)


def run_ocr(image: Image.Image) -> tuple[list[TextBox], float]:
    """OCR one image; returns the text boxes and the seconds spent."""
    config = kyc_config()
    image = image.convert("RGB")
    if max(image.size) > config.ocr_max_side:
        image = image.copy()
        image.thumbnail((config.ocr_max_side, config.ocr_max_side), Image.Resampling.LANCZOS)
    started = time.perf_counter()
    result, _elapsed = ocr_engine()(image)
    seconds = time.perf_counter() - started
    boxes = []
    for points, text, score in result or []:
        xs = [float(p[0]) for p in points]
        ys = [float(p[1]) for p in points]
        boxes.append(TextBox(text=str(text), score=float(score), x0=min(xs), y0=min(ys), x1=max(xs), y1=max(ys)))
    return boxes, seconds


_CJK = "\u3400-\u9fff"
_SPACE_NEXT_TO_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")


def normalise_text(text: str) -> str:
    """Full-width forms to half-width; no spaces next to Chinese characters (OCR inserts them between
    characters); a single space between other tokens (it separates the numbers of a date)."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACE_NEXT_TO_CJK.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def group_lines(boxes: list[TextBox]) -> list[Line]:
    """Boxes whose vertical centres are within half a text height of each other form one line."""
    lines: list[Line] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        box = TextBox(normalise_text(box.text), box.score, box.x0, box.y0, box.x1, box.y1)
        if not box.text:
            continue
        if lines:
            last = lines[-1]
            last_cy = sum(b.cy for b in last.boxes) / len(last.boxes)
            last_h = min(b.height for b in last.boxes)
            if abs(box.cy - last_cy) < 0.5 * min(box.height, last_h):
                last.boxes.append(box)
                continue
        lines.append(Line(boxes=[box]))
    return lines


# --- ID number candidates ----------------------------------------------------------------------

# Characters OCR confuses with digits in a digits-only field.
_DIGIT_LOOKALIKES = str.maketrans(
    {"O": "0", "o": "0", "D": "0", "Q": "0", "I": "1", "l": "1", "|": "1", "Z": "2", "z": "2", "S": "5", "B": "8"}
)
_ID_RE = re.compile(r"\d{17}[\dX]")


def id_number_candidates(text: str) -> list[str]:
    """18-character ID-number-shaped substrings of ``text`` after fixing digit look-alikes."""
    compact = re.sub(r"[^0-9A-Za-z|]", "", text)
    candidates = []
    for start in range(0, max(len(compact) - 17, 0)):
        window = compact[start : start + 18]
        fixed = window[:17].translate(_DIGIT_LOOKALIKES) + window[17].translate(_DIGIT_LOOKALIKES).upper()
        if _ID_RE.fullmatch(fixed) and fixed not in candidates:
            candidates.append(fixed)
    return candidates


# --- portrait side -------------------------------------------------------------------------------

FRONT_LABELS = ("姓名", "性别", "民族", "出生", "住址", "公民身份号码")
BACK_LABELS = ("签发机关", "有效期限")
_LABEL_SPLIT = re.compile("|".join(FRONT_LABELS + BACK_LABELS))
_DATE_CN = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?")
_DATE_LOOSE = re.compile(r"(\d{4})\D{0,2}?(\d{1,2})\D{0,2}?(\d{1,2})")


def _after(label: str, text: str) -> str:
    """The text after ``label`` up to the next label."""
    index = text.find(label)
    if index < 0:
        return ""
    rest = text[index + len(label) :]
    match = _LABEL_SPLIT.search(rest)
    return rest[: match.start()] if match else rest


def _date(value: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(value, month, day)
    except ValueError:
        return None


@dataclass
class FrontFields:
    """Fields read from the portrait side (人像面)."""

    name: str = ""
    gender: str = ""  # "M" / "F" / ""
    ethnicity: str = ""
    birth_date: dt.date | None = None
    address: str = ""
    id_number: str = ""
    id_number_error: str = ""  # why the number failed parse_id_number, if it did
    confidence: float = 0.0
    raw_text: str = ""
    labels_found: list[str] = field(default_factory=list)

    @property
    def id_number_valid(self) -> bool:
        return bool(self.id_number) and not self.id_number_error

    @property
    def looks_like_front(self) -> bool:
        return len(self.labels_found) >= 2 or bool(self.id_number)


def parse_front(boxes: list[TextBox]) -> FrontFields:
    lines = group_lines(boxes)
    result = FrontFields(raw_text="\n".join(line.text for line in lines))
    result.labels_found = [label for label in FRONT_LABELS if any(label in line.text for line in lines)]
    used_scores: list[float] = []
    id_line_index = None
    for index, line in enumerate(lines):
        text = line.text
        if "公民身份号码" in text or (id_line_index is None and id_number_candidates(text) and "住址" not in text):
            if "公民身份号码" in text or not result.id_number:
                id_line_index = index
        if "姓名" in text and not result.name:
            result.name = _clean_name(_after("姓名", text))
            used_scores.append(line.score)
        if "性别" in text and not result.gender:
            value = _after("性别", text)
            result.gender = "M" if value.startswith("男") else "F" if value.startswith("女") else ""
        if "民族" in text and not result.ethnicity:
            result.ethnicity = re.sub(r"[^\u4e00-\u9fff]", "", _after("民族", text))
        if "出生" in text and result.birth_date is None:
            value = _after("出生", text)
            match = _DATE_CN.search(value) or _DATE_LOOSE.search(value)
            if match:
                result.birth_date = _date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    # the ID number: the labelled line first, then any line
    ordered = ([lines[id_line_index]] if id_line_index is not None else []) + [
        line for i, line in enumerate(lines) if i != id_line_index
    ]
    first_error = ""
    first_candidate = ""
    for line in ordered:
        for candidate in id_number_candidates(line.text.replace("公民身份号码", "")):
            first_candidate = first_candidate or candidate
            try:
                result.id_number = parse_id_number(candidate).number
            except ValidationError as exc:
                first_error = first_error or "；".join(exc.messages)
                continue
            used_scores.append(line.score)
            break
        if result.id_number:
            break
    if not result.id_number and first_candidate:
        result.id_number, result.id_number_error = first_candidate, first_error
    elif not result.id_number:
        result.id_number_error = "未识别到身份证号码"
    result.address = _address(lines)
    result.confidence = round(sum(used_scores) / len(used_scores), 4) if used_scores else 0.0
    return result


def _clean_name(value: str) -> str:
    # Names are Chinese characters, with a middle dot in some minority names (买买提·艾力).
    value = re.sub(r"[•・.．]", "·", value)
    return re.sub(r"[^\u4e00-\u9fff·]", "", value).strip("·")


def _address(lines: list[Line]) -> str:
    start = next((i for i, line in enumerate(lines) if "住址" in line.text), None)
    if start is None:
        return ""
    parts = [_after("住址", lines[start].text)]
    label_x = lines[start].x0
    for line in lines[start + 1 :]:
        text = line.text
        if "公民身份号码" in text or id_number_candidates(text) or any(label in text for label in FRONT_LABELS):
            break
        if line.x0 < label_x:  # text left of the label column is not part of the address block
            break
        parts.append(text)
    return "".join(parts)


# --- emblem side -------------------------------------------------------------------------------

_VALIDITY = re.compile(r"(\d{4})\D?(\d{2})\D?(\d{2})\D*?[-—–~至到]+\D*?(?:(\d{4})\D?(\d{2})\D?(\d{2})|(长期))")


@dataclass
class BackFields:
    """Fields read from the emblem side (国徽面)."""

    authority: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None  # None with long_term=True: 长期
    long_term: bool = False
    confidence: float = 0.0
    raw_text: str = ""
    labels_found: list[str] = field(default_factory=list)

    @property
    def looks_like_back(self) -> bool:
        return bool(self.labels_found) or "居民身份证" in self.raw_text


def parse_back(boxes: list[TextBox]) -> BackFields:
    lines = group_lines(boxes)
    result = BackFields(raw_text="\n".join(line.text for line in lines))
    result.labels_found = [label for label in BACK_LABELS if any(label in line.text for line in lines)]
    used_scores: list[float] = []
    for line in lines:
        text = line.text
        if "签发机关" in text and not result.authority:
            result.authority = re.sub(r"[^\u4e00-\u9fff]", "", _after("签发机关", text))
            used_scores.append(line.score)
        if result.valid_from is None:
            match = _VALIDITY.search(_after("有效期限", text) if "有效期限" in text else text)
            if match:
                result.valid_from = _date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
                if match.group(7):
                    result.long_term = True
                else:
                    result.valid_until = _date(int(match.group(4)), int(match.group(5)), int(match.group(6)))
                used_scores.append(line.score)
    result.confidence = round(sum(used_scores) / len(used_scores), 4) if used_scores else 0.0
    return result


# --- with rotation retries ---------------------------------------------------------------------


@dataclass
class OcrOutcome:
    fields: FrontFields | BackFields
    seconds: float
    runs: int
    rotation: int


def read_front(image: Image.Image) -> OcrOutcome:
    """OCR the portrait side. A card photographed sideways (its text runs top to bottom) is read again
    turned by 90° each way, an upside-down one turned by 180°; the most complete reading wins."""
    return _read(image, parse_front, lambda f: f.id_number_valid and bool(f.name))


def read_back(image: Image.Image) -> OcrOutcome:
    return _read(image, parse_back, lambda f: bool(f.authority) and f.valid_from is not None)


def mostly_vertical(boxes: list[TextBox]) -> bool:
    """Most multi-character text boxes are taller than wide: the text runs top to bottom."""
    shaped = [box for box in boxes if len(box.text) >= 2]
    vertical = [box for box in shaped if (box.y1 - box.y0) > 1.5 * (box.x1 - box.x0)]
    return bool(shaped) and len(vertical) * 2 > len(shaped)


def _read(image, parser, complete) -> OcrOutcome:
    """One run when the card is upright and fully read (the usual case); otherwise at most two more."""
    total, runs, best = 0.0, 0, None
    pending = [0]
    while pending:
        rotation = pending.pop(0)
        boxes, seconds = run_ocr(image if rotation == 0 else image.rotate(rotation, expand=True))
        total += seconds
        runs += 1
        parsed = parser(boxes)
        upright = not mostly_vertical(boxes)
        score = (upright, _richness(parsed))
        if best is None or score > best[2]:
            best = (parsed, rotation, score)
        if upright and complete(parsed):
            break
        if rotation == 0:
            pending = [90, 270] if not upright else [180]
    return OcrOutcome(fields=best[0], seconds=total, runs=runs, rotation=best[1])


def _richness(fields) -> int:
    if isinstance(fields, FrontFields):
        return len(fields.labels_found) + 2 * fields.id_number_valid + bool(fields.name)
    return len(fields.labels_found) + bool(fields.authority) + (fields.valid_from is not None)
