"""Specimen ID card images (样证) for demos, tests and benchmarks: the field layout of a second-generation
resident ID card drawn with a CJK font (Debian's fonts-wqy-microhei). Never used to verify anyone.
"""

import datetime as dt
from functools import cache

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
CARD_SIZE = (856, 540)  # 85.6 mm × 54 mm at 10 px/mm
PORTRAIT_SIZE = (220, 270)
CARD_BACKGROUND = (232, 238, 236)
LABEL_COLOUR = (38, 84, 150)
TEXT_COLOUR = (12, 12, 12)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_PATH, size)


def silhouette_portrait() -> Image.Image:
    """A drawn head-and-shoulders outline: a portrait area without a real face."""
    portrait = Image.new("RGB", PORTRAIT_SIZE, (246, 246, 246))
    draw = ImageDraw.Draw(portrait)
    draw.ellipse((60, 30, 160, 150), fill=(175, 180, 188))
    draw.pieslice((10, 150, 210, 350), 180, 360, fill=(175, 180, 188))
    return portrait


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
    """The portrait side (人像面): 姓名, 性别, 民族, 出生, 住址, 公民身份号码 and the photo on the right."""
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
    card.paste((portrait or silhouette_portrait()).resize(PORTRAIT_SIZE), (590, 70))
    return card


def draw_id_back(
    *, authority: str = "榆树市公安局", valid_from: str = "2016.03.15", valid_until: str = "2036.03.15"
) -> Image.Image:
    """The emblem side (国徽面): title, 签发机关 and 有效期限 (``valid_until`` may be "长期")."""
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
    if not angle:
        return table
    return table.rotate(angle, expand=False, fillcolor=(96, 78, 60), resample=Image.Resampling.BICUBIC)
