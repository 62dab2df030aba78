"""Run an inspection: collect devices in parallel, evaluate checks, store each result as it
arrives. A device that cannot be inspected is UNKNOWN with the reason; the others carry on."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from agent.errors import (
    CollectionError,
    CredentialError,
    PackError,
    PackRefusedError,
    ParseError,
    StoreError,
    XunjianError,
)
from agent.packs.approval import PACK_CHECK, ApprovalBook, scopes_of
from agent.results import DeviceResult, RunResult
from agent.store import Store
from checks.builtin import BUILTIN_CHECKS, CheckSpec
from checks.engine import apply_waivers, device_state, evaluate, unreachable
from checks.model import CheckResult, State
from checks.pack_checks import pack_check_specs
from collectors.base import Collector, CollectResult, PackRef
from collectors.hostkeys import KnownHosts
from collectors.linux import LinuxCollector
from collectors.pack import Pack, PackItem, combine, item_key
from collectors.pack_library import PackLibrary, runs_on, standard_pack_name
from collectors.pack_parsers import parse_output
from collectors.ssh import AuthMaterial, Endpoint
from config.inventory import Device, merge_checks
from config.loader import LoadedConfig
from config.models import SshSettings
from config.platforms import NETWORK_PLATFORMS
from config.secrets import Redactor

log = logging.getLogger(__name__)

DEFAULT_PACKS = {p: standard_pack_name(p) for p in ("linux", "local", *NETWORK_PLATFORMS)}


def select_devices(
    devices: list[Device], names: Iterable[str] = (), groups: Iterable[str] = (),
    tags: Iterable[str] = (),
) -> list[Device]:
    """All devices when nothing is asked; else the union of the named devices, groups, tags."""
    names, groups, tags = set(names), set(groups), set(tags)
    if unknown := names - {d.name for d in devices}:
        raise XunjianError(f"no device named {', '.join(sorted(unknown))} in the inventory")
    if not (names or groups or tags):
        return list(devices)
    chosen = [d for d in devices
              if d.name in names or groups & set(d.groups) or tags & set(d.tags)]
    if not chosen:
        raise XunjianError("no device matches the selection "
                           f"(groups: {sorted(groups) or '-'}, tags: {sorted(tags) or '-'})")
    return chosen


def known_hosts_for(settings: SshSettings, data_dir: Path) -> KnownHosts:
    """The user's known_hosts, the configured one, and the agent's own trust-on-first-use
    file in the data directory."""
    files = [Path("~/.ssh/known_hosts").expanduser()]
    if settings.known_hosts:
        files.append(settings.known_hosts.expanduser())
    return KnownHosts(files, data_dir / "known_hosts", settings.host_key_policy)


class ResultObserver(Protocol):
    """Told about every stored result (the incident engine is one). An observer that fails is
    logged and skipped: it never blocks an inspection or loses a stored result."""

    def observe(self, device: Device, result: DeviceResult, result_id: int) -> None: ...

    def run_finished(self, run_id: int) -> None: ...


@dataclass(frozen=True)
class PackPlan:
    """What one device runs: the combined pack for its collector, each pack that contributes
    (standard first) with its approval, and the packs refused (UNKNOWN ``pack`` results)."""

    pack: Pack
    runs: list[tuple[Pack, PackRef]]
    refused: list[CheckResult]

    def keyed_items(self) -> list[tuple[Pack, PackItem, str]]:
        """Every item with a parser, with its id in the combined run: plain for the standard
        pack (a plan may swap in a custom one), ``PACK.ITEM`` for the others."""
        return [(pack, item, item.id if n == 0 else item_key(pack, item))
                for n, (pack, _) in enumerate(self.runs) for item in pack.items
                if item.parser is not None]


def refused_pack(name: str, reason: str) -> CheckResult:
    return CheckResult(check=PACK_CHECK, item=name, state=State.UNKNOWN, value="refused",
                       message=reason, evidence=[])


@dataclass
class _Failure:
    """A collection that failed: the device is UNKNOWN with this reason."""

    reason: str
    transcript: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: the standard pack that was refused (nothing was sent), if that is why
    refused: str | None = None


class Inspector:
    def __init__(
        self, loaded: LoadedConfig, store: Store, *, data_dir: Path,
        env: Mapping[str, str] | None = None, packs: Mapping[str, Pack] | None = None,
        trigger: str = "cli", on_result: Callable[[DeviceResult], None] | None = None,
        redactor: Redactor | None = None, observers: Sequence[ResultObserver] = (),
        stop: threading.Event | None = None, allow_unapproved: bool = False,
        library: PackLibrary | None = None, known_hosts: KnownHosts | None = None,
    ) -> None:
        self.loaded = loaded
        self.settings = loaded.config.ssh
        self.store = store
        self.data_dir = data_dir
        self.env = os.environ if env is None else env
        self.trigger = trigger
        self.on_result = on_result
        self.observers = list(observers)
        #: set (e.g. on SIGTERM): devices not yet started are skipped, running ones finish
        self.stop = stop or threading.Event()
        self._packs = dict(packs or {})
        #: on-demand runs may send packs not (or no longer) approved; results say so
        self.allow_unapproved = allow_unapproved
        #: the packs as they are now (a long-running agent reads them again for each run)
        self.library = library or loaded.library
        self._book: ApprovalBook | None = None
        self._plans: dict[str, PackPlan] = {}
        #: shared with the CLI's log filter, so secrets read during the run are scrubbed
        self.redactor = redactor or Redactor()
        self._auth: dict[str, AuthMaterial | CredentialError] = {}
        #: shared by a worker's concurrent tasks, so trust-on-first-use writes don't race
        self._known_hosts: KnownHosts | None = known_hosts
        self._hosts_lock = threading.Lock()

    # -- preparation (once per run, not per device) ---------------------------------------

    def _pack(self, platform: str) -> Pack:
        if platform not in self._packs:
            self._packs[platform] = self.library.standard(platform)
        return self._packs[platform]

    def _approvals(self) -> ApprovalBook:
        if self._book is None:
            self._book = ApprovalBook(self.store.pack_approvals(),
                                      self.loaded.config.packs.approval)
        return self._book

    def pack_plan(self, device: Device) -> PackPlan:
        """The packs ``device`` runs. Raises PackError when its standard pack may not run."""
        if device.name in self._plans:
            return self._plans[device.name]
        book, scopes = self._approvals(), scopes_of(device, self.loaded.config)
        standard = book.verdict(self._pack(device.platform), scopes)
        name = standard.pack.name
        if not runs_on(standard.pack, device.platform):
            raise PackRefusedError(name, f"nothing was sent: pack {name} runs on "
                                   f"{', '.join(standard.pack.platforms)}, not on "
                                   f"{device.platform}")
        if standard.status == "unapproved" and not self.allow_unapproved:
            raise PackRefusedError(name, f"nothing was sent: {standard.reason}")
        runs = [(standard.pack, standard.ref())]
        refused: list[CheckResult] = []
        for name in device.packs:
            try:
                pack = self.library.get(name)
            except PackError as exc:
                refused.append(refused_pack(name, self.redactor(str(exc))))
                continue
            verdict = book.verdict(pack, scopes)
            if not runs_on(pack, device.platform):
                # the pack's platforms changed since the config was checked
                refused.append(refused_pack(name, f"not run: pack {name} runs on "
                                            f"{', '.join(pack.platforms)}, not on "
                                            f"{device.platform}"))
            elif verdict.status == "unapproved" and not self.allow_unapproved:
                refused.append(refused_pack(name, f"not run: {verdict.reason}"))
            else:
                runs.append((pack, verdict.ref()))
        plan = PackPlan(combine(standard.pack, [p for p, _ in runs[1:]]), runs, refused)
        self._plans[device.name] = plan
        return plan

    def _credential(self, name: str) -> AuthMaterial:
        if name not in self._auth:
            try:
                resolved = self.loaded.credential(name, self.env)
                self.redactor.add(resolved.secret_values())
                self._auth[name] = AuthMaterial(resolved)
            except CredentialError as exc:
                self._auth[name] = exc
        material = self._auth[name]
        if isinstance(material, CredentialError):
            raise material
        return material

    def _hosts(self) -> KnownHosts:
        # Once per run: without the lock, every worker that started before the first load
        # finished read the files again (50 loads per run at 50 workers).
        with self._hosts_lock:
            if self._known_hosts is None:
                self._known_hosts = known_hosts_for(self.settings, self.data_dir)
            return self._known_hosts

    def _endpoint(self, device: Device) -> Endpoint:
        return Endpoint(device.name, device.address, device.port)

    def collector_for(self, device: Device) -> Collector:
        pack = self.pack_plan(device).pack
        if device.platform == "local":
            # psutil, subprocess plumbing: 30 ms of CPU to import, for the agent's own host only
            from collectors.local import LocalCollector  # noqa: PLC0415

            return LocalCollector(pack=pack, settings=self.settings, redactor=self.redactor)
        if device.credentials is None:
            raise CredentialError(f"{device.name}: no credential set configured")
        jump = None
        if device.jump_host:
            hop = self.loaded.device(device.jump_host)
            if hop.credentials is None:
                raise CredentialError(f"jump host {hop.name}: no credential set configured")
            jump = (self._endpoint(hop), self._credential(hop.credentials))
        if device.platform in NETWORK_PLATFORMS:
            # netmiko (and its 150 drivers) is imported only when a network device is
            # inspected: 0.07 s of CPU at every start of a Linux-only run
            from collectors.network.collector import NetmikoCollector  # noqa: PLC0415

            return NetmikoCollector(
                self._endpoint(device), device.platform, self._credential(device.credentials),
                self._hosts(), self.settings, pack, self.redactor, jump=jump,
                mask_config_secrets=self.loaded.config.config_history.mask_secrets,
            )
        return LinuxCollector(
            self._endpoint(device), self._credential(device.credentials), self._hosts(),
            self.settings, pack, self.redactor, jump=jump,
        )

    # -- the run ----------------------------------------------------------------------------

    def _collect(self, device: Device) -> CollectResult | _Failure:
        started = datetime.now(UTC)
        try:
            return self.collector_for(device).collect()
        except PackRefusedError as exc:
            return _Failure(self.redactor(str(exc)), None, started, refused=exc.pack)
        except CollectionError as exc:
            return _Failure(self.redactor(str(exc)), exc.transcript, started)
        except XunjianError as exc:
            return _Failure(self.redactor(str(exc)), None, started)
        except Exception as exc:
            # A bug must not take the other devices down; it is logged with its traceback.
            log.exception("%s: unexpected error during collection", device.name)
            return _Failure(self.redactor(f"internal error: {type(exc).__name__}: {exc}"),
                            None, started)

    def _pack_checks(self, plan: PackPlan, outcome: CollectResult
                     ) -> tuple[list[CheckSpec], dict[str, str]]:
        """Parse each custom item's output and turn its pack's checks into specs; a parse
        failure becomes the item's error (its checks are then UNKNOWN with it)."""
        errors = dict(outcome.item_errors)
        outputs = {r.item: r.output for r in outcome.raw}
        specs: list[CheckSpec] = []
        for pack, item, key in plan.keyed_items():
            rows = None
            if key not in errors:
                if key not in outputs:
                    errors[key] = "no output was collected for this item"
                else:
                    try:
                        rows = parse_output(pack, item, outputs[key])
                    except ParseError as exc:
                        errors[key] = self.redactor(str(exc))
            specs.extend(pack_check_specs(pack, item, key, rows))
        return specs, errors

    @staticmethod
    def _with_pack_thresholds(device: Device, plan: PackPlan) -> Device:
        """Packs may set new defaults for built-in checks; the config still wins."""
        layers = [pack.thresholds for pack, _ in plan.runs]
        if not any(layers):
            return device
        return device.model_copy(update={"checks": merge_checks([*layers, device.checks])})

    def _judge(self, device: Device, run_id: int | None, outcome: CollectResult | _Failure
               ) -> DeviceResult:
        now = datetime.now(UTC)
        plan = self._plans.get(device.name)
        refused = plan.refused if plan else []
        packs = [ref for _, ref in plan.runs] if plan else []
        if isinstance(outcome, _Failure):
            first = (refused_pack(outcome.refused, outcome.reason) if outcome.refused
                     else unreachable(outcome.reason))
            checks = apply_waivers(device.name, [first, *refused],
                                   self.loaded.config.waivers, now.date())
            packs = []  # nothing ran
            return DeviceResult(
                device=device.name, address=device.address, platform=device.platform,
                state=State.UNKNOWN, reachable=False, error=outcome.reason,
                started_at=outcome.started_at, finished_at=now, checks=checks,
                transcript=outcome.transcript, packs=packs,
            )
        previous = self.store.previous(device.name, before_run=run_id)
        specs: list[CheckSpec] = []
        if plan is not None:
            specs, errors = self._pack_checks(plan, outcome)
            if errors != outcome.item_errors:
                outcome = outcome.model_copy(update={"item_errors": errors})
            device = self._with_pack_thresholds(device, plan)
        titles = {spec.name: spec.title for spec in specs}
        evaluated = [r.model_copy(update={"title": titles[r.check]}) if r.check in titles else r
                     for r in evaluate(device, outcome, previous, now,
                                       [*BUILTIN_CHECKS.values(), *specs])]
        checks = apply_waivers(device.name, [*evaluated, *refused], self.loaded.config.waivers,
                               now.date())
        return DeviceResult(
            device=device.name, address=device.address, platform=device.platform,
            state=device_state(checks), reachable=True, started_at=outcome.started_at,
            finished_at=outcome.finished_at, pack=outcome.pack, packs=packs,
            facts=outcome.facts, checks=checks, item_errors=outcome.item_errors, raw=outcome.raw,
            transcript=outcome.transcript, config=outcome.config,
        )

    def _learn_secrets(self) -> None:
        """Every configured secret is redacted from all output, whichever device printed it."""
        for name in self.loaded.config.credentials:
            try:
                self.redactor.add(self.loaded.credential(name, self.env).secret_values())
            except CredentialError:
                continue  # reported on the devices that use it

    def probe(self, device: Device) -> DeviceResult:
        """Inspect one device now and judge it against its history, without storing anything
        (the blackbox-style ``/probe`` endpoint: Prometheus keeps what it scrapes)."""
        self._learn_secrets()
        return self._judge(device, None, self._collect(device))

    def _notify(self, device: Device, result: DeviceResult, result_id: int) -> None:
        for observer in self.observers:
            try:
                observer.observe(device, result, result_id)
            except Exception:
                log.exception("%s: result observer %s failed; the result is stored",
                              device.name, type(observer).__name__)

    def _record(self, device: Device, run_id: int, outcome: CollectResult | _Failure
                ) -> DeviceResult:
        """Judge, store (raises DuplicateResultError if the run has this device already) and
        tell the observers."""
        result = self._judge(device, run_id, outcome)
        result_id = self.store.save_result(run_id, device, result)
        self._notify(device, result, result_id)
        if self.on_result:
            self.on_result(result)
        return result

    def inspect_one(self, device: Device, run_id: int) -> DeviceResult:
        """Inspect one device of a run that someone else opened and will close (a Celery
        task). Raises DuplicateResultError when the run already holds its result."""
        self._learn_secrets()
        return self._record(device, run_id, self._collect(device))

    def record_refused(self, device: Device, run_id: int, pack: str, reason: str
                       ) -> DeviceResult:
        """Store ``device`` as UNKNOWN ``pack``: its pack may not run, nothing was sent."""
        return self._record(device, run_id, _Failure(self.redactor(reason), refused=pack))

    def _collect_unless_stopped(self, device: Device) -> CollectResult | _Failure | None:
        return None if self.stop.is_set() else self._collect(device)

    def start(self, device_count: int, plan: str | None = None) -> int:
        """Record a new run (status ``running``) and return its id; :meth:`run` fills it."""
        for run_id in self.store.mark_abandoned_runs():
            log.warning("run %d was interrupted (the agent stopped mid-run); marked aborted",
                        run_id)
        source = str(self.loaded.source) if self.loaded.source else None
        return self.store.start_run(self.trigger, device_count, source, plan=plan)

    def run(self, devices: list[Device], *, run_id: int | None = None,
            plan: str | None = None) -> RunResult:
        """Inspect ``devices``; each result is committed as it arrives. When :attr:`stop` is
        set, devices not yet started are left out and the run is recorded as ``aborted``."""
        self._learn_secrets()
        if run_id is None:
            run_id = self.start(len(devices), plan)
        started = datetime.now(UTC)
        results: list[DeviceResult] = []
        workers = max(1, min(self.settings.workers, len(devices)))
        try:
            # results are judged and stored here, one transaction each, on one connection
            with self.store.holding_connection(), \
                    ThreadPoolExecutor(workers, thread_name_prefix="inspect") as pool:
                futures: dict[Future[CollectResult | _Failure | None], Device] = {
                    pool.submit(self._collect_unless_stopped, d): d for d in devices
                }
                for future in as_completed(futures):
                    device, outcome = futures[future], future.result()
                    if outcome is None:
                        continue  # stopped before this device started
                    results.append(self._record(device, run_id, outcome))
        except BaseException:
            try:
                self.store.finish_run(run_id, State.worst([r.state for r in results]),
                                      "aborted")
            except StoreError as also:  # the store is what failed: say why, not this
                log.warning("run %d could not be recorded as aborted (%s); the next start "
                            "of xunjian does it", run_id, also)
            raise
        state = State.worst([r.state for r in results])
        stopped = len(results) < len(devices)
        self.store.finish_run(run_id, state, "aborted" if stopped else "completed")
        if stopped:
            log.warning("run %d stopped before %d of %d device(s) were inspected; "
                        "recorded as aborted", run_id, len(devices) - len(results),
                        len(devices))
        for observer in self.observers:
            try:
                observer.run_finished(run_id)
            except Exception:
                log.exception("result observer %s failed at the end of run %d",
                              type(observer).__name__, run_id)
        order = {d.name: i for i, d in enumerate(devices)}
        results.sort(key=lambda r: order[r.device])
        return RunResult(run_id=run_id, started_at=started, finished_at=datetime.now(UTC),
                         state=state, devices=results)
