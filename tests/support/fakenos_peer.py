"""fakenos network devices on loopback, for netmiko integration tests.

:class:`FakenosPeer` runs `fakenos <https://pypi.org/project/fakenos/>`_ (pinned to
:data:`FAKENOS_VERSION`) as an independent SSH peer that netmiko can drive with the
``cisco_ios`` and ``huawei_vrp`` device types.  fakenos pins ``paramiko<=4.0`` and the project
uses paramiko 5, so fakenos lives in its **own virtual environment** and runs as a subprocess:

* The venv is ``$XUNJIAN_FAKENOS_VENV`` or ``<repo>/.venv-fakenos``.  :func:`ensure_fakenos_venv`
  creates it (``python -m venv`` + ``pip install fakenos==1.2.1``, ~18 s from PyPI) when it is
  missing or holds another fakenos version, under a file lock so parallel sessions do not race.
* :meth:`FakenosPeer.start` writes ``inventory.yaml`` (all hosts on ``127.0.0.1``, one distinct
  port each - fakenos refuses a port twice even across addresses), starts the venv's Python on
  a small runner that hands the inventory to ``fakenos.FakeNOS`` (``launcher="cli"`` runs
  ``fakenos -i inventory.yaml`` instead) in a new process group, polls every port until it
  answers an SSH banner, then fetches each port's host key with a paramiko ``Transport``.
  :meth:`FakenosPeer.stop` SIGTERMs (then SIGKILLs) that process group, by its PID.
* The runner loads each NOS definition once and shares it between hosts; ``fakenos -i`` parses
  the 4,600-line ``cisco_ios.yaml`` again for every host, and the runner loads each host-key
  file once instead of once per host (35 ms each).  Measured start (venv present, until every
  banner answers and every key is fetched): 2 hosts 0.6-0.7 s, 50 hosts 0.9 s; with the CLI
  launcher 50 hosts take ~10 s.
* fakenos binds with ``SO_REUSEPORT``: a second fakenos on the same port would *share* it
  silently.  Each peer therefore serves its own freshly generated RSA host key, and
  :meth:`FakenosPeer.start` checks that every port serves that key.

What fakenos 1.2.1 answers natively (exact command strings; anything else gets the
``_default_`` reply).  The shell is Python's :mod:`cmd`: a line is looked up verbatim after
stripping surrounding whitespace - no abbreviations, no ``| include`` filters.  Every
platform also answers ``help`` and ``?`` (the commands valid at the current prompt) and
``exit`` (closes the session).  Each typed character is echoed with a 10 ms pause, so a
netmiko ``send_command`` costs ~0.2-0.4 s; a netmiko login ~0.6 s.  (netmiko's own
``huawei_vrp`` ``disconnect()`` waits 2.2 s for output of its config-mode check - with any
device, not just fakenos.)

``cisco_ios`` (``platforms_yaml/cisco_ios.yaml`` merged with ``platforms_py/cisco_ios.py``):

* Prompts ``NAME>`` at login, ``NAME#`` after ``enable`` (no enable password asked; netmiko's
  ``enable()`` works with any ``secret``).  There is no ``configure terminal``/``exit``-to-user
  mode and no ``disable``.
* Only at ``NAME#``: ``show version`` (IOS-XE 17.3.1a CSR1000V, ``NAME uptime is ...``),
  ``show running-config`` (``hostname NAME``).  At ``NAME>`` they answer the default
  ``% Invalid input detected at '^' marker.`` - call ``enable()`` first.
* Only at ``NAME>``: ``enable``.
* At both prompts: ``terminal length 0``, ``terminal width 511`` (no output), ``show clock``
  (the real current time), ``dir``, ``ping``, ``traceroute``, and ``show``
  ``access-list``, ``access-session``, ``adjacency``, ``alert counters``, ``aliases``,
  ``ap cdp neighbors``, ``ap summary``, ``archive``, ``authentication sessions``,
  ``authentication sessions method details``, ``bfd neighbors details``, ``boot``,
  ``capability feature routing``, ``cdp neighbors``, ``cdp neighbors detail``,
  ``controller t1``, ``crypto ipsec sa detail``, ``crypto pki certificates``,
  ``crypto session detail``, ``dhcp lease``, ``dmvpn``, ``dot1x all``,
  ``environment power all``, ``environment temperature``, ``etherchannel summary``,
  ``file systems``, ``hosts summary``, ``interface link``, ``interface transceiver``,
  ``interfaces``, ``interfaces description``, ``interfaces status``, ``interfaces switchport``,
  ``inventory``, ``ip access-lists``, ``ip arp``, ``ip bgp``, ``ip bgp neighbors``,
  ``ip bgp neighbors advertised-routes``, ``ip bgp summary``, ``ip bgp vpnv4 all neighbors``,
  ``ip cef``, ``ip cef detail``, ``ip device tracking all``, ``ip eigrp interfaces detail``,
  ``ip eigrp neighbors``, ``ip eigrp topology``, ``ip flow toptalkers``,
  ``ip http server status``, ``ip interface``, ``ip interface brief``, ``ip mroute``,
  ``ip nat translations``, ``ip ospf database``, ``ip ospf database network``,
  ``ip ospf database router``, ``ip ospf interface brief``, ``ip ospf neighbor``,
  ``ip prefix-list``, ``ip route``, ``ip route summary``, ``ip source binding``,
  ``ip vrf interfaces``, ``ipv6 access-lists``, ``ipv6 interface brief``, ``ipv6 neighbors``,
  ``ipv6 route``, ``isdn status``, ``isis neighbors``, ``license``, ``lldp neighbors``,
  ``lldp neighbors detail``, ``logging``, ``mac-address-table``, ``module``,
  ``mpls interfaces``, ``nve peers``, ``nve vni``, ``object-group``,
  ``platform diag``, ``port-security interface interface``, ``power available``,
  ``power status``, ``power supplies``, ``processes cpu``, ``processes memory sorted``,
  ``redundancy``, ``rep topology``, ``route-map``, ``running-config partition access-list``,
  ``running-config partition route-map``, ``snmp community``, ``snmp group``, ``snmp user``,
  ``spanning-tree``, ``standby``, ``standby brief``, ``switch detail``, ``tacacs``, ``vlan``,
  ``vlans``, ``vrf``, ``vrf detail``, ``vrrp all``, ``vrrp brief``, ``vtp status``.
  These are canned outputs from unrelated real devices (they do not agree with each other or
  with ``show version``).
* Unknown command: ``% Invalid input detected at '^' marker.``

``huawei_vrp`` (``platforms_yaml/huawei_vrp.yaml`` only, no Python device):

* Natively the prompt is ``NAME>`` - *without* the ``<`` real VRP shows, so netmiko's
  ``huawei_vrp`` driver (which strips the first character) would take ``AME`` as the base
  prompt.  This harness therefore sets the shell's base prompt to ``<NAME`` (``vrp_prompt=True``,
  the default), so the device shows ``<NAME>`` and netmiko's base prompt is ``NAME``.
  ``enable`` exists (prints ``null``, prompt becomes ``<NAME#``); there is no ``system-view``.
* At both prompts: ``screen-length 0 temporary`` (no output; netmiko sends it), and
  ``display`` ``acl all``, ``arp all``, ``arp brief``, ``interface``, ``interface brief``,
  ``interface description``, ``ip routing-table verbose``, ``ip vpn-instance``,
  ``ip vpn-instance interface``, ``ipv6 neighbors``, ``isis peer``, ``lldp neighbor``,
  ``mac-address``, ``nat server``, ``port vlan``, ``service-set all``, ``service-set id id``,
  ``sn license``, ``snmp-agent community read``, ``startup``, ``temperature``,
  ``traffic-filter applied-record``, ``version`` (VRP 8.180, ATN 910C-B), ``vlan``.
* Unknown command: ``Unknown command`` (not VRP's ``Error: Unrecognized command ...``).

Output quirks: every output line is sent with ``\\r\\n``; the literal text ``{base_prompt}``
in an output is replaced by the host's base prompt; a blank line typed at a prompt prints
nothing.  All hosts of a peer accept one username/password (:data:`DEVICE_USERNAME`,
:data:`DEVICE_PASSWORD`); only password authentication exists, and a wrong password fails
immediately.  Probe connections that never authenticate (the banner poll, host-key fetch)
leave paramiko tracebacks in the peer's log; they are harmless.

Extending a platform (replayed outputs): fakenos merges ``nos.configuration.commands`` from
the inventory over the NOS's own commands, so no plugin code is needed.  With ``replay_root``
set (the project's is :data:`REPLAY_ROOT`, ``tests/netsim/replay``), every platform that has
``<replay_root>/<platform>/commands.yaml`` gets those commands on all its hosts.  The file maps
an exact command line to a file in the same folder holding its output (UTF-8)::

    show interfaces status: show_interfaces_status.txt
    display device: display_device.txt

(the mapping may also sit under a top-level ``commands:`` key).  A replayed command answers at
every prompt and *replaces* a native command with the same text (e.g. replaying ``show
version`` makes it work at ``NAME>`` too).  See :func:`load_replay_commands`.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

import paramiko
import yaml

from support import canaries

#: The fakenos release this harness was verified with (its dependencies as pip resolved them
#: then: paramiko 4.0.0, pydantic 2.14.3, PyYAML 6.0.3, Jinja2 3.1.6, detect 2020.12.3).
FAKENOS_VERSION = "1.2.1"
#: Environment variable naming the fakenos venv.
VENV_ENV_VAR = "XUNJIAN_FAKENOS_VENV"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venv-fakenos"
#: The project's replayed command outputs: ``REPLAY_ROOT/<platform>/commands.yaml``.
REPLAY_ROOT = REPO_ROOT / "tests" / "netsim" / "replay"
REPLAY_FILE = "commands.yaml"

#: Login accepted by every fakenos host of a peer.
DEVICE_USERNAME = "xjnet"
#: The suite's canary password (support.canaries): must never appear in logs or reports.
DEVICE_PASSWORD = canaries.CANARY_PASSWORD

#: Host-name prefixes: ``ios-001``, ``vrp-001``; other platforms use the platform name.
NAME_PREFIX: Mapping[str, str] = {"cisco_ios": "ios", "huawei_vrp": "vrp"}
#: Platforms this harness documents and tests (fakenos has ~40; others may work too).
SUPPORTED_PLATFORMS = ("cisco_ios", "huawei_vrp")

_POLL_INTERVAL = 0.02
# fakenos's log lines for a command it answered with its default reply (cmd_shell.default).
_UNKNOWN_LOG = re.compile(
    r"shell\.default '(?P<host>[^']*)' command '\[(?P<command>.*)\]' not found"
)
_WRONG_PROMPT_LOG = re.compile(
    r"'(?P<command>.*)' command prompt '.*' not matching current prompt '(?P<prompt>.*)'$"
)
#: Start errors after which start() retries with other ports.
_PORT_CLASH = ("Address already in use", "another fakenos (SO_REUSEPORT) shares the port")
_HOST_KEY = "ssh_host_rsa_key"
_WRONG_HOST_KEY = "wrong_host_rsa_key"

#: Runs inside the fakenos venv (``python -I runner.py inventory.yaml LEVEL``).  Loading each
#: NOS once and passing it as a plugin keeps fakenos from re-parsing it for every host.
_RUNNER = '''\
"""fakenos runner written by tests/support/fakenos_peer.py."""
import logging
import os
import sys
import threading

import paramiko
import yaml
from fakenos import FakeNOS
from fakenos.core.nos import Nos
from fakenos.plugins.nos import nos_plugins
from fakenos.plugins.servers.ssh_server_paramiko import DEFAULT_SSH_KEY

logging.basicConfig(level=sys.argv[2], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
with open(sys.argv[1], encoding="utf-8") as handle:
    inventory = yaml.safe_load(handle)

# Every host loads its RSA host key (~35 ms each): load each key file once.  fakenos's
# built-in key is written to a file first so that it is loaded once too.
server_config = inventory["default"]["server"]["configuration"]
if not server_config.get("ssh_key_file"):
    with open("fakenos_builtin_host_key", "w", encoding="utf-8") as handle:
        handle.write(DEFAULT_SSH_KEY)
    server_config["ssh_key_file"] = os.path.abspath("fakenos_builtin_host_key")
_load_key = paramiko.RSAKey.from_private_key_file
_loaded_keys = {}


def _load_key_once(filename, password=None):
    if (filename, password) not in _loaded_keys:
        _loaded_keys[filename, password] = _load_key(filename, password)
    return _loaded_keys[filename, password]


paramiko.RSAKey.from_private_key_file = staticmethod(_load_key_once)
hosts = inventory["hosts"].values()
names = {(h.get("nos") or {}).get("plugin") or h.get("platform") for h in hosts}
plugins = [Nos(filename=nos_plugins[n]) for n in sorted(names) if n in nos_plugins]
net = FakeNOS(inventory=inventory, plugins=plugins)
try:
    net.start()
except BaseException:
    net.stop()
    raise
print("fakenos runner: all hosts started", flush=True)
threading.Event().wait()  # until SIGTERM
'''

#: Prints ``{platform: {command: output}}`` as fakenos itself renders it (``native_outputs``).
_RENDER = """\
import json
import sys

