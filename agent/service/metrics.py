"""Prometheus metrics of the agent: what ``/metrics`` and ``/probe`` serve.

:class:`XunjianCollector` is a custom collector (prometheus_client ``Collector``) that reads the
latest *stored* results on every scrape; it never connects to a device. It lives in an explicit
:class:`CollectorRegistry` (:func:`build_registry`), never in the global one.

The scrape is split into sections, like node_exporter's collectors: ``results`` (per device
and per check), ``runs`` (from the store, so counters survive restarts), ``plans`` and
``incidents`` (from injected providers). Each section is built completely before anything is
yielded; a section that fails (store down, provider raising) yields only
``xunjian_scrape_collector_success{collector="..."} 0`` and the other sections still render,
so a scrape never raises. Every metric, its labels and the cardinality bound are documented
in docs/metrics.md (a test keeps that file, the alert rules and the dashboard in step).
"""

from __future__ import annotations

import functools
import logging
import platform
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol, TypeVar, cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from agent.incidents.model import MetricsSnapshot
from agent.results import DeviceResult
from agent.service.state import PlanState
from collectors.facts import Environment, HostFacts

log = logging.getLogger(__name__)

#: incident priorities shown with 0 when none is open (the lead passes the configured ones)
DEFAULT_PRIORITIES = ("P1", "P2", "P3", "P4")
#: at most this many interfaces per device are exported (a chassis switch has a few hundred
#: ports; more is a host with churning virtual interfaces) — see docs/metrics.md
DEFAULT_MAX_INTERFACES = 512
#: Linux virtual interfaces (containers, bridges, tunnels) come and go: exporting them would
#: make new series on every inspection, like node_exporter's netdev device-exclude
DEFAULT_INTERFACE_EXCLUDE = re.compile(
    r"^(lo|veth.*|cali.*|cilium.*|lxc.*|docker.*|br-.*|virbr.*|cni.*|flannel.*|"
    r"vxlan.*|tun.*|tap.*|vnet.*|kube-ipvs.*|dummy.*)$")


class ResultSource(Protocol):
    """The part of :class:`agent.store.Store` the collector reads."""

    def latest_results(self) -> list[DeviceResult]: ...

    def latest_result_ids(self) -> dict[str, int]: ...

    def results_by_id(self, ids: Collection[int]) -> dict[int, DeviceResult]: ...

    def device_meta(self) -> dict[str, dict[str, Any]]: ...

    def run_counts(self) -> dict[tuple[str, str], int]: ...


def xunjian_version() -> str:
    try:
        return metadata.version("xunjian")
    except metadata.PackageNotFoundError:
        return "unknown"


class _Family:
    """One metric family; drops a second sample with the same label values (two BGP peers
    that print the same, say), because a duplicate series makes Prometheus reject the scrape.

    Samples are kept as (label values, value) and formatted straight to exposition text
    (:meth:`text`): building prometheus_client's Sample objects and formatting them through
    it took a third of a scrape of 1,000 freshly inspected devices (~100,000 samples). The
    :attr:`metric` (for ``collect()`` and ``/probe``) is built from the same samples."""

    def __init__(self, kind: str, name: str, doc: str, labels: Sequence[str]) -> None:
        self.kind, self.name, self.doc, self.labels = kind, name, doc, tuple(labels)
        self.samples: list[tuple[tuple[str, ...], float]] = []
        self._seen: set[tuple[str, ...]] = set()
        sample = f"{name}_total" if kind == "counter" else name
        order = sorted(range(len(self.labels)), key=self.labels.__getitem__)
        self._order = order
        self._line = (sample + "{" + ",".join(f'{self.labels[i]}="%s"' for i in order)
                      + "} %s\n") if self.labels else sample + " %s\n"

    def add(self, labels: Sequence[str], value: float) -> None:
        key = tuple(labels)
        if key not in self._seen:
            self._seen.add(key)
            self.samples.append((key, value))

    def _empty(self) -> CounterMetricFamily | GaugeMetricFamily:
        return (CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily)(
            self.name, self.doc, labels=list(self.labels))

    @property
    def metric(self) -> Metric:
        family = self._empty()
        for labels, value in self.samples:
            family.add_metric(list(labels), value)
        return family

    def header(self) -> bytes:
        return _format_header(self._empty())

    def text(self) -> bytes:
        """The samples' lines, as ``generate_latest`` writes them (labels sorted by name)."""
        line, order = self._line, self._order
        return "".join([
            line % (*(_escape(labels[i]) for i in order), _go_float(value))
            for labels, value in self.samples]).encode()


