"""Load a config file (and the inventory files it names) into validated models.

Every problem is collected — YAML syntax, schema, cross references — and raised together as one
:class:`ConfigError`, each naming the file, the line, the path inside it
(``devices[3].business_level``) and what was expected.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from agent.errors import ConfigError, ConfigProblem, CredentialError
from config.inventory import Device, resolve_device
from config.models import DeviceConfig, InventoryFile, XunjianConfig
from config.secrets import ResolvedCredential, resolve_credential

CONFIG_ENV = "XUNJIAN_CONFIG"
M = TypeVar("M", bound=BaseModel)


@dataclass
class LoadedConfig:
    config: XunjianConfig
    devices: list[Device]
    #: the file it came from; None for the built-in default (inspect the local host)
    source: Path | None
    #: problems that do not stop loading but will make a device UNKNOWN (e.g. a missing env var)
    warnings: list[ConfigProblem] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source else Path.cwd()

    def device(self, name: str) -> Device:
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(name)

    def credential(self, name: str, env: Mapping[str, str] | None = None) -> ResolvedCredential:
        return resolve_credential(name, self.config.credentials[name], env, self.base_dir)


def format_loc(loc: Iterable[int | str]) -> str:
    """('devices', 3, 'business_level') → 'devices[3].business_level'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: Iterable[int | str]) -> int | None:
    """Find the 1-based line of the node at ``loc`` (or its closest existing parent)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                child = node.value[part]
                line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            [ConfigProblem(str(path), "", f"invalid YAML: {exc.problem}", line)]
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"invalid YAML: {exc}")]) from exc
    return ({} if data is None else data), node


def _validate(
    model: type[M], data: Any, path: Path, node: yaml.Node | None
) -> tuple[M | None, list[ConfigProblem]]:
    if not isinstance(data, dict):
        return None, [ConfigProblem(str(path), "", "expected a mapping at the top of the file")]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (check the spelling; unknown keys are not ignored)"
            elif err["type"] == "missing":
                message = "required key is missing"
            problems.append(
                ConfigProblem(str(path), format_loc(loc), message, _line_of(node, loc))
            )
        return None, problems


def default_config() -> LoadedConfig:
    """No config at all: inspect the machine xunjian runs on, store in the embedded default."""
    config = XunjianConfig(
        devices=[DeviceConfig(name=socket.gethostname() or "localhost", address="localhost",
                              platform="local")]
    )
    return LoadedConfig(config, _resolve(config), None)


def _resolve(config: XunjianConfig) -> list[Device]:
    return [resolve_device(d, config.groups, config.defaults) for d in config.devices]


def _cross_check(
    config: XunjianConfig, origins: list[tuple[Path, int, yaml.Node | None]],
    group_origins: dict[str, tuple[Path, yaml.Node | None]],
) -> list[ConfigProblem]:
    """References between sections: names unique, groups/credentials/jump hosts exist."""
    problems: list[ConfigProblem] = []
    seen: dict[str, str] = {}
    names = {d.name for d in config.devices}
    for device, (file, index, node) in zip(config.devices, origins, strict=True):
        def problem(key: str, message: str, *, _f: Path = file, _i: int = index,
                    _n: yaml.Node | None = node) -> None:
            loc = ["devices", _i, key]
            problems.append(ConfigProblem(str(_f), format_loc(loc), message, _line_of(_n, loc)))

        where = f"{file}: devices[{index}]"
        if device.name in seen:
            problem("name", f"duplicate device name {device.name!r} (first defined at "
                            f"{seen[device.name]}); device names must be unique")
        else:
            seen[device.name] = where
        for group in device.groups:
            if group not in config.groups:
                problem("groups", f"unknown group {group!r}; defined groups: "
                                  f"{', '.join(sorted(config.groups)) or 'none'}")
    for index, device in enumerate(config.devices):
        file, pos, node = origins[index]
        if any(g not in config.groups for g in device.groups):
            continue
        resolved = resolve_device(device, config.groups, config.defaults)
        loc: list[int | str] = ["devices", pos]
        if resolved.credentials and resolved.credentials not in config.credentials:
            problems.append(ConfigProblem(
                str(file), format_loc([*loc, "credentials"]),
                f"unknown credential set {resolved.credentials!r}; defined: "
                f"{', '.join(sorted(config.credentials)) or 'none'}",
                _line_of(node, [*loc, "credentials"])))
        if resolved.platform == "linux" and not resolved.credentials:
            problems.append(ConfigProblem(
                str(file), format_loc([*loc, "credentials"]),
                "a linux device needs a credential set (here, in a group or in defaults)",
                _line_of(node, [*loc, "credentials"])))
        if resolved.jump_host and resolved.jump_host not in names:
            problems.append(ConfigProblem(
                str(file), format_loc([*loc, "jump_host"]),
                f"jump_host {resolved.jump_host!r} is not a device in the inventory",
                _line_of(node, [*loc, "jump_host"])))
        if resolved.jump_host == resolved.name:
            problems.append(ConfigProblem(
                str(file), format_loc([*loc, "jump_host"]), "a device cannot be its own jump host",
                _line_of(node, [*loc, "jump_host"])))
    for name, group in config.groups.items():
        if group.credentials and group.credentials not in config.credentials:
            loc = ["groups", name, "credentials"]
            group_file, group_node = group_origins[name]
            problems.append(ConfigProblem(str(group_file), format_loc(loc),
                                          f"unknown credential set {group.credentials!r}",
                                          _line_of(group_node, loc)))
    return problems


def load_config(
    path: Path, env: Mapping[str, str] | None = None,
    known_checks: Iterable[str] | None = None,
) -> LoadedConfig:
    """Load and validate ``path`` and the inventory files it names. Raises ConfigError."""
    path = path.expanduser()
    data, node = _read_yaml(path)
    config, problems = _validate(XunjianConfig, data, path, node)
    if config is None:
        raise ConfigError(problems)

    devices = list(config.devices)
    groups = dict(config.groups)
    origins: list[tuple[Path, int, yaml.Node | None]] = [
        (path, i, node) for i in range(len(devices))
    ]
    group_origins = {name: (path, node) for name in groups}
    for index, ref in enumerate(config.inventory):
        inv_path = ref.expanduser() if ref.expanduser().is_absolute() else path.parent / ref
        try:
            inv_data, inv_node = _read_yaml(inv_path)
        except ConfigError as exc:
            for p in exc.problems:
                problems.append(p if p.path else ConfigProblem(
                    p.file, format_loc(["inventory", index]) if p.message == "file not found"
                    else "", p.message, p.line))
            continue
        inventory, inv_problems = _validate(InventoryFile, inv_data, inv_path, inv_node)
        problems.extend(inv_problems)
        if inventory is None:
            continue
        for name, group in inventory.groups.items():
            if name in groups:
                problems.append(ConfigProblem(str(inv_path), f"groups.{name}",
                                              f"group {name!r} is defined twice"))
            groups[name] = group
            group_origins[name] = (inv_path, inv_node)
        origins.extend((inv_path, i, inv_node) for i in range(len(inventory.devices)))
        devices.extend(inventory.devices)

    merged = config.model_copy(update={"devices": devices, "groups": groups})
    problems.extend(_cross_check(merged, origins, group_origins))
    if known_checks is not None:
        known = set(known_checks)
        for index, waiver in enumerate(merged.waivers):
            if waiver.check not in known:
                loc = ["waivers", index, "check"]
                problems.append(ConfigProblem(
                    str(path), format_loc(loc),
                    f"unknown check {waiver.check!r}; known: {', '.join(sorted(known))}",
                    _line_of(node, loc)))
        for file, ref_node, ref, checks in _check_refs(merged, origins, group_origins, path,
                                                       node):
            for check in checks:
                if check not in known:
                    problems.append(ConfigProblem(
                        str(file), format_loc([*ref, check]),
                        f"unknown check {check!r}; known: {', '.join(sorted(known))}",
                        _line_of(ref_node, [*ref, check])))
    if problems:
        raise ConfigError(problems)

    loaded = LoadedConfig(merged, _resolve(merged), path)
    env = os.environ if env is None else env
    for name in merged.credentials:
        try:
            loaded.credential(name, env)
        except CredentialError as exc:
            loaded.warnings.append(ConfigProblem(str(path), f"credentials.{name}", str(exc)))
    return loaded


def _check_refs(
    config: XunjianConfig, origins: list[tuple[Path, int, yaml.Node | None]],
    group_origins: dict[str, tuple[Path, yaml.Node | None]], path: Path, node: yaml.Node | None,
) -> list[tuple[Path, yaml.Node | None, list[int | str], Iterable[str]]]:
    """Where check names are used: (file, its YAML node, path inside it, the names)."""
    refs: list[tuple[Path, yaml.Node | None, list[int | str], Iterable[str]]] = [
        (path, node, ["defaults", "checks"], config.defaults.checks)]
    refs += [(*group_origins[name], ["groups", name, "checks"], g.checks)
             for name, g in config.groups.items()]
    refs += [(file, dev_node, ["devices", pos, "checks"], d.checks)
             for d, (file, pos, dev_node) in zip(config.devices, origins, strict=True)]
    return refs


def config_path_from(option: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """``--config`` wins, then ``$XUNJIAN_CONFIG``; None means the built-in default."""
    env = os.environ if env is None else env
    chosen = option or env.get(CONFIG_ENV)
    return Path(chosen) if chosen else None
