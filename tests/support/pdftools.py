"""Read PDFs back with poppler's tools (Debian package poppler-utils) to check what was written.

Every function runs one tool and raises :class:`PdfToolError` (a ``RuntimeError``) with the
tool's exit status and stderr when it fails, so a broken PDF reads as a clear test failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

POPPLER_TOOLS = ("pdftotext", "pdfinfo", "pdftoppm", "pdffonts")

#: The columns pdffonts prints; ``object_id`` is "<number> <generation>".
FONT_COLUMNS = ("name", "type", "encoding", "emb", "sub", "uni", "object_id")

TOOL_TIMEOUT = 120


class PdfToolError(RuntimeError):
    """A poppler tool failed on a PDF."""


def poppler_unavailable_reason() -> str | None:
    """Why these helpers cannot run on this machine, or ``None`` if they can."""
    missing = [tool for tool in POPPLER_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian package poppler-utils)"
    return None


def pdf_text(pdf: Path, *, layout: bool = False) -> str:
    """The text of every page, UTF-8; ``layout`` keeps the physical layout (columns, tables)."""
    args = ["pdftotext", "-enc", "UTF-8", *(["-layout"] if layout else []), str(pdf), "-"]
    return _run(args, pdf).decode()


def pdf_pages(pdf: Path) -> int:
    info = _run(["pdfinfo", str(pdf)], pdf).decode(errors="replace")
    match = re.search(r"^Pages:\s+(\d+)\s*$", info, re.MULTILINE)
    if not match:
        raise PdfToolError(f"pdfinfo printed no page count for {pdf}:\n{info}")
    return int(match.group(1))


def pdf_to_pngs(
    pdf: Path,
    out_dir: Path,
    *,
    dpi: int = 50,
    first: int | None = None,
    last: int | None = None,
) -> list[Path]:
    """Render pages ``first``..``last`` (1-based, inclusive; default all) to PNGs, in order."""
    pages = pdf_pages(pdf)
    start, stop = first or 1, last or pages
    if not 1 <= start <= stop <= pages:
        raise ValueError(f"pages {start}..{stop} are not in {pdf} ({pages} pages)")
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / pdf.stem
    args = ["pdftoppm", "-png", "-r", str(dpi), "-f", str(start), "-l", str(stop)]
    _run([*args, str(pdf), str(prefix)], pdf)
    # pdftoppm zero-pads the page number to the width of the page count: name-01.png, ...
    numbered = re.compile(re.escape(pdf.stem) + r"-(\d+)\.png")
    found: dict[int, Path] = {}
    for png in out_dir.iterdir():
        match = numbered.fullmatch(png.name)
        if match and start <= int(match.group(1)) <= stop:
            found[int(match.group(1))] = png
    missing = [page for page in range(start, stop + 1) if page not in found]
    if missing:
        raise PdfToolError(f"pdftoppm wrote no PNG for page(s) {missing} of {pdf} in {out_dir}")
    return [found[page] for page in range(start, stop + 1)]


def pdf_fonts(pdf: Path) -> list[dict[str, str]]:
    """The fonts pdffonts lists, as dicts with the keys of :data:`FONT_COLUMNS`."""
    lines = _run(["pdffonts", str(pdf)], pdf).decode(errors="replace").splitlines()
    if len(lines) < 2 or not lines[1].startswith("-"):
        raise PdfToolError(f"unexpected pdffonts output for {pdf}:\n" + "\n".join(lines))
    name_width = len(lines[1].split(" ", 1)[0])
    return [_font_row(line, name_width) for line in lines[2:] if line.strip()]


def png_is_blank(png: Path) -> bool:
    """True when the image is a single colour (a page that rendered nothing)."""
    with Image.open(png) as image:
        # getcolors gives up (None) as soon as it meets more than maxcolors colours
        return image.convert("RGBA").getcolors(maxcolors=1) is not None


def _font_row(line: str, name_width: int) -> dict[str, str]:
    # The name column is padded to name_width, but a longer name pushes the rest right; the
    # last six fields are single words, and the type (e.g. "CID Type 0C") is what is left.
    if len(line) > name_width and line[name_width] == " ":
        name, rest = line[:name_width].strip(), line[name_width:]
    else:
        name, _, rest = line.partition(" ")
    words = rest.split()
    if len(words) < 7:
        raise PdfToolError(f"unexpected pdffonts line: {line!r}")
    kind = " ".join(words[:-6])
    encoding, emb, sub, uni, number, generation = words[-6:]
    return dict(
        zip(
            FONT_COLUMNS,
            (name, kind, encoding, emb, sub, uni, f"{number} {generation}"),
            strict=True,
        )
    )


def _run(args: list[str], pdf: Path) -> bytes:
    if not pdf.is_file():
        raise PdfToolError(f"{args[0]}: there is no PDF at {pdf}")
    try:
        done = subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT, check=False)
    except FileNotFoundError:
        raise PdfToolError(f"{args[0]} is not installed (Debian package poppler-utils)") from None
    except subprocess.TimeoutExpired:
        raise PdfToolError(f"{args[0]} did not finish within {TOOL_TIMEOUT} s on {pdf}") from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip() or "(no stderr)"
        raise PdfToolError(f"{' '.join(args)} failed with status {done.returncode}:\n{stderr}")
    return done.stdout
