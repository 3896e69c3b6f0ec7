"""Test images for KYC: specimen ID cards (jikuai.customers.kyc.specimens), and real faces that ship inside packages.

Faces: scikit-image's ``astronaut`` (Eileen Collins) and matplotlib's ``grace_hopper.jpg`` sample are
two different people that dlib detects; ``coffee`` has no face. Nothing is downloaded.
"""

import io
import struct
import zlib
from functools import cache

import matplotlib.cbook
import skimage.data
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageOps

from jikuai.customers.kyc import specimens


@cache
def _astronaut() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


def astronaut_portrait() -> Image.Image:
    """The ID photo: head and shoulders of the astronaut, portrait format."""
    return _astronaut().crop((120, 0, 340, 270)).resize((220, 270), Image.Resampling.LANCZOS)


def astronaut_selfie() -> Image.Image:
    """The same person photographed again: another crop, resized, mirrored (as a front camera does)
    and turned by 8°."""
    selfie = ImageOps.mirror(_astronaut().crop((60, 0, 360, 300)).resize((480, 480), Image.Resampling.LANCZOS))
    return selfie.rotate(8, expand=True, fillcolor=(120, 120, 120), resample=Image.Resampling.BICUBIC)


def grace_hopper_selfie() -> Image.Image:
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        image = Image.open(handle)
        image.load()
    return image.convert("RGB")


def no_face_image() -> Image.Image:
    return Image.fromarray(skimage.data.coffee())


def two_faces_selfie() -> Image.Image:
    left = _astronaut().crop((60, 0, 360, 300)).resize((400, 400))
    right = grace_hopper_selfie().crop((60, 60, 460, 460)).resize((400, 400))
    canvas = Image.new("RGB", (820, 420), (200, 200, 200))
    canvas.paste(left, (5, 10))
    canvas.paste(right, (415, 10))
    return canvas


def draw_id_front(*, portrait: Image.Image | None = None, **fields) -> Image.Image:
    """A specimen portrait side whose photo is the astronaut unless another portrait is given."""
    return specimens.draw_id_front(portrait=portrait if portrait is not None else astronaut_portrait(), **fields)


draw_id_back = specimens.draw_id_back
photo_of = specimens.photo_of


def jpeg_bytes(image: Image.Image, *, quality: int = 92, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    kwargs = {"exif": exif} if exif is not None else {}
    image.convert("RGB").save(out, format="JPEG", quality=quality, **kwargs)
    return out.getvalue()


def encoded(image: Image.Image, image_format: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=image_format, **kwargs)
    return out.getvalue()


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def png_header_only(width: int, height: int) -> bytes:
    """A syntactically valid PNG claiming ``width``×``height`` pixels with almost no data: a pixel bomb
    that costs nothing to build and would take width×height bytes to decode."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * width
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * 2, 9)) + chunk(b"IEND", b"")