from fakenos.core.nos import Nos
from fakenos.plugins.nos import nos_plugins

request = json.loads(sys.argv[1])
result = {}
for platform, commands in request["commands"].items():
    nos = Nos(filename=nos_plugins[platform])
    base_prompt = request["base_prompts"][platform]
    result[platform] = {}
    for command in commands:
        output = nos.commands[command]["output"]
        if callable(output):
            output = output(nos.device, base_prompt=base_prompt, current_prompt="", command=command)
            output = output["output"] if isinstance(output, dict) else output
        if isinstance(output, str):
            output = output.replace("{base_prompt}", base_prompt)
        result[platform][command] = output
print(json.dumps(result))
"""


class FakenosError(RuntimeError):
    """The fakenos venv or peer could not be set up; the message includes the relevant log."""


# --------------------------------------------------------------------------- the venv


def fakenos_venv_path() -> Path:
    """``$XUNJIAN_FAKENOS_VENV`` or ``<repo>/.venv-fakenos``."""
    configured = os.environ.get(VENV_ENV_VAR, "").strip()
    return Path(configured).expanduser().resolve() if configured else DEFAULT_VENV


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _child_env() -> dict[str, str]:
    """The environment for fakenos-venv processes: nothing of the project's venv leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for name in ("VIRTUAL_ENV", "FAKENOS_RELOAD_COMMANDS", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def fakenos_version(venv: Path | None = None) -> str | None:
    """The fakenos version installed in ``venv``, or ``None`` (no venv, no fakenos)."""
    python = _venv_python(venv or fakenos_venv_path())
    if not python.exists():
        return None
    code = "import importlib.metadata as m; print(m.version('fakenos'))"
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=_child_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


