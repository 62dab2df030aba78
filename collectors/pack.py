"""Inspection packs: versioned data naming exactly the commands an inspection may send, how their
output is parsed and which checks judge it.

A pack is one YAML file (``NAME.yaml``), or a directory holding ``pack.yaml`` beside the TextFSM
templates and scripts it references. Its content hash covers all of it, so an approval is of
exactly what runs (``docs/packs.md``; the JSON Schema is ``docs/pack.schema.json``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.errors import PackError, PolicyError
from checks.builtin import CHECK_NAMES
from collectors.policy import check_command
from collectors.script_guard import check_script
from config.models import CheckSettings
from config.yamlpos import format_loc, line_of, load_with_nodes

PACK_FILE = "pack.yaml"
#: platforms whose items are shell commands run over an exec channel (scripts allowed)
SHELL_PLATFORMS = frozenset({"linux", "local"})
ItemId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
PackName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
#: scripts' default and largest output (bytes) and run time (seconds)
SCRIPT_MAX_BYTES = 1024 * 1024
MAX_ITEM_BYTES = 16 * 1024 * 1024
MAX_ITEM_TIMEOUT = 600.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_file(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError(f"{value!r} must be a path inside the pack's directory")
    return value


# -- parsers ---------------------------------------------------------------------------------


class TextFsmParser(_Strict):
    """Rows from a TextFSM template (one row per record, keys are the template's Values)."""

    type: Literal["textfsm"]
    #: template file inside the pack's directory
    template: str | None = None
    #: or the template itself, inline
    inline: str | None = None

    @field_validator("template")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return value if value is None else _relative_file(value)

    @model_validator(mode="after")
    def _one_source(self) -> TextFsmParser:
        if (self.template is None) == (self.inline is None):
            raise ValueError("give the TextFSM template as `template` (a file) or `inline`")
        return self


class RegexParser(_Strict):
    """One row per match of a regular expression with named groups (multiline mode)."""

    type: Literal["regex"]
    pattern: str
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value, re.MULTILINE)
        except re.error as exc:
            raise ValueError(f"the regular expression does not compile: {exc}") from exc
        if not compiled.groupindex:
            raise ValueError("the regular expression needs at least one named group, "
                             "e.g. (?P<used>\\d+)")
        return value


class JsonPathParser(_Strict):
    """Rows from JSON output: ``path`` selects the rows, ``fields`` picks values from each."""

    type: Literal["jsonpath"]
    #: JSONPath selecting the rows (each match is one row); default: the whole document
    path: str = "$"
    #: field name → JSONPath relative to the row; default: the row's own scalar members
    fields: dict[str, str] = Field(default_factory=dict)


class KeyValueParser(_Strict):
    """One row from ``key=value`` or ``key: value`` lines."""

    type: Literal["kv"]
    #: ``=`` or ``:``; default: whichever comes first on each line
    separator: Literal["=", ":"] | None = None


class TableParser(_Strict):
    """Rows from a whitespace-separated table; the last column takes the rest of the line."""

    type: Literal["table"]
    #: column names; default: the first non-empty line is the header
    columns: list[str] | None = Field(default=None, min_length=1)
    #: lines to skip before the header or the first row
    skip: int = Field(default=0, ge=0)


class PluginParser(_Strict):
    """A parser from a Python package, registered under the ``xunjian.parsers`` entry point."""

    type: Literal["plugin"]
    name: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)


Parser = Annotated[
    TextFsmParser | RegexParser | JsonPathParser | KeyValueParser | TableParser | PluginParser,
    Field(discriminator="type"),
]


# -- checks ----------------------------------------------------------------------------------


