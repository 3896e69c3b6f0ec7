"""Uploaded image validation and re-encoding (图片校验与重新编码).

Every image a customer or staff member uploads goes through ``clean_image`` before anything is stored:

1. byte size limit, checked before the body is read;
2. format allow-list (JPEG, PNG, WebP) from the file's content, never from its name or content type;
3. pixel limit from the header, checked before the pixels are decoded; Pillow's decompression-bomb
   error and warning are both refusals;
4. a full decode: corrupt and truncated files are refused;
5. the EXIF orientation is applied, then the image is re-encoded as a fresh JPEG without EXIF, ICC or
   any other metadata (GPS position, device, time), downscaled to a storage size.
"""

import hashlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from jikuai.core.exceptions import ApplicationError
from jikuai.customers.kyc.config import kyc_config

ALLOWED_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP"}


class ImageRejected(ApplicationError):
    code = "image_rejected"


@dataclass(frozen=True)
class CleanImage:
    content: bytes  # JPEG bytes without metadata
    width: int
    height: int
    sha256: str
    source_format: str
    source_bytes: int

    @property
    def size(self) -> int:
        return len(self.content)


def _read_limited(upload, limit: int) -> bytes:
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    if hasattr(upload, "seek"):
        upload.seek(0)
    if hasattr(upload, "chunks"):
        parts, total = [], 0
        for chunk in upload.chunks():
            total += len(chunk)
            if total > limit:
                raise _too_large(limit)
            parts.append(chunk)
        data = b"".join(parts)
    elif isinstance(upload, bytes | bytearray):
        data = bytes(upload)
    else:
        data = upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise ImageRejected("图片文件为空，请重新选择。", "The image file is empty.", code="image_empty")
    return data


def _too_large(limit: int) -> ImageRejected:
    megabytes = limit / (1024 * 1024)
    return ImageRejected(
        f"图片不能超过 {megabytes:g} MB，请压缩后重新上传。",
        f"The image is larger than {megabytes:g} MB.",
        code="image_too_large",
        extra={"limit_bytes": limit},
    )


def _too_many_pixels(limit: int) -> ImageRejected:
    return ImageRejected(
        f"图片像素过多（超过 {limit / 1_000_000:g} 百万像素），请使用较小的照片。",
        f"The image has more than {limit / 1_000_000:g} megapixels.",
        code="image_too_many_pixels",
        extra={"limit_pixels": limit},
    )


def _corrupt() -> ImageRejected:
    return ImageRejected(
        "图片已损坏或不完整，无法读取，请重新拍摄或选择。", "The image is corrupt or truncated.", code="image_corrupt"
    )


def _wrong_format(found: str | None = None) -> ImageRejected:
    return ImageRejected(
        "只接受 JPEG、PNG 或 WebP 格式的照片。",
        "Only JPEG, PNG or WebP images are accepted.",
        code="image_format",
        extra={"format": found or ""},
    )


def _flatten(image: Image.Image) -> Image.Image:
    """RGB for JPEG; transparent areas become white (a screenshot of an ID card on a transparent canvas)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def clean_image(upload) -> CleanImage:
    """Validate an uploaded image and return a metadata-free JPEG copy; raise ``ImageRejected`` otherwise."""
    config = kyc_config()
    data = _read_limited(upload, config.max_upload_bytes)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide switch some libraries flip; never accept truncated uploads
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(config.max_pixels)
        except UnidentifiedImageError:
            raise _wrong_format()
        except (OSError, SyntaxError, ValueError):
            raise _corrupt()
        source_format = probe.format or ""
        if source_format not in ALLOWED_FORMATS:
            raise _wrong_format(source_format)
        width, height = probe.size
        if width * height > config.max_pixels:
            raise _too_many_pixels(config.max_pixels)
        if min(width, height) < config.min_side:
            raise ImageRejected(
                f"图片太小（{width}×{height}），短边至少 {config.min_side} 像素，请重新拍摄。",
                f"The image is too small ({width}x{height}); the short side must be at least {config.min_side} pixels.",
                code="image_too_small",
            )
        if getattr(probe, "n_frames", 1) > 1:
            raise ImageRejected("不接受动图，请上传一张静态照片。", "Animated images are not accepted.", code="image_animated")
        try:
            probe.verify()  # structure and checksums (PNG CRCs); the image object is unusable afterwards
            image = Image.open(io.BytesIO(data))
            image.load()  # full decode: a truncated JPEG fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(config.max_pixels)
        except (OSError, SyntaxError, ValueError, IndexError, struct.error):
            raise _corrupt()
    try:
        image = ImageOps.exif_transpose(image)  # the picture the phone showed, before the EXIF goes
    except Exception:  # a malformed EXIF block must not reject an otherwise good photo
        image = image.copy()
    image = _flatten(image)
    if max(image.size) > config.store_max_side:
        image.thumbnail((config.store_max_side, config.store_max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No exif=, icc_profile= or comment: the new file carries pixels only.
    image.save(out, format="JPEG", quality=config.jpeg_quality, optimize=True)
    content = out.getvalue()
    return CleanImage(
        content=content,
        width=image.width,
        height=image.height,
        sha256=hashlib.sha256(content).hexdigest(),
        source_format=source_format,
        source_bytes=len(data),
    )


def open_clean(content: bytes) -> Image.Image:
    """Decode one of our own re-encoded JPEGs (already validated) as RGB."""
    image = Image.open(io.BytesIO(content))
    image.load()
    return image.convert("RGB")
