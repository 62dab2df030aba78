"""The pack library: the built-in packs plus the custom packs in the directories config names.

A custom pack is ``DIR/NAME.yaml`` or ``DIR/NAME/pack.yaml``; the file or directory name must be
the pack's name, so a pack is found where its name says. A pack that does not load is kept as
*broken* with its error, rather than failing the whole config: the devices that select it are
UNKNOWN with that error, every other device is inspected as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import PackError
from collectors.pack import PACK_FILE, Pack, builtin_pack, builtin_pack_names, load_pack

#: the standard pack of each platform (the local host runs the Linux one)
STANDARD_PACKS = {"linux": "linux-standard", "local": "linux-standard"}


def standard_pack_name(platform: str) -> str:
    return STANDARD_PACKS.get(platform, f"{platform}-standard")


def runs_on(pack: Pack, platform: str) -> bool:
    """Whether a pack applies to a platform (Linux packs also run on the agent's own host)."""
    return platform in pack.platforms or (platform == "local" and "linux" in pack.platforms)


def _candidates(folder: Path) -> Iterable[tuple[str, Path]]:
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and (entry / PACK_FILE).is_file():
            yield entry.name, entry
        elif entry.is_file() and entry.suffix in {".yaml", ".yml"}:
            yield entry.stem, entry


@dataclass
class PackLibrary:
    packs: dict[str, Pack] = field(default_factory=dict)
    #: packs that did not load: name (from the file name) → the error
    broken: dict[str, str] = field(default_factory=dict)
    #: the directories searched, for messages
    paths: tuple[Path, ...] = ()

    @classmethod
    def load(cls, paths: Iterable[Path] = ()) -> PackLibrary:
        library = cls(paths=tuple(paths))
        for name in builtin_pack_names():
            library.packs[name] = builtin_pack(name)
        where: dict[str, Path] = {}
        for folder in library.paths:
            if not folder.is_dir():
                library.broken[f"<{folder}>"] = (f"pack directory {folder} does not exist or "
                                                 "is not a directory (packs.paths)")
                continue
            try:
                candidates = list(_candidates(folder))
            except OSError as exc:
                library.broken[f"<{folder}>"] = (f"cannot read pack directory {folder}: "
                                                 f"{exc.strerror or exc}")
                continue
            for name, path in candidates:
                library._add(name, path, where)
        return library

    def _add(self, name: str, path: Path, where: dict[str, Path]) -> None:
        if name in self.packs and self.packs[name].builtin:
            self.broken[name] = (f"{path}: a custom pack cannot take the built-in pack's name "
                                 f"{name!r}; rename it")
            return
        if name in where:
            self.packs.pop(name, None)
            self.broken[name] = f"two packs named {name!r}: {where[name]} and {path}"
            return
        where[name] = path
        try:
            pack = load_pack(path)
        except PackError as exc:
            self.broken[name] = str(exc)
            return
        if pack.name != name:
            self.broken[name] = (f"{path}: the pack is named {pack.name!r} inside; name the "
                                 f"file or directory after it ({pack.name}.yaml or "
                                 f"{pack.name}/{PACK_FILE})")
            return
        self.packs[name] = pack

    def get(self, name: str) -> Pack:
        if name in self.packs:
            return self.packs[name]
        if name in self.broken:
            raise PackError(f"pack {name!r} is not valid: {self.broken[name]}")
        searched = ", ".join(str(p) for p in self.paths) or "none (set packs.paths)"
        raise PackError(f"no pack named {name!r} (built-in packs and packs.paths: {searched})")

    def known(self, name: str) -> bool:
        return name in self.packs or name in self.broken

    def standard(self, platform: str) -> Pack:
        return self.get(standard_pack_name(platform))

    def custom(self) -> list[Pack]:
        return [p for p in self.packs.values() if not p.builtin]
