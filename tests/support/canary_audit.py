"""Search what the test suite produced for canary secrets (support.canaries).

:class:`CanaryScanner` looks in

* files, byte for byte: the canary as is, percent-encoded (URLs) and base64-encoded (HTTP basic
  auth, headers) at each of the three alignments;
* SQLite databases: every column of every table, ``LargeBinary`` values zlib-decompressed as
  the store compresses transcripts, raw outputs and configs (a raw scan of the file never sees
  inside those);
* gzip files, zip archives (XLSX reports) member by member, and PDFs through ``pdftotext``
  (their text streams are compressed);
* text handed to it (a test's captured stdout/stderr/logs, a failure's traceback) and rows of
  a PostgreSQL database before the test's fixture drops it.

:class:`CanaryLedger` is a pytest plugin (registered by tests/conftest.py): it scans every test's
captured output as the test reports, keeps the findings, and orders the audit test
(``@pytest.mark.canary_audit``) after every other test. The audit reads the ledger and scans the
session's files; see tests/hardening/test_secrets_audit.py.
"""

from __future__ import annotations

import base64
import gzip
import mmap
import os
import re
import shutil
import sqlite3
import subprocess
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pytest
from sqlalchemy import column as sql_column
from sqlalchemy import create_engine, inspect, select, table
from sqlalchemy.exc import SQLAlchemyError

from support.canaries import EXEMPT_MARKER

#: decompressed or extracted content beyond this is not searched (bounded memory)
MAX_EXPANDED_BYTES = 64 * 1024 * 1024
#: a secret *source* file (a password_file, a token file) is small
_MAX_SECRET_FILE = 4096
_SQLITE_MAGIC = b"SQLite format 3\x00"
_ZLIB_HEADERS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_PDFTOTEXT = shutil.which("pdftotext")


@dataclass(frozen=True)
class Hit:
    """A canary found: where, which, in what form, and the text around it (canary masked)."""

    where: str
    canary: str
    form: str
    context: str

    def __str__(self) -> str:
        return f"{self.where}: {self.canary} ({self.form}) in …{self.context}…"


def _base64_cores(value: bytes) -> Iterator[bytes]:
    """The part of base64(x + value + y) that is the same whatever x and y are, for each of the
    three alignments of ``value`` in the encoded stream."""
    for pad in range(3):
        encoded = base64.b64encode(b"\x00" * pad + value)
        start = 4 if pad else 0
        end = (pad + len(value)) // 3 * 4
        if end - start >= 12:
            yield encoded[start:end]


