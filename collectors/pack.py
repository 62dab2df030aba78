"""Inspection packs: versioned data naming exactly the commands an inspection may send."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import PackError, PolicyError
from collectors.policy import check_command


class PackItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    command: str
    description: str | None = None
    #: seconds this command may take (else the SSH settings' command_timeout)
    timeout: float | None = Field(default=None, gt=0)
    #: keep at most this many output lines (logs can be huge)
    max_lines: int | None = Field(default=None, gt=0)


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    platforms: list[str] = Field(min_length=1)
    description: str | None = None
    items: list[PackItem] = Field(min_length=1)
    #: SHA-256 of the pack file as approved; set by the loader
    content_hash: str = ""

    @model_validator(mode="after")
    def _unique_ids(self) -> Pack:
        ids = [i.id for i in self.items]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"duplicate item ids: {', '.join(dupes)}")
        return self

    def item(self, item_id: str) -> PackItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def parse_pack(text: bytes, origin: str) -> Pack:
    """Validate a pack and every command in it against the read-only policy."""
    try:
        data = yaml.safe_load(text)
        pack = Pack.model_validate(data)
    except yaml.YAMLError as exc:
        raise PackError(f"pack {origin}: invalid YAML: {exc}") from exc
    except ValidationError as exc:
        raise PackError(f"pack {origin}: {exc}") from exc
    for item in pack.items:
        for platform in pack.platforms:
            try:
                check_command(platform, item.command)
            except PolicyError as exc:
                raise PackError(f"pack {pack.name} item {item.id}: {exc}") from exc
    return pack.model_copy(update={"content_hash": hashlib.sha256(text).hexdigest()})


def load_pack(path: Path) -> Pack:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PackError(f"cannot read pack {path}: {exc.strerror or exc}") from exc
    return parse_pack(text, str(path))


def builtin_pack(name: str) -> Pack:
    """A pack shipped with xunjian (``collectors/packs/NAME.yaml``)."""
    ref = resources.files("collectors") / "packs" / f"{name}.yaml"
    if not ref.is_file():
        raise PackError(f"no built-in pack named {name!r}")
    return parse_pack(ref.read_bytes(), f"built-in {name}")
