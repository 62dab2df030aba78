"""A network command that floods: what is kept honours the item's own limits too.

The flood itself (a simulated device printing without end, memory staying bounded) is proven
end to end in tests/hardening/test_faults_run.py; this checks the cut of what is kept."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from collectors.hostkeys import KnownHosts
from collectors.network.collector import NetmikoCollector
from collectors.pack import builtin_pack
from collectors.ssh import AuthMaterial, Endpoint
from config.models import SshSettings
from config.secrets import Redactor, ResolvedCredential

CAP = 4096


def collector(tmp_path: Path) -> NetmikoCollector:
    auth = AuthMaterial(ResolvedCredential(name="net", username="admin",
                                           password=SecretStr("unused"), key_file=None,
                                           passphrase=None))
    return NetmikoCollector(Endpoint("sw", "127.0.0.1", 22), "cisco_ios", auth,
                            KnownHosts([], tmp_path / "known_hosts"),
                            SshSettings(max_output_bytes=CAP), builtin_pack("cisco_ios-standard"),
                            Redactor())


def flooded(tmp_path: Path, **limits: int) -> tuple[str, str]:
    """The item error and the output kept when ``show logging`` (with ``limits``) floods."""
    xc = collector(tmp_path)
    item = next(i for i in xc.pack.items if i.id == "log_errors")
    return xc._flooded(item.model_copy(update=limits), flood(2000))


def flood(lines: int) -> str:
    return "show logging\r\n" + "".join(f"flood line {n}\r\n" for n in range(lines))


def test_a_flood_keeps_at_most_the_global_cap(tmp_path: Path) -> None:
    error, kept = flooded(tmp_path)
    assert not kept.startswith("show logging")  # the echo is dropped
    assert kept.startswith("flood line 0\n") and len(kept.encode()) == CAP
    assert f"the first {CAP} bytes are kept" in error


def test_a_flood_keeps_no_more_than_the_items_max_bytes(tmp_path: Path) -> None:
    error, kept = flooded(tmp_path, max_bytes=100)
    assert len(kept.encode()) == 100 and kept.startswith("flood line 0\n")
    assert "the first 100 bytes are kept" in error
    assert f"printed more than {CAP} bytes (ssh.max_output_bytes)" in error


def test_a_flood_keeps_no_more_than_the_items_max_lines(tmp_path: Path) -> None:
    _, kept = flooded(tmp_path, max_lines=3)
    assert kept == "flood line 0\nflood line 1\nflood line 2\n"
