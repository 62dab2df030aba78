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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ValidationError

from agent.errors import ConfigError, ConfigProblem, CredentialError
from collectors.pack_library import PackLibrary, runs_on
from config import CONFIG_ENV
from config.inventory import Device, resolve_device
from config.models import DeviceConfig, InventoryFile, XunjianConfig
from config.secrets import ResolvedCredential, resolve_credential
from config.service import PlanConfig
from config.yamlpos import format_loc, load_with_nodes
from config.yamlpos import line_of as _line_of

M = TypeVar("M", bound=BaseModel)


@dataclass
class LoadedConfig:
    config: XunjianConfig
    devices: list[Device]
    #: the file it came from; None for the built-in default (inspect the local host)
    source: Path | None
    #: problems that do not stop loading but will make a device UNKNOWN (e.g. a missing env var)
    warnings: list[ConfigProblem] = field(default_factory=list)
    #: the built-in packs and the custom ones in ``packs.paths``
    library: PackLibrary = field(default_factory=PackLibrary.load)

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


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(path), "", "file not found")]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read: {exc}")]) from exc
    try:
        data, node = load_with_nodes(text)
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


@dataclass(frozen=True)
class _Origin:
    """Where a piece of the merged config came from, to point problems at file and line."""

    file: Path
    node: yaml.Node | None
    #: index of the device inside its own file (None for groups and the main sections)
    index: int | None = None

    def problem(self, loc: list[int | str], message: str) -> ConfigProblem:
        return ConfigProblem(str(self.file), format_loc(loc), message, _line_of(self.node, loc))


@dataclass
class _Merged:
    config: XunjianConfig
    main: _Origin
    devices: list[_Origin]
    groups: dict[str, _Origin]


def _check_device_names(merged: _Merged) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: dict[str, str] = {}
    groups = merged.config.groups
    for device, origin in zip(merged.config.devices, merged.devices, strict=True):
        loc: list[int | str] = ["devices", origin.index or 0]
        if device.name in seen:
            problems.append(origin.problem(
                [*loc, "name"], f"duplicate device name {device.name!r} (first defined at "
                                f"{seen[device.name]}); device names must be unique"))
        else:
            seen[device.name] = f"{origin.file}: devices[{origin.index}]"
        problems.extend(
            origin.problem([*loc, "groups"], f"unknown group {group!r}; defined groups: "
                                             f"{', '.join(sorted(groups)) or 'none'}")
            for group in device.groups if group not in groups)
    return problems


def _check_device_references(merged: _Merged) -> list[ConfigProblem]:
    config = merged.config
    names = {d.name for d in config.devices}
    problems: list[ConfigProblem] = []
    for device, origin in zip(config.devices, merged.devices, strict=True):
        if any(g not in config.groups for g in device.groups):
            continue  # already reported; inheritance cannot be resolved
        resolved = resolve_device(device, config.groups, config.defaults)
        loc: list[int | str] = ["devices", origin.index or 0]
        if resolved.credentials and resolved.credentials not in config.credentials:
            problems.append(origin.problem(
                [*loc, "credentials"], f"unknown credential set {resolved.credentials!r}; "
                f"defined: {', '.join(sorted(config.credentials)) or 'none'}"))
        if resolved.platform == "linux" and not resolved.credentials:
            problems.append(origin.problem(
                [*loc, "credentials"],
                "a linux device needs a credential set (here, in a group or in defaults)"))
        if resolved.jump_host and resolved.jump_host not in names:
            problems.append(origin.problem(
                [*loc, "jump_host"],
                f"jump_host {resolved.jump_host!r} is not a device in the inventory"))
        if resolved.jump_host == resolved.name:
            problems.append(origin.problem([*loc, "jump_host"],
                                           "a device cannot be its own jump host"))
    for name, group in config.groups.items():
        if group.credentials and group.credentials not in config.credentials:
            problems.append(merged.groups[name].problem(
                ["groups", name, "credentials"],
                f"unknown credential set {group.credentials!r}"))
    return problems