class RowCount(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


_RULES = ("thresholds", "equals", "not_equals", "matches", "present", "rows", "plugin")


class PackCheck(_Strict):
    """A check over an item's parsed rows. Exactly one rule: thresholds (``warn``/``crit``),
    ``equals``, ``not_equals``, ``matches``, ``present``, ``rows`` or ``plugin``."""

    id: ItemId
    title: str | None = None
    description: str | None = None
    #: the parsed field judged (a TextFSM Value, regex group, key or column)
    field: str | None = None
    #: the field naming each row's item (one result per row); default: one result per check
    item: str | None = None
    #: only rows whose fields match these regular expressions (all of them) are judged
    where: dict[str, str] = Field(default_factory=dict)
    unit: str | None = None
    warn: float | None = None
    crit: float | None = None
    #: ``above``: value ≥ threshold breaches (use, temperature); ``below``: value ≤ threshold
    #: breaches (days to certificate expiry, free space, optical power)
    direction: Literal["above", "below"] = "above"
    #: compared as numbers when both are, as booleans when either is (``true``, ``no``, …)
    equals: bool | float | str | None = None
    not_equals: bool | float | str | None = None
    matches: str | None = None
    #: true: at least one (matching) row must exist — and have ``field``, when given
    present: bool | None = None
    rows: RowCount | None = None
    plugin: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    #: the state when a non-threshold rule is broken
    severity: Literal["WARN", "CRIT"] = "CRIT"

    @model_validator(mode="after")
    def _one_rule(self) -> PackCheck:
        given = [r for r in _RULES if (
            self.warn is not None or self.crit is not None if r == "thresholds"
            else getattr(self, r) is not None)]
        if self.plugin is not None and "thresholds" in given:
            given.remove("thresholds")  # a plugin's measurements are judged by warn/crit
        if len(given) != 1:
            raise ValueError(f"check {self.id}: give exactly one rule ("
                             f"{', '.join(_RULES)}); got {', '.join(given) or 'none'}")
        if given[0] in {"thresholds", "equals", "not_equals", "matches"} and not self.field:
            raise ValueError(f"check {self.id}: `{given[0]}` needs `field` (the value judged)")
        if self.rows is not None and self.rows.min is None and self.rows.max is None:
            raise ValueError(f"check {self.id}: `rows` needs `min`, `max` or both")
        for pattern in [self.matches or "", *self.where.values()]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"check {self.id}: regular expression {pattern!r} does not "
                                 f"compile: {exc}") from exc
        return self

    @property
    def rule(self) -> str:
        if self.plugin is not None:
            return "plugin"
        return next(r for r in _RULES if (
            self.warn is not None or self.crit is not None if r == "thresholds"
            else getattr(self, r) is not None))


# -- items and packs -------------------------------------------------------------------------


class PackItem(_Strict):
    id: ItemId
    #: a read-only command (network devices; Linux commands must pass the allowlist)
    command: str | None = None
    #: Linux: an inline shell script, run with ``sh -c`` over the same SSH session
    script: str | None = None
    #: Linux: a script file inside the pack's directory, sent the same way (never copied)
    script_file: str | None = None
    #: scripts must declare they only read; the guard refuses obvious writers anyway
    read_only: bool | None = None
    description: str | None = None
    #: seconds this item may take (else the SSH settings' command_timeout)
    timeout: float | None = Field(default=None, gt=0, le=MAX_ITEM_TIMEOUT)
    #: keep at most this many output lines (logs can be huge)
    max_lines: int | None = Field(default=None, gt=0)
    #: keep at most this many output bytes (scripts: default 1 MiB)
    max_bytes: int | None = Field(default=None, gt=0, le=MAX_ITEM_BYTES)
    #: exit codes that still mean "output is valid" (``pgrep`` exits 1 when nothing matches)
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    parser: Parser | None = None
    checks: list[PackCheck] = Field(default_factory=list)

    @field_validator("script_file")
    @classmethod
    def _inside(cls, value: str | None) -> str | None:
        return value if value is None else _relative_file(value)

    @model_validator(mode="after")
    def _one_source(self) -> PackItem:
        given = [k for k in ("command", "script", "script_file") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"item {self.id}: give exactly one of command, script, "
                             f"script_file; got {', '.join(given) or 'none'}")
        if self.is_script and self.read_only is not True:
            raise ValueError(f"item {self.id}: a script must declare `read_only: true` "
                             "(xunjian runs only scripts that change nothing)")
        if self.checks and self.parser is None:
            raise ValueError(f"item {self.id}: checks need a parser (what values to judge)")
        ids = [c.id for c in self.checks]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"item {self.id}: duplicate check ids: {', '.join(dupes)}")
        return self

    @property
    def is_script(self) -> bool:
        return self.script is not None or self.script_file is not None

    @property
    def output_cap(self) -> int | None:
        return self.max_bytes or (SCRIPT_MAX_BYTES if self.is_script else None)