@dataclass
class CanaryScanner:
    """Finds the canaries ``name → value`` in bytes, text, files and databases."""

    canaries: Mapping[str, str]
    _forms: dict[bytes, tuple[str, str]] = field(init=False, default_factory=dict)
    _pattern: re.Pattern[bytes] = field(init=False)
    _masks: list[tuple[bytes, bytes]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        for name, value in self.canaries.items():
            raw = value.encode("utf-8")
            self._forms[raw] = (name, "raw")
            if (encoded := quote(value, safe="").encode()) != raw:
                self._forms[encoded] = (name, "percent-encoded")
            for core in _base64_cores(raw):
                self._forms[core] = (name, "base64")
        # longest first, so an alternation never stops at a shorter form inside a longer one
        ordered = sorted(self._forms, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(f) for f in ordered))
        self._masks = [(f, f"<{self._forms[f][0]}>".encode()) for f in ordered]

    # -- bytes and text

    def find(self, data: bytes | bytearray | mmap.mmap, where: str, via: str = "") -> list[Hit]:
        hits = []
        for match in self._pattern.finditer(data):
            name, form = self._forms[match.group()]
            around = bytes(data[max(0, match.start() - 60):match.end() + 60])
            for found, mask in self._masks:
                around = around.replace(found, mask)
            context = around.decode("utf-8", "replace").replace("\n", "⏎")
            hits.append(Hit(where, name, f"{via}{form}" if via else form, context))
        return hits

    def find_text(self, text: str, where: str) -> list[Hit]:
        return self.find(text.encode("utf-8", "surrogateescape"), where)

    def find_value(self, value: object, where: str) -> list[Hit]:
        """A database value: text as is; bytes as is and, when they are zlib data, inflated."""
        if value is None:
            return []
        if isinstance(value, memoryview):
            value = value.tobytes()
        if isinstance(value, bytes):
            hits = self.find(value, where)
            if value[:2] in _ZLIB_HEADERS and (inflated := _inflate(value)) is not None:
                hits += self.find(inflated, where, "zlib ")
            return hits
        return self.find_text(value if isinstance(value, str) else repr(value), where)

    # -- files

    def is_secret_source(self, data: bytes) -> bool:
        """A file made of canaries only (one a line, ``#`` comments): what the agent is told to
        read a secret from (``password_file``, ``tokens_file``), not something it wrote."""
        if len(data) > _MAX_SECRET_FILE:
            return False
        try:
            lines = [ln.strip() for ln in data.decode("utf-8").splitlines()]
        except UnicodeDecodeError:
            return False
        values = [ln for ln in lines if ln and not ln.startswith("#")]
        return bool(values) and all(v in self.canaries.values() for v in values)

    def scan_file(self, path: Path) -> list[Hit]:
        where = str(path)
        size = path.stat().st_size
        if size == 0:
            return []
        with path.open("rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            head = data[:16]
            if size <= _MAX_SECRET_FILE and self.is_secret_source(data[:]):
                return []
            hits = self.find(data, where)
        if head.startswith(_SQLITE_MAGIC):
            hits += self.scan_sqlite(path)
        elif head.startswith(b"\x1f\x8b"):
            with gzip.open(path) as unzipped:
                hits += self.find(_bounded(unzipped), where, "gzip ")
        elif head.startswith(b"PK\x03\x04"):
            hits += self._scan_zip(path)
        elif head.startswith(b"%PDF"):
            hits += self._scan_pdf(path)
        elif head[:2] in _ZLIB_HEADERS and (inflated := _inflate(path.read_bytes())) is not None:
            hits += self.find(inflated, where, "zlib ")
        return hits

    def scan_sqlite(self, path: Path) -> list[Hit]:
        """Every value of every table (the WAL included), compressed blobs inflated."""
        hits: list[Hit] = []
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        except sqlite3.Error:
            return hits
        try:
            tables = [name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in tables:
                quoted = '"' + name.replace('"', '""') + '"'
                for row in conn.execute(f"SELECT * FROM {quoted}"):
                    for value in row:
                        hits += self.find_value(value, f"{path} table {name}")
        except sqlite3.Error:
            pass  # not a database after all, or one being written: the raw scan still counted
        finally:
            conn.close()
        return [h for h in hits if "zlib" in h.form]  # plain text was found by the raw scan

    def scan_database(self, url: str, label: str) -> tuple[int, list[Hit]]:
        """Rows of every table of the database at ``url`` (e.g. PostgreSQL before a test drops
        its database); returns how many rows were searched, and the hits."""
        engine = create_engine(url)
        rows, hits = 0, []
        try:
            with engine.connect() as conn:
                inspector = inspect(conn)
                for name in inspector.get_table_names():
                    columns = [sql_column(c["name"]) for c in inspector.get_columns(name)]
                    for row in conn.execute(select(*columns).select_from(table(name))):
                        rows += 1
                        for value in row:
                            hits += self.find_value(value, f"{label} table {name}")
        finally:
            engine.dispose()
        return rows, hits

    def _scan_zip(self, path: Path) -> list[Hit]:
        hits: list[Hit] = []
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    with archive.open(info) as member:
                        hits += self.find(_bounded(member), f"{path}!{info.filename}", "zip ")
        except (zipfile.BadZipFile, OSError):
            pass
        return hits

    def _scan_pdf(self, path: Path) -> list[Hit]:
        if _PDFTOTEXT is None:
            raise RuntimeError("pdftotext (poppler-utils) is needed to search PDFs")
        done = subprocess.run([_PDFTOTEXT, "-q", str(path), "-"], capture_output=True,
                              timeout=60, check=False)
        return self.find(done.stdout, str(path), "pdf text ")


def _bounded(stream: IO[bytes]) -> bytes:
    try:
        return stream.read(MAX_EXPANDED_BYTES)
    except (OSError, EOFError, zlib.error):
        return b""


def _inflate(blob: bytes) -> bytes | None:
    try:
        return zlib.decompressobj().decompress(blob, MAX_EXPANDED_BYTES)
    except zlib.error:
        return None


def exempt_dir(path: Path, root: Path) -> Path | None:
    """The directory between ``root`` and ``path`` marked device-side, if any."""
    for parent in path.parents:
        if (parent / EXEMPT_MARKER).is_file():
            return parent
        if parent == root:
            return None
    return None


@dataclass
class TreeAudit:
    """What one directory tree held: files searched, device-side directories skipped, hits."""

    root: Path
    files: int = 0
    bytes: int = 0
    secret_sources: int = 0
    exempt: dict[Path, str] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)


def audit_tree(scanner: CanaryScanner, root: Path) -> TreeAudit:
    """Search every regular file under ``root`` but those in directories marked device-side."""
    audit = TreeAudit(root)
    for path in walk_files(root):
        if (marked := exempt_dir(path, root)) is not None:
            if marked not in audit.exempt:
                audit.exempt[marked] = (marked / EXEMPT_MARKER).read_text("utf-8").strip()
            continue
        try:
            size = path.stat().st_size
            hits = scanner.scan_file(path)
        except (FileNotFoundError, PermissionError):
            continue  # removed while we walked (a peer still shutting down), or a socket dir
        audit.files += 1
        audit.bytes += size
        if not hits and 0 < size <= _MAX_SECRET_FILE and scanner.is_secret_source(
                path.read_bytes()):
            audit.secret_sources += 1
        audit.hits += hits
    return audit


def walk_files(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, symlinks not followed (they may point anywhere)."""
    for directory, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                yield path


# --------------------------------------------------------------------------- pytest plugin


@dataclass
class TestOutput:
    nodeid: str
    phases: int = 0
    hits: list[Hit] = field(default_factory=list)


class CanaryLedger:
    """Scans each test's captured output and failure text; collects database findings; orders
    the ``canary_audit`` test last."""

    PLUGIN_NAME = "canary-ledger"

    def __init__(self, scanner: CanaryScanner) -> None:
        self.scanner = scanner
        self.tests: dict[str, TestOutput] = {}
        #: the audit tests themselves (their own output is not "what the suite produced")
        self.audits: set[str] = set()
        #: label of each database searched before it was dropped → rows searched
        self.databases: dict[str, int] = {}
        #: label of each database that could not be searched → why
        self.unsearched: dict[str, str] = {}
        self.database_hits: list[Hit] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        audits = [item for item in items if item.get_closest_marker("canary_audit")]
        others = [item for item in items if not item.get_closest_marker("canary_audit")]
        items[:] = others + audits
        self.audits = {item.nodeid for item in audits}

    def other_tests(self) -> list[TestOutput]:
        """Tests that ran (reported at least once) in this session, the audit excluded."""
        return [t for t in self.tests.values() if t.nodeid not in self.audits]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, TestOutput(report.nodeid))
        entry.phases += 1
        for title, content in report.sections:
            entry.hits += self.scanner.find_text(content, f"{report.nodeid}: {title}")
        if report.longrepr is not None:
            entry.hits += self.scanner.find_text(report.longreprtext,
                                                 f"{report.nodeid}: {report.when} failure text")

    def record_database(self, url: str, label: str) -> None:
        """Search a test's database before it is dropped. One that cannot be read (a fault
        test broke it on purpose) is listed by the audit as not searched, with the reason."""
        try:
            rows, hits = self.scanner.scan_database(url, label)
        except SQLAlchemyError as exc:
            self.unsearched[label] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
            return
        self.databases[label] = rows
        self.database_hits += hits