def _check_check_names(merged: _Merged, known: set[str]) -> list[ConfigProblem]:
    """Check names used in waivers and threshold settings must exist."""
    config = merged.config
    hint = ", ".join(sorted(known))
    problems = [merged.main.problem(["waivers", i, "check"],
                                    f"unknown check {w.check!r}; known: {hint}")
                for i, w in enumerate(config.waivers) if w.check not in known]
    uses: list[tuple[_Origin, list[int | str], Iterable[str]]] = [
        (merged.main, ["defaults", "checks"], config.defaults.checks)]
    uses += [(merged.groups[name], ["groups", name, "checks"], g.checks)
             for name, g in config.groups.items()]
    uses += [(origin, ["devices", origin.index or 0, "checks"], d.checks)
             for d, origin in zip(config.devices, merged.devices, strict=True)]
    for origin, loc, checks in uses:
        problems.extend(origin.problem([*loc, check], f"unknown check {check!r}; known: {hint}")
                        for check in checks if check not in known)
    return problems


def _pack_paths(config: XunjianConfig, base: Path) -> list[Path]:
    return [p.expanduser() if p.expanduser().is_absolute() else base / p.expanduser()
            for p in config.packs.paths]


def _check_pack_selection(merged: _Merged, library: PackLibrary) -> list[ConfigProblem]:
    """Every pack a device, group or the defaults select exists and runs on the platform of
    each device that selects it."""
    config = merged.config
    problems: list[ConfigProblem] = []
    layers: list[tuple[_Origin, list[int | str], list[str]]] = [
        (merged.main, ["defaults", "packs"], config.defaults.packs)]
    layers += [(merged.groups[name], ["groups", name, "packs"], g.packs)
               for name, g in config.groups.items()]
    layers += [(origin, ["devices", origin.index or 0, "packs"], d.packs)
               for d, origin in zip(config.devices, merged.devices, strict=True)]
    searched = ", ".join(str(p) for p in library.paths) or "none: set packs.paths"
    for origin, loc, names in layers:
        problems.extend(origin.problem(
            [*loc, i], f"no pack named {name!r} (built-in packs and packs.paths: {searched}); "
                       "`xunjian packs list` shows them")
            for i, name in enumerate(names) if not library.known(name))
    for device_config in config.devices:
        if any(g not in config.groups for g in device_config.groups):
            continue  # reported as an unknown group
        device = resolve_device(device_config, config.groups, config.defaults)
        for name in device.packs:
            pack = library.packs.get(name)
            if pack is not None and not runs_on(pack, device.platform):
                origin = next(o for d, o in zip(config.devices, merged.devices, strict=True)
                              if d.name == device.name)
                problems.append(origin.problem(
                    ["devices", origin.index or 0, "packs"],
                    f"device {device.name} ({device.platform}) selects pack {name!r}, which "
                    f"runs on {', '.join(pack.platforms)} only"))
    problems.extend(_check_plan_packs(merged, library))
    return problems


def _check_plan_packs(merged: _Merged, library: PackLibrary) -> list[ConfigProblem]:
    """A plan's ``packs:`` name packs that exist and run on the platform they replace
    (found here, not when ``xunjian serve`` starts or the plan fires)."""
    problems: list[ConfigProblem] = []
    for i, plan in enumerate(merged.config.plans):
        for platform, name in plan.packs.items():
            loc: list[int | str] = ["plans", i, "packs", platform]
            pack = library.packs.get(name)
            if not library.known(name):
                problems.append(merged.main.problem(
                    loc, f"no pack named {name!r}; `xunjian packs list` shows them"))
            elif pack is not None and not runs_on(pack, platform):
                problems.append(merged.main.problem(
                    loc, f"pack {name!r} runs on {', '.join(pack.platforms)}, not on "
                         f"{platform}"))
    return problems


def _check_selection(merged: _Merged, loc: list[int | str], groups: Iterable[str],
                     devices: Iterable[str]) -> list[ConfigProblem]:
    """Every group and device a plan or customer names must exist."""
    config = merged.config
    names = {d.name for d in config.devices}
    problems = [merged.main.problem(
        [*loc, "groups"], f"unknown group {g!r}; defined groups: "
                          f"{', '.join(sorted(config.groups)) or 'none'}")
        for g in groups if g not in config.groups]
    problems.extend(merged.main.problem([*loc, "devices"],
                                        f"no device named {d!r} in the inventory")
                    for d in devices if d not in names)
    return problems


