"""The document helpers see what they claim to: Chromium's console and screenshots, and PDFs read
back with poppler (text, pages, fonts, rendered pages)."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from .browser import PROFILE_PREFIX, BrowserError, chromium_unavailable_reason, render_page
from .pdftools import (
    PdfToolError,
    pdf_fonts,
    pdf_pages,
    pdf_text,
    pdf_to_pngs,
    png_is_blank,
    poppler_unavailable_reason,
)

CHROMIUM_MISSING = chromium_unavailable_reason()
POPPLER_MISSING = poppler_unavailable_reason()
needs_chromium = pytest.mark.skipif(CHROMIUM_MISSING is not None, reason=f"{CHROMIUM_MISSING}")
needs_poppler = pytest.mark.skipif(POPPLER_MISSING is not None, reason=f"{POPPLER_MISSING}")

NOTO_CJK = re.compile(r"Noto.?Sans.?CJK", re.IGNORECASE)


def write_page(path: Path, body: str) -> Path:
    path.write_text(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>t</title></head>'
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    return path


def live_chromium_profiles() -> set[str]:
    """Command lines of running processes started by render_page (zombies have none)."""
    found: set[str] = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        if PROFILE_PREFIX in text:
            found.add(text)
    return found


# -- Chromium ------------------------------------------------------------------------------------


@pytest.mark.chromium
@needs_chromium
def test_console_errors_exceptions_and_failed_loads_are_reported(tmp_path: Path) -> None:
    page = write_page(
        tmp_path / "broken.html",
        '<h1>巡检报告</h1><img src="missing.png" alt="logo">'
        "<script>"
        'console.log("just saying");'
        'console.error("boom");'
        'console.assert(1 === 2, "must hold");'
        'throw new Error("kaboom");'
        "</script>",
    )
    render = render_page(page, tmp_path / "broken.png", timeout=60)

    errors = "\n".join(render.console_errors)
    assert any(e.startswith("console.error: boom") for e in render.console_errors), errors
    assert any(e.startswith("console.assert: must hold") for e in render.console_errors), errors
    assert any(e.startswith("uncaught exception: Error: kaboom") for e in render.console_errors), (
        errors
    )
    assert any("missing.png" in e and "ERR_FILE_NOT_FOUND" in e for e in render.console_errors), (
        errors
    )
    assert len(render.console_errors) == 4, errors
    # console.log is a message, not an error; every error is a message too
    assert any("just saying" in m for m in render.console_messages)
    assert not any("just saying" in e for e in render.console_errors)
    assert set(render.console_errors) <= set(render.console_messages)
    assert render.screenshot.is_file()


@pytest.mark.chromium
@needs_chromium
def test_clean_page_has_no_errors_and_a_full_page_screenshot(tmp_path: Path) -> None:
    page = write_page(
        tmp_path / "clean.html",
        "<h1 style=\"font-family: 'Noto Sans CJK SC'\">巡检报告</h1>"
        '<div style="height: 3000px; border-left: 40px solid #1f4e79">tall</div>'
        '<script>console.info("rendered")</script>',
    )
    render = render_page(page, tmp_path / "shots" / "clean.png", width=1000, height=800)

    assert render.console_errors == []
    assert any(m.startswith("console.info: rendered") for m in render.console_messages)
    assert render.screenshot == tmp_path / "shots" / "clean.png"
    with Image.open(render.screenshot) as image:
        assert image.format == "PNG"
        # the viewport is 800 px high; the whole 3000 px page is in the picture
        assert image.width == 1000
        assert image.height >= 3000
        # the blue bar at the left edge is there at the top and the bottom of the page
        assert image.convert("RGB").getpixel((20, 100)) == (0x1F, 0x4E, 0x79)
        assert image.convert("RGB").getpixel((20, 2900)) == (0x1F, 0x4E, 0x79)
    assert not png_is_blank(render.screenshot)


@pytest.mark.chromium
@needs_chromium
def test_a_page_that_never_loads_times_out_and_leaves_nothing_behind(tmp_path: Path) -> None:
    page = write_page(tmp_path / "hang.html", "<p>x</p><script>while (true) {}</script>")
    profiles_before = set(Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*"))
    started = time.monotonic()

    with pytest.raises(BrowserError, match=r"timed out after 3 s waiting for .*loadEventFired"):
        render_page(page, tmp_path / "hang.png", timeout=3)

    assert time.monotonic() - started < 20
    assert live_chromium_profiles() == set()
    assert set(Path(tempfile.gettempdir()).glob(PROFILE_PREFIX + "*")) <= profiles_before
    assert not (tmp_path / "hang.png").exists()


@pytest.mark.chromium
@needs_chromium
def test_missing_html_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no HTML file to render"):
        render_page(tmp_path / "nope.html", tmp_path / "nope.png")


# -- PDF -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cjk_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three A4 pages by WeasyPrint: Chinese and English text, more text, and an empty page."""
    weasyprint = pytest.importorskip("weasyprint")
    pdf = tmp_path_factory.mktemp("pdf") / "report.pdf"
    weasyprint.HTML(
        string=(
            '<html lang="zh-CN"><head><meta charset="utf-8"><style>'
            "@page { size: A4; margin: 2cm }"
            "body { font-family: 'Noto Sans CJK SC'; font-size: 14pt }"
            "</style></head><body>"
            "<h1>巡检报告</h1><p>Inspection report for web-01: 3 findings, CPU 97.5%</p>"
            '<p style="break-before: page">第二页：设备清单 db-01</p>'
            '<div style="break-before: page"></div>'
            "</body></html>"
        )
    ).write_pdf(pdf)
    return pdf


