"""The network peer: Nornir's threaded runner with nornir-netmiko, as engineers script it.

A SimpleInventory (hosts.yaml written by the benchmark) with one netmiko connection per device;
each device runs its platform's standard-pack commands with ``netmiko_send_command`` (``enable``
first where the platform has it), then ``close_connections`` (a Nornir task too). Host keys are
checked against the simulators' known_hosts, as xunjian does. A device counts as OK when no
task failed and every command returned output.

Usage: ``python -m bench.clients.nornir_netmiko JOB.json`` with the job ``{"hosts_file",
"commands": {platform: [command, ...]}, "enable_platforms", "workers"}``; prints ``{"hosts",
"ok", "failed": {name: reason}, "output_bytes"}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core.task import MultiResult, Result, Task
from nornir_netmiko.tasks import netmiko_send_command


def inspect(task: Task, commands: dict[str, list[str]], enable: set[str]) -> Result:
    platform = task.host.platform or ""
    size = 0
    for command in commands[platform]:
        result = task.run(task=netmiko_send_command, command_string=command,
                          enable=platform in enable)
        output = result[0].result
        if not isinstance(output, str) or not output.strip():
            raise ValueError(f"`{command}` returned no output")
        size += len(output)
    return Result(host=task.host, result=size)


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    nr = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": job["workers"]}},
        inventory={"plugin": "SimpleInventory", "options": {"host_file": job["hosts_file"]}},
        logging={"enabled": False},
    )
    results = nr.run(task=inspect, commands=job["commands"],
                     enable=set(job["enable_platforms"]))
    nr.close_connections()
    failed: dict[str, str] = {}
    total = 0
    for name, multi in results.items():
        if multi.failed:
            failed[name] = _reason(multi)
        else:
            total += int(multi[0].result)
    print(json.dumps({"hosts": len(nr.inventory.hosts), "ok": len(nr.inventory.hosts)
                      - len(failed), "failed": failed, "output_bytes": total}))
    return 0 if not failed else 1


def _reason(multi: MultiResult) -> str:
    for result in multi:
        if result.failed:
            exc: Any = result.exception
            return f"{type(exc).__name__}: {exc}"[:300] if exc else str(result.result)[:300]
    return "failed"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
