"""Test images for KYC: ID cards drawn with a CJK font, and real faces that ship inside packages.

Faces: scikit-image's ``astronaut`` (Eileen Collins) and matplotlib's ``grace_hopper.jpg`` sample are
two different people that dlib detects; ``coffee`` has no face. Nothing is downloaded.
"""

import datetime as dt
import io
import struct
import zlib
from functools import cache

import matplotlib.cbook
import skimage.data
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw, ImageFont, ImageOps

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
CARD_SIZE = (856, 540)  # 85.6 mm × 54 mm at 10 px/mm
CARD_BACKGROUND = (232, 238, 236)
LABEL_COLOUR = (38, 84, 150)
TEXT_COLOUR = (12, 12, 12)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


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


def draw_id_front(
    *,
    name: str,
    id_number: str,
    gender: str = "男",
    ethnicity: str = "汉",
    birth: dt.date | None = None,
    address: str = "吉林省长春市榆树市华昌街道民主村三组18号",
    portrait: Image.Image | None = None,
) -> Image.Image:
    """The portrait side of a second-generation resident ID card (居民身份证人像面), same field layout."""
    if birth is None:
        birth = dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    card = Image.new("RGB", CARD_SIZE, CARD_BACKGROUND)
    draw = ImageDraw.Draw(card)
    label, value = _font(24), _font(30)

    def field(x, y, text, font=value):
        draw.text((x, y), text, font=font, fill=TEXT_COLOUR)

    def caption(x, y, text):
        draw.text((x, y + 5), text, font=label, fill=LABEL_COLOUR)

    caption(50, 45, "姓名")
    field(130, 45, name)
    caption(50, 105, "性别")
    field(130, 105, gender)
    caption(230, 105, "民族")
    field(310, 105, ethnicity)
    caption(50, 165, "出生")
    field(130, 165, f"{birth.year}")
    caption(220, 165, "年")
    field(260, 165, f"{birth.month}")
    caption(300, 165, "月")
    field(340, 165, f"{birth.day}")
    caption(380, 165, "日")
    caption(50, 225, "住址")
    for index in range(0, len(address), 11):
        field(130, 225 + (index // 11) * 42, address[index : index + 11])
    caption(50, 435, "公民身份号码")
    field(250, 432, id_number, font=_font(34))
    card.paste(portrait if portrait is not None else astronaut_portrait(), (590, 70))
    return card


def draw_id_back(
    *, authority: str = "榆树市公安局", valid_from: str = "2016.03.15", valid_until: str = "2036.03.15"
) -> Image.Image:
    """The emblem side (国徽面): title, issuing authority and validity period."""
    card = Image.new("RGB", CARD_SIZE, CARD_BACKGROUND)
    draw = ImageDraw.Draw(card)
    draw.ellipse((60, 50, 200, 190), outline=(190, 40, 40), width=6)  # where the national emblem sits
    draw.text((260, 70), "中华人民共和国", font=_font(44), fill=TEXT_COLOUR)
    draw.text((270, 140), "居民身份证", font=_font(56), fill=TEXT_COLOUR)
    draw.text((150, 380), "签发机关", font=_font(24), fill=LABEL_COLOUR)
    draw.text((280, 374), authority, font=_font(30), fill=TEXT_COLOUR)
    draw.text((150, 440), "有效期限", font=_font(24), fill=LABEL_COLOUR)
    draw.text((280, 434), f"{valid_from}-{valid_until}", font=_font(30), fill=TEXT_COLOUR)
    return card


def photo_of(card: Image.Image, *, angle: float = 0.0, scale: float = 1.4) -> Image.Image:
    """The card as a phone would photograph it: on a table, a little larger, slightly turned."""
    width, height = card.size
    scaled = card.resize((int(width * scale), int(height * scale)), Image.Resampling.BICUBIC)
    table = Image.new("RGB", (scaled.width + 160, scaled.height + 160), (96, 78, 60))
    table.paste(scaled, (80, 80))
    return table.rotate(angle, expand=False, fillcolor=(96, 78, 60), resample=Image.Resampling.BICUBIC) if angle else table


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