def _check_plans(merged: _Merged) -> list[ConfigProblem]:
    """Plan names are unique and every group/device/customer a plan names exists."""
    config = merged.config
    problems: list[ConfigProblem] = []
    seen: set[str] = set()
    for i, plan in enumerate(config.plans):
        if plan.name in seen:
            problems.append(merged.main.problem(["plans", i, "name"],
                                                f"duplicate plan name {plan.name!r}"))
        seen.add(plan.name)
        problems.extend(_check_selection(merged, ["plans", i], plan.groups, plan.devices))
        if plan.kind == "report":
            problems.extend(_check_report_plan(merged, i, plan))
    return problems


def _other_day_in(plan: PlanConfig, zone: str, count: int = 60) -> datetime | None:
    """One of the plan's next ``count`` fire times that is another calendar day in ``zone``
    than in the plan's own time zone, or None."""
    if plan.timezone == zone:
        return None
    trigger, other = plan.trigger(), ZoneInfo(zone)
    when: datetime | None = trigger.get_next_fire_time(None, datetime.now(UTC))
    for _ in range(count):
        if when is None:
            return None
        if when.date() != when.astimezone(other).date():
            return when
        when = trigger.get_next_fire_time(when, when + timedelta(microseconds=1))
    return None


def _check_report_plan(merged: _Merged, index: int, plan: PlanConfig) -> list[ConfigProblem]:
    """A report plan's customer exists, its fire times are the same day in report.timezone,
    and e-mail has a server and someone to send to."""
    config = merged.config
    loc: list[int | str] = ["plans", index]
    problems: list[ConfigProblem] = []
    customer = config.customers.get(plan.customer) if plan.customer else None
    when = _other_day_in(plan, config.report.timezone)
    if when is not None:
        there = when.astimezone(ZoneInfo(config.report.timezone))
        problems.append(merged.main.problem(
            [*loc, "timezone"],
            f"this plan fires at {when:%Y-%m-%d %H:%M} {plan.timezone}, which is "
            f"{there:%Y-%m-%d %H:%M} in report.timezone ({config.report.timezone}); the "
            "report period is worked out from the day in report.timezone, which may not be "
            "the period you meant: use the same time zone for both, or a time that falls on "
            "the same day in both"))
    if plan.customer and customer is None:
        known = ", ".join(sorted(config.customers)) or "none (add a customers: section)"
        problems.append(merged.main.problem(
            [*loc, "customer"], f"unknown customer {plan.customer!r}; defined customers: "
                                f"{known}"))
    if not plan.email:
        return problems
    if config.mail is None:
        problems.append(merged.main.problem(
            [*loc, "email"], "email: true needs a mail: section (the SMTP server the report "
                             "is sent through); add one or set email: false"))
    if plan.customer is None:
        problems.append(merged.main.problem(
            [*loc, "email"], "email: true needs a customer: the report goes to the "
                             "customer's contacts"))
    elif customer is not None and not customer.contacts:
        problems.append(merged.main.problem(
            [*loc, "email"], f"customer {plan.customer!r} has no contacts to mail the report "
                             f"to; add customers.{plan.customer}.contacts or set email: false"))
    return problems


def _check_customers(merged: _Merged) -> list[ConfigProblem]:
    """Every group/device a customer names exists; logos are readable files."""
    problems: list[ConfigProblem] = []
    base = merged.main.file.parent
    logos: list[tuple[list[int | str], Path | None]] = [
        (["report", "provider", "logo"], merged.config.report.provider.logo)]
    for cid, customer in merged.config.customers.items():
        problems.extend(_check_selection(merged, ["customers", cid], customer.groups,
                                         customer.devices))
        logos.append((["customers", cid, "logo"], customer.logo))
    for loc, logo in logos:
        if logo is not None and not (base / logo.expanduser()).is_file():
            problems.append(merged.main.problem(
                loc, f"logo file {logo} not found (relative paths start at {base})"))
    return problems


