"""Builders of typed results for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.results import DeviceResult
from checks.model import CheckResult, State
from collectors.base import PackRef, RawOutput
from collectors.facts import Filesystem, HostFacts
from config.inventory import resolve_device
from config.models import DeviceConfig, InheritableFields

DEVICE = resolve_device(DeviceConfig(name="web-01", address="127.0.1.1", business_level=1,
                                     location="北京亦庄 A01", credentials="ops"),
                        {}, InheritableFields())


def make_result(state: State = State.WARN, *, boot: datetime | None = None,
            when: datetime | None = None, reachable: bool = True) -> DeviceResult:
    when = when or datetime.now(UTC)
    facts = HostFacts(hostname="web-01", memory_total_bytes=8 << 30, boot_time=boot,
                      filesystems=[Filesystem(mountpoint="/data", device="/dev/vdb",
                                              fstype="xfs", size_bytes=100, used_bytes=85,
                                              avail_bytes=15, used_ratio=0.85)])
    return DeviceResult(
        device="web-01", address="127.0.1.1", platform="linux", state=state,
        reachable=reachable, error=None if reachable else "connection refused",
        started_at=when, finished_at=when + timedelta(seconds=2),
        pack=PackRef(name="linux-standard", version="1.0.0", content_hash="ab" * 32),
        facts=facts if reachable else None,
        checks=[CheckResult(check="filesystem", item="/data", state=State.WARN, value=85.0,
                            unit="%", warn=80, crit=90, message="/data 85 % used",
                            evidence=["filesystems"]),
                CheckResult(check="readonly_fs", state=State.OK, value="none",
                            message="no filesystem is mounted read-only", evidence=["mounts"])],
        item_errors={"hardware": "not readable"},
        raw=[RawOutput(item="filesystems", command="df -P -T -B1", output="Filesystem …\n",
                       exit_code=0, duration_seconds=0.01)],
        transcript="$ df -P -T -B1\nFilesystem …\n",
    )