class Pack(_Strict):
    name: PackName
    version: str = Field(min_length=1, max_length=64)
    platforms: list[str] = Field(min_length=1)
    description: str | None = None
    items: list[PackItem] = Field(min_length=1)
    #: new defaults for built-in checks (e.g. filesystem) on the devices running this pack,
    #: written like the config's ``checks:``; the config still wins
    thresholds: dict[str, CheckSettings] = Field(default_factory=dict)
    #: SHA-256 over the pack file and the files it references; set by the loader
    content_hash: str = Field(default="", json_schema_extra={"readOnly": True})
    #: the referenced files' text by relative path; set by the loader
    files: dict[str, str] = Field(default_factory=dict, exclude=True,
                                  json_schema_extra={"readOnly": True})
    #: where the pack came from ("built-in" or its path); set by the loader
    origin: str = Field(default="", exclude=True, json_schema_extra={"readOnly": True})
    #: the pack file's text as loaded (kept with an approval, to diff later edits against)
    raw: str = Field(default="", exclude=True, json_schema_extra={"readOnly": True})

    @model_validator(mode="after")
    def _unique_ids(self) -> Pack:
        ids = [i.id for i in self.items]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"duplicate item ids: {', '.join(dupes)}")
        checks = [c.id for i in self.items for c in i.checks]
        if dupes := sorted({c for c in checks if checks.count(c) > 1}):
            raise ValueError(f"duplicate check ids: {', '.join(dupes)} (a check is named "
                             "PACK.CHECK in results, so its id must be unique in the pack)")
        return self

    def item(self, item_id: str) -> PackItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def check_names(self) -> list[str]:
        """The names this pack's checks have in results, metrics and config: ``PACK.CHECK``."""
        return [f"{self.name}.{c.id}" for i in self.items for c in i.checks]

    @property
    def builtin(self) -> bool:
        return self.origin == "built-in"

    def script_text(self, item: PackItem) -> str | None:
        if item.script is not None:
            return item.script
        return self.files[item.script_file] if item.script_file else None

    def template_text(self, parser: TextFsmParser) -> str:
        return parser.inline if parser.inline is not None else self.files[parser.template or ""]

    def referenced_files(self) -> list[str]:
        names = {i.script_file for i in self.items if i.script_file}
        names |= {i.parser.template for i in self.items
                  if isinstance(i.parser, TextFsmParser) and i.parser.template}
        return sorted(n for n in names if n)


def item_key(pack: Pack, item: PackItem) -> str:
    """A custom pack item's id in a device's combined run: ``PACK.ITEM``."""
    return f"{pack.name}.{item.id}"


def combine(standard: Pack, extras: list[Pack]) -> Pack:
    """One pack for the collector: the standard items, then each extra pack's items as
    ``PACK.ITEM`` with script files inlined (the collector sends text, never files). It keeps
    the standard pack's name, version and hash; what each extra pack contributed is recorded
    separately with the result."""
    items = list(standard.items)
    for pack in extras:
        for item in pack.items:
            update: dict[str, Any] = {"id": item_key(pack, item)}
            if item.script_file:
                update |= {"script": pack.files[item.script_file], "script_file": None}
            items.append(item.model_copy(update=update))
    return standard.model_copy(update={"items": items})


def pack_schema() -> dict[str, Any]:
    """The JSON Schema of a pack file (for editors: ``# yaml-language-server: $schema=...``)."""
    schema = Pack.model_json_schema(mode="validation")
    for key in ("content_hash", "files", "origin", "raw"):
        schema["properties"].pop(key, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "xunjian inspection pack"
    return schema


def content_hash(text: bytes, files: Mapping[str, bytes]) -> str:
    """SHA-256 of the pack file alone, or — when it references files — of the pack file and
    each file, every one framed by its name and length (so no two packs hash alike)."""
    if not files:
        return hashlib.sha256(text).hexdigest()
    digest = hashlib.sha256()
    for name, data in [(PACK_FILE, text), *sorted(files.items())]:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


_PARSER_TYPES = frozenset({"textfsm", "regex", "jsonpath", "kv", "table", "plugin"})


def _validation_message(exc: ValidationError, node: yaml.Node | None) -> str:
    """One line per problem: where (dotted path and line), and what, in the config's words."""
    lines = []
    for error in exc.errors():
        raw = [p for p in error["loc"] if not str(p).startswith("function-")]
        # a tagged union adds the tag to the path (parser.regex.pattern): not in the file
        loc = [p for i, p in enumerate(raw)
               if not (i and raw[i - 1] == "parser" and p in _PARSER_TYPES)]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; unknown keys are not ignored)"
        elif error["type"] == "missing":
            message = "required key is missing"
        line = line_of(node, loc)
        where = format_loc(loc) or "(top)"
        lines.append(f"  {where}" + (f" (line {line})" if line else "") + f": {message}")
    return "\n".join(lines)


