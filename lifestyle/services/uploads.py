"""Document images (营业执照): validated like KYC images, re-encoded without metadata, stored privately."""

import hashlib
import io
import secrets
import warnings
from pathlib import Path

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from jikuai.core.exceptions import ApplicationError

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # e.g. 8000 x 5000
MIN_SIDE = 200
ALLOWED_FORMATS = {"JPEG", "PNG"}


class ImageRejected(ApplicationError):
    code = "invalid_image"


def image_validate_and_reencode(data: bytes) -> tuple[bytes, str]:
    """Return (JPEG bytes without EXIF, sha256). Refuses other formats, oversized files, too many pixels and
    decompression bombs before decoding the full image."""
    if not data:
        raise ImageRejected("请上传图片。", "no image uploaded")
    if len(data) > MAX_BYTES:
        raise ImageRejected("图片不能超过5MB。", "image larger than 5 MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        try:
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ALLOWED_FORMATS:
                    raise ImageRejected("仅支持 JPEG 或 PNG 图片。", "only JPEG or PNG images are accepted")
                width, height = probe.size
                if width * height > MAX_PIXELS:
                    raise ImageRejected("图片像素过大。", "image has too many pixels")
                if min(width, height) < MIN_SIDE:
                    raise ImageRejected("图片太小，请上传清晰的照片。", "image too small to read")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                rgb = image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("图片像素过大（疑似解压炸弹）。", "image refused as a decompression bomb") from exc
        except ImageRejected:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected("无法识别的图片文件。", "not a readable image") from exc
        finally:
            Image.MAX_IMAGE_PIXELS = previous_limit
    out = io.BytesIO()
    # a fresh image from pixel data only: no EXIF, GPS, ICC or comments survive
    clean = Image.new("RGB", rgb.size)
    clean.paste(rgb)
    clean.save(out, format="JPEG", quality=88, optimize=True)
    encoded = out.getvalue()
    return encoded, hashlib.sha256(encoded).hexdigest()


def private_store(*, folder: str, data: bytes, suffix: str = ".jpg") -> str:
    """Write bytes under settings.PRIVATE_MEDIA_ROOT (never served by the web server); returns the relative path."""
    root = Path(settings.PRIVATE_MEDIA_ROOT)
    relative = Path("lifestyle") / folder / f"{secrets.token_hex(16)}{suffix}"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o600)
    return str(relative)


def private_read(relative: str) -> bytes:
    root = Path(settings.PRIVATE_MEDIA_ROOT).resolve()
    target = (root / relative).resolve()
    if root not in target.parents:
        raise ApplicationError("文件路径无效。", "invalid file path", code="invalid_path")
    return target.read_bytes()