class _InfoFamily:
    """An ``_info`` family: the label values of each sample are a mapping."""

    def __init__(self, name: str, doc: str, labels: Sequence[str]) -> None:
        self.name, self.doc, self.labels = name, doc, tuple(labels)
        self.samples: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self._seen: set[tuple[str, ...]] = set()

    def add(self, labels: Sequence[str], value: Mapping[str, str]) -> None:
        key = tuple(labels)
        if key not in self._seen:
            self._seen.add(key)
            self.samples.append((key, dict(value)))

    @property
    def metric(self) -> Metric:
        family = InfoMetricFamily(self.name, self.doc, labels=list(self.labels))
        for labels, value in self.samples:
            family.add_metric(list(labels), value)
        return family

    def header(self) -> bytes:
        return _format_header(InfoMetricFamily(self.name, self.doc, labels=list(self.labels)))

    def text(self) -> bytes:
        lines = []
        for labels, value in self.samples:
            merged = sorted([*zip(self.labels, labels, strict=True), *value.items()])
            lines.append(self.name + "_info{" + ",".join(
                f'{k}="{_escape(v)}"' for k, v in merged) + "} 1.0\n")
        return "".join(lines).encode()


def _gauge(name: str, doc: str, *labels: str) -> _Family:
    return _Family("gauge", name, doc, labels)


def _counter(name: str, doc: str, *labels: str) -> _Family:
    return _Family("counter", name, doc, labels)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


