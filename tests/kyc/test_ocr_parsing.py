"""The parser from OCR text boxes to ID card fields (no OCR engine: boxes as rapidocr returns them)."""

import datetime as dt

from jikuai.customers.kyc.ocr import TextBox, id_number_candidates, parse_back, parse_front


def box(text, x, y, width=None, height=30, score=0.99):
    width = width or 30 * len(text)
    return TextBox(text=text, score=score, x0=x, y0=y, x1=x + width, y1=y + height)


FRONT_BOXES = [
    box("姓名", 50, 50),
    box("张三", 130, 48),
    box("性别男", 50, 110),
    box("民族", 230, 110),
    box("汉", 310, 108),
    box("出生", 50, 170),
    box("1990年1月1日", 130, 168),
    box("住址", 50, 230),
    box("吉林省长春市榆树市华昌", 132, 229),
    box("街道民主村三组18号", 132, 271),
    box("公民身份号码", 51, 441),
    box("11010519491231002X", 250, 439),
]


def test_front_fields_by_label_and_position():
    fields = parse_front(FRONT_BOXES)
    assert fields.name == "张三"
    assert fields.gender == "M"
    assert fields.ethnicity == "汉"
    assert fields.birth_date == dt.date(1990, 1, 1)
    assert fields.address == "吉林省长春市榆树市华昌街道民主村三组18号"
    assert fields.id_number == "11010519491231002X"
    assert fields.id_number_valid
    assert fields.confidence > 0.9
    assert fields.labels_found == ["姓名", "性别", "民族", "出生", "住址", "公民身份号码"]


def test_front_boxes_in_any_order_and_merged_labels():
    merged = [
        box("公民身份号码 11010519491231002X", 50, 440, width=600),
        box("住址 吉林省长春市", 50, 230, width=400),
        box("朝阳区1号", 132, 272),
        box("姓名 欧阳 娜娜", 50, 50, width=300),
        box("性别 女 民族 蒙古", 50, 110, width=400),
        box("出生 1990 1 12", 50, 170, width=300),
    ]
    fields = parse_front(list(reversed(merged)))
    assert fields.name == "欧阳娜娜"
    assert fields.gender == "F"
    assert fields.ethnicity == "蒙古"
    assert fields.birth_date == dt.date(1990, 1, 12)  # the spaces between the numbers still separate them
    assert fields.address == "吉林省长春市朝阳区1号"
    assert fields.id_number == "11010519491231002X"


def test_minority_name_with_middle_dot():
    fields = parse_front(
        [box("姓名", 50, 50), box("买买提•艾力", 130, 48), box("公民身份号码", 50, 440), box("11010519491231002X", 250, 440)]
    )
    assert fields.name == "买买提·艾力"


def test_id_number_with_ocr_look_alikes_is_repaired_and_checked():
    fields = parse_front([box("公民身份号码", 50, 440), box("1101O5I9491231002x", 250, 440)])
    assert fields.id_number == "11010519491231002X"
    assert fields.id_number_valid


def test_id_number_with_a_wrong_check_character_is_kept_with_the_reason():
    fields = parse_front(
        [box("姓名", 50, 50), box("张三", 130, 48), box("公民身份号码", 50, 440), box("110105194912310021", 250, 440)]
    )
    assert fields.id_number == "110105194912310021"
    assert not fields.id_number_valid
    assert "校验位" in fields.id_number_error


def test_nothing_readable():
    fields = parse_front([box("中华人民共和国", 250, 80), box("居民身份证", 260, 150)])
    assert not fields.looks_like_front
    assert fields.id_number == ""
    assert fields.id_number_error


def test_candidates_need_eighteen_characters():
    assert id_number_candidates("12345") == []
    assert id_number_candidates("号码:11010519491231002X。") == ["11010519491231002X"]


def test_back_side_fields():
    fields = parse_back(
        [
            box("中华人民共和国", 255, 86),
            box("居民身份证", 262, 157),
            box("签发机关", 149, 381),
            box("榆树市公安局", 279, 378),
            box("有效期限", 149, 441),
            box("2015.01.01-2035.01.01", 279, 439),
        ]
    )
    assert fields.looks_like_back
    assert fields.authority == "榆树市公安局"
    assert fields.valid_from == dt.date(2015, 1, 1)
    assert fields.valid_until == dt.date(2035, 1, 1)
    assert not fields.long_term


def test_back_side_long_term_and_split_boxes():
    fields = parse_back(
        [
            box("签发机关 北京市公安局朝阳分局", 149, 381, width=500),
            box("有效期限 2010.05.20", 149, 441, width=300),
            box("-长期", 460, 441),
        ]
    )
    assert fields.authority == "北京市公安局朝阳分局"
    assert fields.valid_from == dt.date(2010, 5, 20)
    assert fields.valid_until is None
    assert fields.long_term
