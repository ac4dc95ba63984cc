"""The browser stories' reading of a Chinese page (tests/browser_language.py) finds English words and leaves
codes, numbers, file names, identifiers and allowed data alone."""

from tests.browser_language import EVENT_KEYS, english_on


def test_english_words_are_found_even_when_glued_to_chinese():
    texts = [["button", "保存Save"], ["td", "共3个items"], ["a", "提交至市生态环境局"], ["h1", "Log in"]]
    assert english_on(texts) == ["button: '保存Save'", "td: '共3个items'", "h1: 'Log in'"]


def test_codes_numbers_file_names_and_units_are_not_words():
    texts = [
        ["span", "WHCER-R-2026-000001"],
        ["td", "4,269 t"],
        ["a", "v1 · document.pdf"],
        ["td", "区段吨数（last_unit - first_unit + 1）"],
        ["dd", "registrar@bureau.example"],
        ["th", "上网或自用电量（MWh）"],
        ["p", "文件（PDF、PNG或JPEG格式）"],
    ]
    assert english_on(texts) == []


def test_allowed_data_is_left_out_and_nothing_else():
    texts = [
        ["td", "Org Admin"],
        ["td", "由Org Admin退回"],
        ["a", "phases.json"],
        ["td", "Org Admin returned it"],
    ]
    assert english_on(texts, ("Org Admin", "phases")) == ["td: 'Org Admin returned it'"]


def test_raw_event_keys_are_found():
    assert EVENT_KEYS.search("2023-01-01 transfer.requested") is not None
