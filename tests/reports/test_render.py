"""The HTML and the PDF of the report: both languages, every section, hostile text escaped, a
period without data, and the PDF read back with poppler (text, fonts, pages)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markupsafe import escape
from support.pdftools import (
    pdf_fonts,
    pdf_pages,
    pdf_text,
    pdf_to_pngs,
    png_is_blank,
    poppler_unavailable_reason,
)
from support.report_samples import (
    ANSI_FAILED,
    APP,
    DEVICES,
    FIREWALL,
    SCRIPT,
    empty_report,
    sample_report,
)

from reports.render import SECTIONS, render_html, render_pdf

needs_poppler = pytest.mark.skipif(poppler_unavailable_reason() is not None,
                                   reason=str(poppler_unavailable_reason()))


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_html_has_every_section_in_its_language(lang: str) -> None:
    data = sample_report(lang)
    html = render_html(data)
    assert f'<html lang="{lang}">' in html
    for anchor, _ in SECTIONS:
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html
    assert data.meta.title in html
    assert ("一、巡检总结" if lang == "zh-CN" else "1. Executive summary") in html
    assert data.summary.headline in html
    for conclusion in data.summary.conclusions:
        assert str(escape(conclusion)) in html
    assert html.count("<svg") >= len(data.trends) + 1  # the charts and the state bar
    assert "<script" not in html  # no JavaScript at all


def test_device_text_is_escaped_everywhere() -> None:
    html = render_html(sample_report("zh-CN"))
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert APP.replace("<", "&lt;").replace(">", "&gt;") in html
    # ANSI escapes are shown, never passed through as raw control characters
    assert "\x1b" not in html
    assert ANSI_FAILED.replace("\x1b", "␛") in html
    # nothing external: the HTML stands alone
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_a_period_without_data_renders_and_says_so() -> None:
    data = empty_report("zh-CN", skipped_devices=["db-01", "web-02"])
    html = render_html(data)
    assert data.summary.headline in html
    assert "本期没有进行巡检" in html  # report.empty_period
    assert "db-01" in html


@needs_poppler
def test_pdf_reads_back_with_devices_numbers_and_a_cjk_font(tmp_path: Path) -> None:
    data = sample_report("zh-CN")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render_pdf(render_html(data)))
    text = pdf_text(pdf)
    for device in DEVICES:
        if "<" not in device:
            assert device in text
    assert "巡检报告" in text and data.meta.customer.name in text
    assert f"{data.summary.coverage.in_scope}" in text
    assert FIREWALL in text
    fonts = [f["name"] for f in pdf_fonts(pdf) if f["emb"] == "yes"]
    assert any("CJK" in name for name in fonts), fonts
    pages = pdf_pages(pdf)
    assert pages >= 8  # cover, contents, then a page per chapter
    pngs = pdf_to_pngs(pdf, tmp_path / "pages", dpi=30)
    assert len(pngs) == pages
    assert not [p.name for p in pngs if png_is_blank(p)]
    # page numbers in the footer, contents with page numbers (target-counter)
    assert f"2 / {pages}" in text


@needs_poppler
def test_english_pdf_and_empty_pdf(tmp_path: Path) -> None:
    for name, data in (("en", sample_report("en")), ("empty", empty_report("en"))):
        pdf = tmp_path / f"{name}.pdf"
        pdf.write_bytes(render_pdf(render_html(data)))
        text = pdf_text(pdf)
        assert data.meta.title in text
        assert data.summary.headline.split(":")[0] in text
