"""The zh-CN and en catalogs say the same things with the same placeholders, and every key the
template and the code use exists."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from checks.builtin import CHECK_NAMES
from reports.i18n import LANGUAGES, Translator, catalog

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalog("zh-CN"), catalog("en")
    assert set(zh) == set(en)
    mismatched = [k for k in zh if _fields(zh[k]) != _fields(en[k])]
    assert not mismatched


def test_every_check_has_a_title_in_both_languages() -> None:
    for lang in LANGUAGES:
        t = Translator(lang)
        for check in CHECK_NAMES:
            assert t.has(f"checks.title.{check}"), (lang, check)
    assert Translator("zh-CN").check_title("filesystem") == "文件系统使用率"
    assert Translator("en").check_title("my_custom_check") == "my_custom_check"


def test_every_literal_key_used_in_the_template_and_code_exists() -> None:
    sources = [*REPORTS.glob("*.py"), *(REPORTS / "templates").glob("*.j2")]
    used = {m for f in sources for m in re.findall(r'\bt\(\s*"([a-z_]+\.[a-zA-Z0-9_.]+)"',
                                                   f.read_text("utf-8"))
            if not m.endswith(".")}  # a prefix completed at run time (state, category)
    assert len(used) > 100  # the pattern really finds them
    known = set(catalog("en"))
    assert sorted(used - known) == []


def test_missing_key_is_an_error() -> None:
    with pytest.raises(KeyError, match=r"report\.nope"):
        Translator("en")("report.nope")


def test_unknown_language() -> None:
    with pytest.raises(ValueError, match="zh-CN, en"):
        catalog("fr")


def test_dates_and_numbers_per_language() -> None:
    zh, en = Translator("zh-CN", "Asia/Shanghai"), Translator("en", "Asia/Shanghai")
    assert zh.date(date(2026, 10, 1)) == "2026年10月1日"
    assert en.date(date(2026, 10, 1)) == "2026-10-01"
    moment = datetime(2026, 10, 31, 17, 5, tzinfo=UTC)  # already 1 November in Shanghai
    assert zh.datetime(moment) == "2026年11月1日 01:05"
    assert en.percent(0.756) == "75.6 %"
    assert en.percent(None) == "—"
    assert zh.state("CRIT") == "严重"
