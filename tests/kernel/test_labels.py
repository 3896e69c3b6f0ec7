"""Bilingual choice labels show the current language's half (the English half capitalised, as a label)."""

from django.template import Context, Template
from django.utils import translation

from jikuai.core.labels import pick


def test_pick_takes_the_half_of_the_current_language():
    with translation.override("zh-hans"):
        assert pick("已签署 signed") == "已签署"
        assert pick("待签署 awaiting signature") == "待签署"
    with translation.override("en"):
        assert pick("已签署 signed") == "Signed"
        assert pick("待签署 awaiting signature") == "Awaiting signature"


def test_labels_that_are_not_bilingual_are_left_alone():
    with translation.override("en"):
        assert pick("农户") == "农户" and pick("A grade") == "A grade" and pick("") == "" and pick(None) == ""


def test_template_filter():
    template = Template("{% load labels %}{{ label|lang_label }}")
    with translation.override("en"):
        assert template.render(Context({"label": "已放款 disbursed"})) == "Disbursed"
    with translation.override("zh-hans"):
        assert template.render(Context({"label": "已放款 disbursed"})) == "已放款"
