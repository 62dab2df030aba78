"""The baseline: a bare paramiko ``ThreadPoolExecutor`` running one command line per host.

What a competent engineer writes by hand, and nothing more: the private key is loaded and
known_hosts parsed once, each host gets one TCP connection, a host-key check, public-key
authentication and one exec of the job's command line; the output is read to EOF and dropped.
A host counts as OK when the command ran to its exit status and printed something.

Usage: ``python -m bench.clients.paramiko_pool JOB.json`` with the job
``{"hosts": [{"name", "address", "port"}], "username", "key_file", "known_hosts",
"command", "workers", "timeout"}``; prints ``{"hosts", "ok", "failed": {name: reason},
"output_bytes"}``.
"""

from __future__ import annotations

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko


def inspect_host(host: dict[str, Any], job: dict[str, Any], pkey: paramiko.PKey,
                 known: paramiko.HostKeys) -> int:
    """Bytes of output the host printed; raises on any failure."""
    sock = socket.create_connection((host["address"], host["port"]), timeout=job["timeout"])
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = job["timeout"]
        transport.start_client(timeout=job["timeout"])
        key = transport.get_remote_server_key()
        name = host["address"] if host["port"] == 22 else f"[{host['address']}]:{host['port']}"
        entry = known.lookup(name)
        if entry is None or entry.get(key.get_name()) != key:
            raise paramiko.SSHException(f"host key of {name} is not the known one")
        transport.auth_publickey(job["username"], pkey)
        channel = transport.open_session(timeout=job["timeout"])
        channel.set_combine_stderr(True)
        channel.settimeout(job["timeout"])
        channel.exec_command(job["command"])
        size = 0
        while data := channel.recv(65536):
            size += len(data)
        status = channel.recv_exit_status()
        if status < 0 or size == 0:
            raise paramiko.SSHException(f"exit status {status}, {size} bytes of output")
        return size
    finally:
        transport.close()


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    pkey = paramiko.PKey.from_path(job["key_file"])
    known = paramiko.HostKeys(job["known_hosts"])

    def one(host: dict[str, Any]) -> tuple[str, int | str]:
        try:
            return host["name"], inspect_host(host, job, pkey, known)
        except Exception as exc:
            return host["name"], f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(job["workers"]) as pool:
        outcomes = list(pool.map(one, job["hosts"]))
    failed = {name: got for name, got in outcomes if isinstance(got, str)}
    total = sum(got for _, got in outcomes if isinstance(got, int))
    hosts = len(job["hosts"])
    print(json.dumps({"hosts": hosts, "ok": hosts - len(failed), "failed": failed,
                      "output_bytes": total}))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
