"""Hostile device data in the store: a NUL from a device's output (a ``df`` mountpoint, a check
message quoting it) is stored on SQLite and PostgreSQL alike - PostgreSQL text cannot hold
NUL, so there it becomes U+FFFD (agent/store/pgtext.py); before, the whole result was lost
with a StoreError. Transcripts and raw outputs keep every byte on both."""

from __future__ import annotations

from support.builders import DEVICE, make_result
from support.hostile import ANSI, HTML

from agent.store import Store

NUL_TEXT = "/data/\x00" + ANSI[0] + HTML[0]


def test_nul_and_escapes_from_a_device_are_stored(store: Store) -> None:
    base = make_result()
    assert base.facts is not None
    result = base.model_copy(update={
        "checks": [base.checks[0].model_copy(update={"item": NUL_TEXT,
                                                     "message": f"{NUL_TEXT} 85 % used"})],
        "facts": base.facts.model_copy(update={"hostname": "web\x00"}),
        "item_errors": {"hardware": "odd\x00output"},
        "transcript": "$ df\n" + NUL_TEXT + "\n",
        "raw": [base.raw[0].model_copy(update={"output": NUL_TEXT})],
    })
    store.save_result(store.start_run("test", 1, None), DEVICE, result)
    got = store.latest_result("web-01", with_raw=True)
    assert got is not None and got.facts is not None
    nul = "\x00" if store.engine.dialect.name == "sqlite" else "\ufffd"
    assert got.checks[0].item == NUL_TEXT.replace("\x00", nul)
    assert got.checks[0].message.startswith(NUL_TEXT.replace("\x00", nul))
    assert got.facts.hostname == "web" + nul
    assert got.item_errors == {"hardware": f"odd{nul}output"}
    # the evidence is stored compressed: every byte kept, on every backend
    assert got.transcript == "$ df\n" + NUL_TEXT + "\n"
    assert got.raw[0].output == NUL_TEXT