def _check_safety(pack: Pack) -> None:
    """Every command passes the read-only policy of every platform; scripts pass the guard."""
    for item in pack.items:
        script = pack.script_text(item)
        if script is not None:
            if shells := sorted(set(pack.platforms) - SHELL_PLATFORMS):
                raise PackError(f"pack {pack.name} item {item.id}: scripts run on Linux hosts "
                                f"only, not on {', '.join(shells)}")
            try:
                check_script(script)
            except PolicyError as exc:
                raise PackError(f"pack {pack.name} item {item.id}: {exc}") from exc
            continue
        for platform in pack.platforms:
            try:
                check_command("linux" if platform == "local" else platform, item.command or "")
            except PolicyError as exc:
                raise PackError(f"pack {pack.name} item {item.id}: {exc}") from exc


def parse_pack(text: bytes, origin: str, files: Mapping[str, bytes] | None = None) -> Pack:
    """Validate a pack — schema, referenced files, the read-only policy of every command and
    the script guard — and stamp its content hash. ``files``: the files it references."""
    files = dict(files or {})
    try:
        data, node = load_with_nodes(text)
    except yaml.YAMLError as exc:
        raise PackError(f"pack {origin}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PackError(f"pack {origin}: expected a mapping with name, version, platforms and "
                        "items")
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        raise PackError(f"pack {origin} is not valid:\n{_validation_message(exc, node)}") from exc
    texts: dict[str, str] = {}
    for name in pack.referenced_files():
        if name not in files:
            raise PackError(f"pack {pack.name}: file {name!r} is referenced but missing "
                            f"(looked beside {origin})")
        try:
            texts[name] = files[name].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PackError(f"pack {pack.name}: file {name!r} is not UTF-8 text") from exc
    if unknown := sorted(set(pack.thresholds) - set(CHECK_NAMES)):
        raise PackError(f"pack {pack.name}: thresholds: unknown built-in check "
                        f"{', '.join(map(repr, unknown))}; known: {', '.join(CHECK_NAMES)}")
    used = {n: files[n] for n in pack.referenced_files()}
    pack = pack.model_copy(update={"content_hash": content_hash(text, used), "files": texts,
                                   "origin": origin,
                                   "raw": text.decode("utf-8", errors="replace")})
    _check_safety(pack)
    return pack


def pack_file(path: Path) -> Path:
    """The YAML file of a pack given as a file or as a directory holding ``pack.yaml``."""
    return path / PACK_FILE if path.is_dir() else path


def load_pack(path: Path) -> Pack:
    """Load a pack from ``NAME.yaml`` or a directory with ``pack.yaml``; referenced files are
    read from the pack file's directory."""
    file = pack_file(path)
    try:
        text = file.read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise PackError(f"cannot read pack {file}: {why}") from exc
    files: dict[str, bytes] = {}
    try:
        data = load_with_nodes(text)[0]
    except yaml.YAMLError:
        data = None  # parse_pack reports it
    for name in _mentioned_files(data):
        target = file.parent / name
        try:
            files[name] = target.read_bytes()
        except (OSError, ValueError):
            continue  # parse_pack names the missing file
    return parse_pack(text, str(file), files)


def _mentioned_files(data: Any) -> list[str]:
    """Relative paths the raw YAML references (before validation, to read them)."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return []
    names = []
    for item in data["items"]:
        if not isinstance(item, dict):
            continue
        names.append(item.get("script_file"))
        parser = item.get("parser")
        if isinstance(parser, dict):
            names.append(parser.get("template"))
    return [n for n in names if isinstance(n, str) and n and not PurePosixPath(n).is_absolute()
            and ".." not in PurePosixPath(n).parts]


@cache  # shipped with the code: parsed (and policy-checked) once per process, not per run
def builtin_pack(name: str) -> Pack:
    """A pack shipped with xunjian (``collectors/packs/NAME.yaml``)."""
    ref = resources.files("collectors") / "packs" / f"{name}.yaml"
    if not ref.is_file():
        raise PackError(f"no built-in pack named {name!r}")
    return parse_pack(ref.read_bytes(), "built-in")


def builtin_pack_names() -> list[str]:
    folder = resources.files("collectors") / "packs"
    return sorted(e.name.removesuffix(".yaml") for e in folder.iterdir()
                  if e.name.endswith(".yaml"))