def _check_celery(merged: _Merged) -> list[ConfigProblem]:
    """Workers at other sites write results where the scheduler reads them: a shared
    PostgreSQL store, not the embedded SQLite file."""
    config = merged.config
    if config.celery is None:
        return []
    url = config.store.url or ""
    if not url.startswith("postgresql"):
        return [merged.main.problem(
            ["store", "url"], "celery: needs a shared PostgreSQL store that the scheduler and "
                              "every worker reach; set store.url to postgresql+psycopg://…")]
    return []


def _merge_inventory_files(
    config: XunjianConfig, main: _Origin, problems: list[ConfigProblem]
) -> _Merged:
    """Add the devices and groups of every ``inventory:`` file, remembering their origins."""
    devices = list(config.devices)
    groups = dict(config.groups)
    device_origins = [_Origin(main.file, main.node, i) for i in range(len(devices))]
    group_origins = {name: main for name in groups}
    for index, ref in enumerate(config.inventory):
        named = ref.expanduser()
        inv_path = named if named.is_absolute() else main.file.parent / named
        try:
            inv_data, inv_node = _read_yaml(inv_path)
        except ConfigError as exc:
            problems.extend(
                ConfigProblem(str(main.file), format_loc(["inventory", index]),
                              f"{p.file}: {p.message}", _line_of(main.node, ["inventory", index]))
                for p in exc.problems)
            continue
        inventory, inv_problems = _validate(InventoryFile, inv_data, inv_path, inv_node)
        problems.extend(inv_problems)
        if inventory is None:
            continue
        origin = _Origin(inv_path, inv_node)
        for name, group in inventory.groups.items():
            if name in groups:
                problems.append(origin.problem(["groups", name],
                                               f"group {name!r} is defined twice"))
            groups[name] = group
            group_origins[name] = origin
        device_origins.extend(_Origin(inv_path, inv_node, i)
                              for i in range(len(inventory.devices)))
        devices.extend(inventory.devices)
    merged = config.model_copy(update={"devices": devices, "groups": groups})
    return _Merged(merged, main, device_origins, group_origins)


def load_config(
    path: Path, env: Mapping[str, str] | None = None,
    known_checks: Iterable[str] | None = None,
) -> LoadedConfig:
    """Load and validate ``path`` and the inventory files it names. Raises ConfigError
    listing every problem; a credential that cannot be read yet is only a warning."""
    path = path.expanduser()
    data, node = _read_yaml(path)
    config, problems = _validate(XunjianConfig, data, path, node)
    if config is None:
        raise ConfigError(problems)
    merged = _merge_inventory_files(config, _Origin(path, node), problems)
    problems.extend(_check_device_names(merged))
    problems.extend(_check_device_references(merged))
    problems.extend(_check_plans(merged))
    problems.extend(_check_customers(merged))
    problems.extend(_check_celery(merged))
    library = PackLibrary.load(_pack_paths(merged.config, path.parent))
    problems.extend(_check_pack_selection(merged, library))
    if known_checks is not None:
        pack_checks = {name for pack in library.packs.values() for name in pack.check_names()}
        problems.extend(_check_check_names(merged, {*known_checks, *pack_checks}))
    if problems:
        raise ConfigError(problems)

    loaded = LoadedConfig(merged.config, _resolve(merged.config), path, library=library)
    used = {name for device in loaded.devices for name in device.packs}
    for name, error in sorted(library.broken.items()):
        loaded.warnings.append(ConfigProblem(
            str(path), "packs.paths",
            f"pack {name} cannot be used: {error}"
            + ("" if name in used else " (no device selects it)")))
    env = os.environ if env is None else env
    for name in merged.config.credentials:
        try:
            loaded.credential(name, env)
        except CredentialError as exc:
            loaded.warnings.append(ConfigProblem(str(path), f"credentials.{name}", str(exc)))
    return loaded


def config_path_from(option: str | None, env: Mapping[str, str] | None = None) -> Path | None:
    """``--config`` wins, then ``$XUNJIAN_CONFIG``; None means the built-in default."""
    env = os.environ if env is None else env
    chosen = option or env.get(CONFIG_ENV)
    return Path(chosen) if chosen else None