@needs_poppler
def test_pdf_text_and_pages(cjk_pdf: Path) -> None:
    text = pdf_text(cjk_pdf)
    assert "巡检报告" in text
    assert "Inspection report for web-01: 3 findings, CPU 97.5%" in text
    assert "第二页：设备清单 db-01" in text
    # pdftotext ends every page with a form feed
    assert text.count("\f") == 3
    assert "巡检报告" in pdf_text(cjk_pdf, layout=True)
    assert pdf_pages(cjk_pdf) == 3


@needs_poppler
def test_pdf_fonts_show_the_embedded_noto_cjk_font(cjk_pdf: Path) -> None:
    fonts = pdf_fonts(cjk_pdf)
    cjk = [font for font in fonts if NOTO_CJK.search(font["name"])]
    assert cjk, f"no Noto Sans CJK font in the PDF (install fonts-noto-cjk): {fonts}"
    for font in cjk:
        assert font["emb"] == "yes", font
        assert font["encoding"] == "Identity-H", font
        assert font["type"].startswith("CID"), font
        assert re.fullmatch(r"\d+ \d+", font["object_id"]), font


@needs_poppler
def test_pdf_to_pngs_renders_the_pages(cjk_pdf: Path, tmp_path: Path) -> None:
    pngs = pdf_to_pngs(cjk_pdf, tmp_path / "pages")
    assert [png.parent for png in pngs] == [tmp_path / "pages"] * 3
    # the two pages with text have ink, the empty third page has none
    assert [png_is_blank(png) for png in pngs] == [False, False, True]
    with Image.open(pngs[0]) as image:
        # A4 (210 x 297 mm) at 50 dpi; poppler rounds up
        assert image.width == pytest.approx(413.4, abs=1)
        assert image.height == pytest.approx(584.6, abs=1)

    second = pdf_to_pngs(cjk_pdf, tmp_path / "second", dpi=72, first=2, last=2)
    assert len(second) == 1
    with Image.open(second[0]) as image:
        assert image.width == pytest.approx(595.3, abs=1)
        assert image.height == pytest.approx(841.9, abs=1)
    assert not png_is_blank(second[0])

    with pytest.raises(ValueError, match=r"pages 2\.\.4 are not in"):
        pdf_to_pngs(cjk_pdf, tmp_path / "bad", first=2, last=4)


def test_png_is_blank_means_one_colour(tmp_path: Path) -> None:
    grey = tmp_path / "grey.png"
    Image.new("RGB", (40, 30), (200, 200, 200)).save(grey)
    assert png_is_blank(grey)
    dotted = tmp_path / "dotted.png"
    image = Image.new("RGBA", (40, 30), (255, 255, 255, 255))
    image.putpixel((39, 29), (254, 255, 255, 255))
    image.save(dotted)
    assert not png_is_blank(dotted)


@needs_poppler
def test_a_broken_pdf_fails_with_the_tools_stderr(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a PDF body\n")
    for read in (pdf_text, pdf_pages, pdf_fonts):
        with pytest.raises(PdfToolError, match=r"(?s)failed with status \d+:\n.*Error"):
            read(broken)
    with pytest.raises(PdfToolError, match="there is no PDF at"):
        pdf_text(tmp_path / "absent.pdf")