class DeviceFamilies:
    """The per-device families, filled one result at a time (``/metrics`` adds every
    device's latest result, ``/probe`` the one it just inspected)."""

    def __init__(self, *, max_interfaces: int = DEFAULT_MAX_INTERFACES,
                 interface_exclude: re.Pattern[str] | None = DEFAULT_INTERFACE_EXCLUDE) -> None:
        self.max_interfaces = max_interfaces
        self.interface_exclude = interface_exclude
        d = "device"
        self.info = _InfoFamily("xunjian_device", "Inventory metadata of the device "
                                "(always 1).", [d])
        self.up = _gauge("xunjian_device_up",
                         "1 if the device could be inspected at its latest inspection.", d)
        self.state = _gauge("xunjian_device_state", "State of the device at its latest "
                            "inspection: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN.", d)
        self.check_state = _gauge("xunjian_check_state", "State of one check on one item: "
                                  "0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN (item is empty when the "
                                  "check has none).", d, "check", "item")
        self.check_waived = _gauge("xunjian_check_waived", "1 when the check result is "
                                   "waived (accepted until the waiver expires).",
                                   d, "check", "item")
        self.timestamp = _gauge("xunjian_last_inspection_timestamp_seconds",
                                "When the latest inspection of the device finished "
                                "(Unix time).", d)
        self.duration = _gauge("xunjian_last_inspection_duration_seconds",
                               "How long the latest inspection of the device took.", d)
        self.cpu = _gauge("xunjian_cpu_usage_ratio",
                          "Share of CPU time not idle (0-1) at the latest inspection.", d)
        self.memory = _gauge("xunjian_memory_used_ratio",
                             "Share of memory in use (0-1) at the latest inspection.", d)
        self.load1 = _gauge("xunjian_load1", "1-minute load average at the latest "
                            "inspection.", d)
        fs = (d, "mountpoint")
        self.fs_used = _gauge("xunjian_filesystem_used_ratio",
                              "Share of the filesystem in use (0-1), as df's Use%.", *fs)
        self.fs_size = _gauge("xunjian_filesystem_size_bytes", "Size of the filesystem.", *fs)
        self.fs_avail = _gauge("xunjian_filesystem_avail_bytes",
                               "Space available to unprivileged users.", *fs)
        self.temperature = _gauge("xunjian_temperature_celsius",
                                  "Temperature of one sensor.", d, "sensor")
        self.fan = _gauge("xunjian_fan_ok", "1 if the fan works, 0 if it failed (absent "
                          "fans are not exported).", d, "fan")
        self.psu = _gauge("xunjian_power_supply_ok", "1 if the power supply works, 0 if it "
                          "failed (absent supplies are not exported).", d, "psu")
        itf = (d, "interface")
        self.if_up = _gauge("xunjian_interface_up", "1 if the interface is operationally up "
                            "(link and line protocol).", *itf)
        self.if_rx_errors = _counter("xunjian_interface_receive_errors",
                                     "Input errors as the device reports them.", *itf)
        self.if_tx_errors = _counter("xunjian_interface_transmit_errors",
                                     "Output errors as the device reports them.", *itf)
        self.if_crc = _counter("xunjian_interface_crc_errors",
                               "CRC/FCS errors as the device reports them.", *itf)
        self.if_omitted = _gauge("xunjian_interfaces_omitted", "Interfaces of the device "
                                 "left out by the per-device interface cap.", d)
        self.bgp = _gauge("xunjian_bgp_neighbor_up", "1 if the BGP session is Established "
                          "(neighbor is peer@vrf outside the default VRF).", d, "neighbor")
        self.ospf = _gauge("xunjian_ospf_neighbor_up", "1 if the OSPF adjacency is healthy "
                           "(FULL, or 2-Way between DROTHERs).", d, "neighbor")

    def all(self) -> list[_Family | _InfoFamily]:
        return [f for f in vars(self).values() if isinstance(f, _Family | _InfoFamily)]

    def families(self) -> list[Metric]:
        return [f.metric for f in self.all()]

    def add(self, result: DeviceResult, meta: Mapping[str, Any] | None = None) -> None:
        name = result.device
        meta = meta or {}
        facts = result.facts
        hardware = facts.hardware if facts else None
        self.info.add([name], {
            "platform": result.platform,
            "business_system": _text(meta.get("business_system")),
            "business_level": _text(meta.get("business_level")),
            "location": _text(meta.get("location")),
            # what was collected wins over what the register says
            "model": _text((hardware and hardware.model) or meta.get("model")),
            "serial": _text((hardware and hardware.serial) or meta.get("serial")),
        })
        self.up.add([name], 1.0 if result.reachable else 0.0)
        self.state.add([name], result.state.exit_code)
        self.timestamp.add([name], result.finished_at.timestamp())
        self.duration.add([name], max(result.duration_seconds, 0.0))
        for check in result.checks:
            labels = [name, check.check, check.item or ""]
            self.check_state.add(labels, check.state.exit_code)
            if check.waived:
                self.check_waived.add(labels, 1.0)
        if facts is not None:
            self._add_facts(name, facts)

    def _add_facts(self, name: str, facts: HostFacts) -> None:
        if facts.cpu_used_ratio is not None:
            self.cpu.add([name], facts.cpu_used_ratio)
        if facts.memory_used_ratio is not None:
            self.memory.add([name], facts.memory_used_ratio)
        if facts.load1 is not None:
            self.load1.add([name], facts.load1)
        for fs in facts.filesystems or ():
            labels = [name, fs.mountpoint]
            self.fs_used.add(labels, fs.used_ratio)
            self.fs_size.add(labels, fs.size_bytes)
            self.fs_avail.add(labels, fs.avail_bytes)
        if facts.environment is not None:
            self._add_environment(name, facts.environment)
        self._add_interfaces(name, facts)
        for peer in facts.bgp_neighbors or ():
            vrf = peer.vrf if peer.vrf and peer.vrf.lower() not in ("default", "global") else None
            label = f"{peer.peer}@{vrf}" if vrf else peer.peer
            self.bgp.add([name, label], 1.0 if peer.established else 0.0)
        for adj in facts.ospf_neighbors or ():
            self.ospf.add([name, adj.neighbor_id], 1.0 if adj.healthy else 0.0)

    def _add_environment(self, name: str, env: Environment) -> None:
        for sensor in env.temperatures or ():
            if sensor.celsius is not None:
                self.temperature.add([name, sensor.name], sensor.celsius)
        for fan in env.fans or ():
            if fan.ok is not None:
                self.fan.add([name, fan.name], 1.0 if fan.ok else 0.0)
        for psu in env.power_supplies or ():
            if psu.ok is not None:
                self.psu.add([name, psu.name], 1.0 if psu.ok else 0.0)

    def _add_interfaces(self, name: str, facts: HostFacts) -> None:
        exclude = self.interface_exclude
        interfaces = [i for i in facts.interfaces or ()
                      if exclude is None or not exclude.match(i.name)]
        if len(interfaces) > self.max_interfaces:
            # the device's own order (physical ports first on every vendor) keeps the kept
            # set stable from one inspection to the next
            self.if_omitted.add([name], len(interfaces) - self.max_interfaces)
            interfaces = interfaces[:self.max_interfaces]
        for itf in interfaces:
            labels = [name, itf.name]
            if itf.oper_up is not None:
                self.if_up.add(labels, 1.0 if itf.oper_up else 0.0)
            if itf.rx_errors is not None:
                self.if_rx_errors.add(labels, itf.rx_errors)
            if itf.tx_errors is not None:
                self.if_tx_errors.add(labels, itf.tx_errors)
            if itf.crc_errors is not None:
                self.if_crc.add(labels, itf.crc_errors)