_ensured: set[tuple[Path, str]] = set()


def ensure_fakenos_venv(venv: Path | None = None, version: str = FAKENOS_VERSION) -> Path:
    """Make sure ``venv`` (default :func:`fakenos_venv_path`) has ``fakenos==version``.

    A missing venv is created with this interpreter's base Python; a venv with another (or no)
    fakenos gets ``pip install fakenos==version``.  Nothing is ever deleted.  Needs PyPI only
    when something must be installed.  Returns the venv path.
    """
    venv = (venv or fakenos_venv_path()).resolve()
    if (venv, version) in _ensured:
        return venv
    venv.mkdir(parents=True, exist_ok=True)
    with (venv / ".xunjian-fakenos.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test sessions: one installs, others wait
        if fakenos_version(venv) != version:
            if not _venv_python(venv).exists():
                _run_setup([sys.executable, "-m", "venv", str(venv)], f"creating venv {venv}")
            pip = [str(_venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
            _run_setup([*pip, "-q", f"fakenos=={version}"], f"pip install fakenos=={version}")
            found = fakenos_version(venv)
            if found != version:
                raise FakenosError(f"{venv} has fakenos {found} after installing {version}")
    _ensured.add((venv, version))
    return venv


def _run_setup(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=900, check=False, env=_child_env()
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FakenosError(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-4000:]
        raise FakenosError(f"{what} failed ({done.returncode}):\n{tail}")


def native_outputs(
    commands: Mapping[str, Iterable[str]],
    *,
    base_prompt: str | Mapping[str, str],
    venv: Path | None = None,
) -> dict[str, dict[str, str | None]]:
    """What fakenos's own NOS definitions answer: ``{platform: {command: output}}``.

    Rendered in the fakenos venv for a host whose base prompt (host name) is ``base_prompt``,
    or ``base_prompt[platform]``; callable outputs such as ``show version`` are called.
    ``None`` means "no output".  Raises :class:`FakenosError` for an unknown platform or
    command.
    """
    venv = ensure_fakenos_venv(venv)
    prompts = {p: base_prompt if isinstance(base_prompt, str) else base_prompt[p] for p in commands}
    request = {"base_prompts": prompts, "commands": {p: list(c) for p, c in commands.items()}}
    try:
        done = subprocess.run(
            [str(_venv_python(venv)), "-I", "-c", _RENDER, json.dumps(request)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=_child_env(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FakenosError(f"rendering fakenos outputs: {exc}") from exc
    if done.returncode != 0:
        raise FakenosError(f"rendering fakenos outputs failed:\n{done.stderr[-4000:]}")
    result: dict[str, dict[str, str | None]] = json.loads(done.stdout)
    return result


# --------------------------------------------------------------------------- replayed commands


def load_replay_commands(platform_dir: Path) -> dict[str, str]:
    """``{command: output}`` from ``platform_dir/commands.yaml`` (see the module docstring).

    Returns ``{}`` if the folder or the file does not exist.  Raises :class:`FakenosError` for
    a malformed file, an output file outside ``platform_dir``, a missing or non-UTF-8 file.
    """
    index = platform_dir / REPLAY_FILE
    if not index.is_file():
        return {}
    try:
        data = yaml.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise FakenosError(f"{index}: {exc}") from exc
    if isinstance(data, dict) and set(data) == {"commands"} and isinstance(data["commands"], dict):
        data = data["commands"]
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FakenosError(f"{index}: expected a mapping of command -> file name")
    root = platform_dir.resolve()
    commands: dict[str, str] = {}
    for command, file_name in data.items():
        if not isinstance(command, str) or not command.strip() or command != command.strip():
            raise FakenosError(f"{index}: command {command!r} must be a non-empty trimmed string")
        if "\n" in command or "\r" in command:
            raise FakenosError(f"{index}: command {command!r} spans lines")
        if not isinstance(file_name, str) or not file_name:
            raise FakenosError(f"{index}: {command!r} needs a file name, not {file_name!r}")
        path = (platform_dir / file_name).resolve()
        if path.parent != root:
            raise FakenosError(f"{index}: {command!r} -> {file_name!r} is not in {platform_dir}")
        try:
            commands[command] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FakenosError(f"{index}: {command!r} -> {file_name!r}: {exc}") from exc
    return commands


# --------------------------------------------------------------------------- the peer


@dataclass(frozen=True)
class FakeDevice:
    """One fakenos host: what a netmiko connection to it needs."""

    name: str
    """``ios-001``, ``vrp-001``, …; also its hostname (base prompt) as netmiko sees it."""
    platform: str
    """The fakenos platform, which is also the netmiko ``device_type``."""
    address: str
    port: int
    username: str
    password: str = field(repr=False)
    prompt: str | None
    """The prompt it shows after login (``ios-001>``, ``<vrp-001>``); ``None`` if not known."""
    host_key_line: str = ""
    """Its known_hosts line ``[127.0.0.1]:PORT ssh-rsa AAAA...`` (set once started)."""

    @property
    def device_type(self) -> str:
        return self.platform

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def netmiko_params(self, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``netmiko.ConnectHandler`` (``extra`` added/overriding)."""
        params: dict[str, Any] = {
            "device_type": self.platform,
            "host": self.address,
            "port": self.port,
            "username": self.username,
            "password": self.password,
        }
        params.update(extra)
        return params


def pick_free_ports(address: str, count: int) -> list[int]:
    """``count`` distinct TCP ports free on ``address`` right now (held together while picked)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((address, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _banner(address: str, port: int, timeout: float) -> bytes:
    """The first line the server sends, or ``b""`` if it cannot be had (yet)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return b""


def fetch_host_key(address: str, port: int, timeout: float = 10.0) -> paramiko.PKey:
    """The host key an SSH server presents (key exchange only, no authentication)."""
    sock = socket.create_connection((address, port), timeout=timeout)
    try:
        transport = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()
        sock.close()


def _load_or_generate_rsa(path: Path) -> paramiko.RSAKey:
    if not path.exists():
        paramiko.RSAKey.generate(2048).write_private_key_file(str(path))
    return paramiko.RSAKey.from_private_key_file(str(path))


def _key_line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}"


class FakenosPeer:
    """fakenos hosts on loopback, run from the fakenos venv in their own process group.

    Usage::

        with FakenosPeer(tmp_path, {"cisco_ios": 1, "huawei_vrp": 1}) as peer:
            ios = peer.by_platform("cisco_ios")[0]
            with ConnectHandler(**ios.netmiko_params()) as conn:
                conn.enable()
                conn.send_command("show version")

    ``counts`` maps a fakenos platform to how many hosts to run.  ``replay_root`` (e.g.
    :data:`REPLAY_ROOT`) adds replayed commands per platform (module docstring).
    ``host_key="generate"`` (default) serves a per-workdir RSA key; ``"fakenos"`` serves the
    RSA key built into fakenos (the same for every fakenos anywhere).  ``vrp_prompt`` gives
    ``huawei_vrp`` hosts the real ``<NAME>`` prompt.  ``launcher="cli"`` runs ``fakenos -i``.
    """

    def __init__(
        self,
        workdir: Path,
        counts: Mapping[str, int] | None = None,
        *,
        replay_root: Path | None = None,
        venv: Path | None = None,
        address: str = "127.0.0.1",
        username: str = DEVICE_USERNAME,
        password: str = DEVICE_PASSWORD,
        vrp_prompt: bool = True,
        host_key: Literal["generate", "fakenos"] = "generate",
        launcher: Literal["api", "cli"] = "api",
        startup_timeout: float = 60.0,
        log_level: str = "WARNING",
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.counts = dict(counts if counts is not None else dict.fromkeys(SUPPORTED_PLATFORMS, 1))
        if not self.counts or any(n < 0 for n in self.counts.values()):
            raise ValueError(f"counts must be non-negative and name a platform: {self.counts}")
        if sum(self.counts.values()) == 0:
            raise ValueError("a peer needs at least one host")
        if not all(re.fullmatch(r"[a-z0-9_]+", p) for p in self.counts):
            raise ValueError(f"unsuitable platform names {list(self.counts)}")
        if host_key not in ("generate", "fakenos") or launcher not in ("api", "cli"):
            raise ValueError(f"unknown host_key {host_key!r} or launcher {launcher!r}")
        self.replay_root = replay_root
        self.requested_venv = venv
        self.address = address
        self.username = username
        self.password = password
        self.vrp_prompt = vrp_prompt
        self.host_key = host_key
        self.launcher = launcher
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self.inventory_path = self.workdir / "inventory.yaml"
        self.runner_path = self.workdir / "fakenos_runner.py"
        self.log_path = self.workdir / "fakenos.log"
        self.known_hosts = self.workdir / "known_hosts"
        self.startup_seconds: float | None = None
        self.replayed: dict[str, dict[str, str]] = {}
        """``{platform: {command: output}}`` added from ``replay_root`` at the last start."""
        self._devices: list[FakeDevice] = []
        self._keys: dict[str, paramiko.PKey] = {}
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    # -- context manager

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use

    @property
    def devices(self) -> list[FakeDevice]:
        """Every host, platforms in ``counts`` order, then by number."""
        if not self._devices:
            raise FakenosError("the peer is not started")
        return list(self._devices)

    def device(self, name: str) -> FakeDevice:
        for device in self.devices:
            if device.name == name:
                return device
        raise KeyError(f"{name} is not part of this peer")

    def by_platform(self, platform: str) -> list[FakeDevice]:
        return [d for d in self.devices if d.platform == platform]

    @property
    def pid(self) -> int | None:
        """PID (= process group) of the running fakenos process."""
        return self._popen.pid if self._popen and self._popen.poll() is None else None

    def log_text(self, limit: int = 8000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text if len(text) <= limit else "…" + text[-limit:]

    def unanswered_commands(self) -> list[tuple[str, str, str]]:
        """``(host, command, why)`` for every line fakenos gave its default reply to, from its log.

        ``why`` is ``"unknown"`` (no such command) or ``"prompt"`` (the command exists but not
        at the current prompt, e.g. ``show version`` at ``ios-001>``).  Needs ``log_level``
        WARNING or lower (the default).
        """
        found = []
        for line in self.log_text(limit=1 << 30).splitlines():
            if match := _UNKNOWN_LOG.search(line):
                with contextlib.suppress(ValueError, SyntaxError):
                    command = ast.literal_eval(match["command"])
                    found.append((match["host"].lstrip("<"), str(command), "unknown"))
            elif match := _WRONG_PROMPT_LOG.search(line):
                host = match["prompt"].lstrip("<").rstrip(">#")
                found.append((host, match["command"], "prompt"))
        return found

    def host_keys(self) -> dict[str, paramiko.PKey]:
        """``{host name: key}`` as fetched from each port at start."""
        if not self._keys:
            raise FakenosError("the peer is not started")
        return dict(self._keys)

    def write_known_hosts(
        self,
        path: Path,
        *,
        wrong_key_for: Collection[str] = (),
        omit: Collection[str] = (),
    ) -> Path:
        """Write ``[127.0.0.1]:PORT ssh-rsa AAAA...`` for every host (names in ``omit`` left out).

        Hosts named in ``wrong_key_for`` get a different RSA key, as if theirs had changed.
        """
        for name in (*wrong_key_for, *omit):
            self.device(name)
        wrong = _load_or_generate_rsa(self.workdir / _WRONG_HOST_KEY)
        lines = []
        for device in self.devices:
            if device.name in omit:
                continue
            if device.name in wrong_key_for:
                lines.append(_key_line(device.known_hosts_name, wrong))
            else:
                lines.append(device.host_key_line)
        path.write_text("".join(line + "\n" for line in lines))
        return path

    # -- start / stop

    def start(self) -> None:
        """Ensure the venv, write the inventory, start fakenos, await every banner, fetch keys."""
        if self._popen is not None:
            raise FakenosError("the peer is already started")
        began = time.monotonic()
        venv = ensure_fakenos_venv(self.requested_venv)
        self.workdir.mkdir(parents=True, exist_ok=True)
        expected_key: paramiko.PKey | None = None
        if self.host_key == "generate":
            expected_key = _load_or_generate_rsa(self.workdir / _HOST_KEY)
        self.replayed = {}
        if self.replay_root is not None:
            for platform in self.counts:
                found = load_replay_commands(self.replay_root / platform)
                if found:
                    self.replayed[platform] = found
        self.runner_path.write_text(_RUNNER)
        total = sum(self.counts.values())
        attempts = 3
        for attempt in range(1, attempts + 1):
            devices = self._plan(pick_free_ports(self.address, total))
            self._write_inventory(devices)
            try:
                self._launch(venv)
                self._wait_ready(devices)
                keyed, keys = self._fetch_keys(devices, expected_key)
            except FakenosError as exc:
                self.stop()
                if attempt < attempts and any(m in str(exc) for m in _PORT_CLASH):
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            break
        self._devices = keyed
        self._keys = keys
        self.known_hosts.write_text("".join(d.host_key_line + "\n" for d in keyed))
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM fakenos's process group, SIGKILL it after ``timeout``.  Idempotent."""
        popen = self._popen
        if popen is not None:
            if popen.poll() is None:  # the group leader is alive, so the group id is ours
                _killpg(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _killpg(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=timeout)
            self._popen = None
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
        self._devices = []
        self._keys = {}

    # -- internals

    def _plan(self, ports: list[int]) -> list[FakeDevice]:
        devices = []
        free = iter(ports)
        for platform, count in self.counts.items():
            prefix = NAME_PREFIX.get(platform, platform)
            for number in range(1, count + 1):
                name = f"{prefix}-{number:03d}"
                devices.append(
                    FakeDevice(
                        name=name,
                        platform=platform,
                        address=self.address,
                        port=next(free),
                        username=self.username,
                        password=self.password,
                        prompt=self._prompt(platform, name),
                    )
                )
        return devices

    def _prompt(self, platform: str, name: str) -> str | None:
        if platform == "cisco_ios":
            return f"{name}>"
        if platform == "huawei_vrp":
            return f"<{name}>" if self.vrp_prompt else f"{name}>"
        return None

    def _write_inventory(self, devices: list[FakeDevice]) -> None:
        server_config: dict[str, Any] = {"address": self.address}
        if self.host_key == "generate":
            server_config["ssh_key_file"] = str(self.workdir / _HOST_KEY)
        # One dict per platform, shared by its hosts: YAML writes it once (anchor + aliases).
        replay = {
            platform: {cmd: {"output": out, "help": "replayed"} for cmd, out in commands.items()}
            for platform, commands in self.replayed.items()
        }
        hosts: dict[str, Any] = {}
        for device in devices:
            host: dict[str, Any] = {"port": device.port, "platform": device.platform}
            if device.platform in replay:
                host["nos"] = {
                    "plugin": device.platform,
                    "configuration": {"commands": replay[device.platform]},
                }
            if device.platform == "huawei_vrp" and self.vrp_prompt:
                host["shell"] = {
                    "plugin": "CMDShell",
                    "configuration": {"base_prompt": "<" + device.name},
                }
            hosts[device.name] = host
        inventory = {
            "default": {
                "username": self.username,
                "password": self.password,
                "server": {"plugin": "ParamikoSshServer", "configuration": server_config},
            },
            "hosts": hosts,
        }
        text = "# Written by tests/support/fakenos_peer.py; loopback only.\n" + yaml.safe_dump(
            inventory, sort_keys=False, allow_unicode=True, width=1000
        )
        canaries.mark_device_side(self.workdir, "fakenos: the simulated devices' password "
                                                "(inventory.yaml)")
        self.inventory_path.write_text(text, encoding="utf-8")

    def _launch(self, venv: Path) -> None:
        if self.launcher == "cli":
            command = [str(venv / "bin" / "fakenos"), "-i", str(self.inventory_path)]
            command += ["-l", self.log_level]
        else:
            command = [str(_venv_python(venv)), "-I", str(self.runner_path)]
            command += [str(self.inventory_path), self.log_level.upper()]
        self._log_handle = self.log_path.open("wb")  # a restart starts a fresh log
        self._popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=_child_env(),
            start_new_session=True,
        )

    def _wait_ready(self, devices: list[FakeDevice]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = [d.port for d in devices]
        while pending:
            assert self._popen is not None
            code = self._popen.poll()
            if code is not None:
                raise FakenosError(
                    f"fakenos exited with status {code} while starting:\n{self.log_text()}"
                )
            pending = [p for p in pending if not _banner(self.address, p, 1.0).startswith(b"SSH-")]
            if pending:
                if time.monotonic() > deadline:
                    raise FakenosError(
                        f"no SSH banner from {self.address}:{pending[0]} within "
                        f"{self.startup_timeout} s ({len(pending)} ports pending):\n"
                        + self.log_text()
                    )
                time.sleep(_POLL_INTERVAL)

    def _fetch_keys(
        self, devices: list[FakeDevice], expected: paramiko.PKey | None
    ) -> tuple[list[FakeDevice], dict[str, paramiko.PKey]]:
        try:
            with ThreadPoolExecutor(max_workers=min(16, len(devices))) as pool:
                keys = list(pool.map(lambda d: fetch_host_key(d.address, d.port), devices))
        except (OSError, paramiko.SSHException) as exc:
            raise FakenosError(f"fetching host keys: {exc!r}\n{self.log_text()}") from exc
        if expected is None:
            expected = keys[0]
        keyed = []
        for device, key in zip(devices, keys, strict=True):
            if key.get_name() != expected.get_name() or key.asbytes() != expected.asbytes():
                raise FakenosError(
                    f"{device.address}:{device.port} serves a host key that is not this peer's: "
                    "another fakenos (SO_REUSEPORT) shares the port"
                )
            line = _key_line(device.known_hosts_name, key)
            keyed.append(replace(device, host_key_line=line))
        return keyed, {d.name: k for d, k in zip(devices, keys, strict=True)}


def _killpg(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