_T = TypeVar("_T")


@dataclass(frozen=True)
class _CachedDevice:
    result_id: int
    meta: dict[str, Any] | None
    #: the device's formatted sample lines, one chunk per family (DeviceFamilies order)
    chunks: list[bytes]


#: prometheus_client's own float formatting (+Inf, NaN, 1e+09 ...), typed; most values
#: repeat (states, 0/1 gauges, error counters), so the text of each is kept
_go_float = cast(Callable[[float], str], functools.lru_cache(maxsize=16384)(floatToGoString))


def _escape(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return value


def _format_header(metric: Metric) -> bytes:
    name, kind = metric.name, metric.type
    if kind == "counter":
        name += "_total"
    elif kind == "info":
        name, kind = name + "_info", "gauge"
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n".encode()


def _format_samples(metric: Metric) -> bytes:
    # what generate_latest writes for our families (no timestamps, no _created samples)
    lines = []
    for sample in metric.samples:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
        lines.append(f"{sample.name}{{{labels}}} {_go_float(sample.value)}\n"
                     if labels else f"{sample.name} {_go_float(sample.value)}\n")
    return "".join(lines).encode()


def format_families(families: Iterable[Metric]) -> bytes:
    """Text exposition (format 0.0.4) of ``families``, as ``generate_latest`` writes it."""
    return b"".join(_format_header(f) + _format_samples(f) for f in families)


class XunjianCollector(Collector):
    """Reads the store (and the injected providers) on each scrape; never does I/O to
    devices. ``clock`` is a monotonic timer for the per-section durations."""

    def __init__(
        self,
        store: ResultSource,
        *,
        incidents: Callable[[], MetricsSnapshot] | None = None,
        plans: Callable[[], list[PlanState]] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        priorities: Sequence[str] = DEFAULT_PRIORITIES,
        inventory: Callable[[], Collection[str]] | None = None,
        max_interfaces: int = DEFAULT_MAX_INTERFACES,
        interface_exclude: re.Pattern[str] | None = DEFAULT_INTERFACE_EXCLUDE,
        version: str | None = None,
    ) -> None:
        """``inventory`` (optional) names the devices to export: devices removed from the
        inventory then disappear from ``/metrics`` instead of showing their last result
        forever. Without it, every device that has a stored result is exported."""
        self.store = store
        self.incidents = incidents
        self.plans = plans
        self.clock = clock
        self.priorities = tuple(priorities)
        self.inventory = inventory
        self.max_interfaces = max_interfaces
        self.interface_exclude = interface_exclude
        self.version = version or xunjian_version()
        self._cache: dict[str, _CachedDevice] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        # nothing to check against at registration: reading the store there would make
        # building the registry fail when the store is down
        return []

    def collect(self) -> Iterator[Metric]:
        """The generic path (any registry, ``generate_latest``). ``/metrics`` uses
        :meth:`exposition`, which gives the same text much faster."""
        yield self._build_info()
        success, duration = self._status_families()
        for name, section in self._sections(self._results):
            families, ok, took = self._run(name, section)
            success.add_metric([name], ok)
            duration.add_metric([name], took)
            yield from families
        yield success
        yield duration

    def exposition(self) -> bytes:
        """The text exposition of :meth:`collect`, byte for byte, in a fraction of the time:
        each device's lines are formatted once per stored result and kept until the device
        has a newer result (or its inventory metadata changes); ``generate_latest`` would
        format all ~60,000 samples of 1,000 devices on every scrape (~1 s here)."""
        parts = [format_families([self._build_info()])]
        success, duration = self._status_families()
        for name, section in self._sections(self._results_text):
            text, ok, took = self._run(name, section)
            success.add_metric([name], ok)
            duration.add_metric([name], took)
            parts.append(text if isinstance(text, bytes) else format_families(text))
        parts.append(format_families([success, duration]))
        return b"".join(parts)

    def _build_info(self) -> Metric:
        info = InfoMetricFamily("xunjian_build", "Version of the xunjian agent (always 1).")
        info.add_metric([], {"version": self.version,
                             "python_version": platform.python_version()})
        return info

    @staticmethod
    def _status_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("xunjian_scrape_collector_success",
                                  "1 if the collector section succeeded on this scrape.",
                                  labels=["collector"]),
                GaugeMetricFamily("xunjian_scrape_collector_duration_seconds",
                                  "How long the collector section took on this scrape.",
                                  labels=["collector"]))

    def _sections(self, results: Callable[[], _T]
                  ) -> list[tuple[str, Callable[[], _T | list[Metric]]]]:
        sections: list[tuple[str, Callable[[], _T | list[Metric]]]] = [
            ("results", results), ("runs", self._runs)]
        if self.plans is not None:
            sections.append(("plans", self._plans))
        if self.incidents is not None:
            sections.append(("incidents", self._incidents))
        return sections

    def _run(self, name: str, section: Callable[[], _T]) -> tuple[_T | list[Metric], float,
                                                                   float]:
        start = self.clock()
        try:
            output: _T | list[Metric] = section()
            ok = 1.0
        except Exception:  # a scrape never raises: the section is reported failed
            log.exception("metrics: the %s collector failed", name)
            output, ok = [], 0.0
        return output, ok, max(self.clock() - start, 0.0)

    def _families(self) -> DeviceFamilies:
        return DeviceFamilies(max_interfaces=self.max_interfaces,
                              interface_exclude=self.interface_exclude)

    def _wanted(self, devices: Iterable[str]) -> list[str]:
        if self.inventory is None:
            return sorted(devices)
        wanted = set(self.inventory())
        return sorted(d for d in devices if d in wanted)

    def _results(self) -> list[Metric]:
        results = {r.device: r for r in self.store.latest_results()}
        meta = self.store.device_meta()
        families = self._families()
        for name in self._wanted(results):
            families.add(results[name], meta.get(name))
        return families.families()

    def refresh(self) -> int:
        """Bring the per-device cache up to date with the store, as the next scrape would;
        returns how many devices were (re)formatted. :class:`CacheWarmer` calls it when new
        results are stored, so the scrape after a run finds them ready."""
        return self._update_cache()[1]

    def _update_cache(self) -> tuple[list[_CachedDevice], int]:
        # scrapes (and the warmer) can overlap and the cache is shared: the ids are read under
        # the lock too, or an overlapping caller holding older ids would put them back
        with self._lock:
            ids = self.store.latest_result_ids()
            meta = self.store.device_meta()
            names = self._wanted(ids)
            stale = [n for n in names if (c := self._cache.get(n)) is None
                     or c.result_id != ids[n] or c.meta != meta.get(n)]
            loaded = self.store.results_by_id([ids[n] for n in stale]) if stale else {}
            for name in stale:
                result = loaded.get(ids[name])
                if result is None:  # pruned between the two queries: next scrape
                    continue
                families = self._families()
                families.add(result, meta.get(name))
                self._cache[name] = _CachedDevice(
                    ids[name], meta.get(name), [f.text() for f in families.all()])
            for gone in self._cache.keys() - set(names):
                del self._cache[gone]
            return [self._cache[n] for n in names if n in self._cache], len(stale)

    def _results_text(self) -> bytes:
        cached, _ = self._update_cache()
        headers = [f.header() for f in self._families().all()]
        parts = []
        for index, header in enumerate(headers):
            parts.append(header)
            parts.extend(c.chunks[index] for c in cached)
        return b"".join(parts)

    def _runs(self) -> list[Metric]:
        runs = CounterMetricFamily("xunjian_runs", "Inspection runs by trigger (cli, api, "
                                   "schedule ...) and final status (completed, failed, "
                                   "aborted, running).", labels=["trigger", "status"])
        for (trigger, status), count in sorted(self.store.run_counts().items()):
            runs.add_metric([trigger, status], count)
        return [runs]

    def _plans(self) -> list[Metric]:
        assert self.plans is not None
        states = self.plans()
        runs = _counter("xunjian_plan_runs", "Scheduled runs of the plan that started.", "plan")
        missed = _counter("xunjian_plan_missed_runs", "Scheduled times of the plan that did "
                          "not run (agent down or busy beyond the misfire grace time).", "plan")
        next_run = _gauge("xunjian_plan_next_run_timestamp_seconds",
                          "Next scheduled time of the plan (absent when disabled).", "plan")
        last_run = _gauge("xunjian_plan_last_run_timestamp_seconds",
                          "Scheduled time of the plan's latest started run.", "plan")
        for plan in states:
            runs.add([plan.name], plan.runs_total)
            missed.add([plan.name], plan.missed_total)
            if plan.next_run is not None:
                next_run.add([plan.name], plan.next_run.timestamp())
            if plan.last_run is not None:
                last_run.add([plan.name], plan.last_run.timestamp())
        return [f.metric for f in (runs, missed, next_run, last_run)]

    def _incidents(self) -> list[Metric]:
        assert self.incidents is not None
        snapshot = self.incidents()
        open_ = _gauge("xunjian_incidents_open", "Incidents not yet resolved, by priority.",
                       "priority")
        counts = dict.fromkeys(self.priorities, 0) | snapshot.open_by_priority
        for priority, count in counts.items():
            open_.add([priority], count)
        sla = _gauge("xunjian_incident_sla_remaining_seconds",
                     "Time left until the SLA target (response or resolution) of an open "
                     "incident; negative once missed.",
                     "device", "check", "item", "priority", "target")
        for entry in snapshot.sla:
            sla.add([entry.device, entry.check, entry.item or "", entry.priority, entry.target],
                    entry.remaining_seconds)
        return [open_.metric, sla.metric]


class XunjianRegistry(CollectorRegistry):
    """A registry of its own for the agent's collector (never the global registry)."""

    def __init__(self, collector: XunjianCollector) -> None:
        super().__init__(auto_describe=False)
        self.collector = collector
        self.register(collector)


def build_registry(collector: XunjianCollector) -> XunjianRegistry:
    return XunjianRegistry(collector)


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition (format 0.0.4, ``text/plain; version=0.0.4``) of ``registry``:
    the agent's registry through its cached fast path, any other through
    ``generate_latest``."""
    if isinstance(registry, XunjianRegistry):
        return registry.collector.exposition()
    return generate_latest(registry)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def probe_registry(result: DeviceResult, duration: float,
                   meta: Mapping[str, Any] | None = None, *,
                   max_interfaces: int = DEFAULT_MAX_INTERFACES,
                   interface_exclude: re.Pattern[str] | None = DEFAULT_INTERFACE_EXCLUDE,
                   ) -> CollectorRegistry:
    """Metrics of one live inspection for ``/probe`` (blackbox-exporter style):
    ``xunjian_probe_success``, ``xunjian_probe_duration_seconds`` and the per-device families
    of that device. ``meta`` is the device's inventory metadata (business system, location,
    model, serial ...) for ``xunjian_device_info``."""
    success = GaugeMetricFamily("xunjian_probe_success",
                                "1 if the device could be inspected.",
                                value=1.0 if result.reachable else 0.0)
    took = GaugeMetricFamily("xunjian_probe_duration_seconds",
                             "How long the probe's inspection took.", value=max(duration, 0.0))
    families = DeviceFamilies(max_interfaces=max_interfaces,
                              interface_exclude=interface_exclude)
    families.add(result, meta)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed([success, took, *families.families()]))
    return registry
