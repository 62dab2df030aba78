"""The incident engine over a real store (SQLite, and PostgreSQL where it runs): rules,
suppression, silences, priority, problems, known errors, SLA escalation, notifications."""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from support.incident_harness import START, Flaky, Harness, Recorder, check, device, fs

from agent.errors import IncidentError
from agent.incidents.factory import build_engine, deliver_pending
from agent.incidents.fingerprint import fingerprint
from agent.store import Store
from agent.store.schema import IncidentRow
from checks.builtin import CHECK_NAMES
from checks.model import State
from config.incidents import IncidentSettings
from config.loader import load_config

DB = device()


def settings(**extra: object) -> IncidentSettings:
    return IncidentSettings.model_validate(extra)


def test_opens_after_three_breaches_and_updates_the_one_incident(store: Store) -> None:
    rec = Recorder()
    h = Harness(store, notifiers=[rec])
    h.feed(DB, fs(85))
    h.feed(DB, fs(86))
    assert h.active() == []  # two breaches: still pending (soft state)
    result_id = h.feed(DB, fs(84))
    [incident] = h.active()
    assert incident.fingerprint == fingerprint("db-01", "filesystem", "/var")
    assert (incident.severity, incident.priority, incident.impact, incident.urgency) == (
        "WARN", "P3", 1, 3)
    assert incident.breach_count == 3 and incident.result_id == result_id
    assert incident.evidence_command == "xunjian evidence db-01 filesystem /var"
    h.feed(DB, fs(88))
    h.feed(DB, fs(87))
    [incident] = h.active()
    assert incident.breach_count == 5 and incident.worst_value == "88 %"
    assert incident.value == "87 %"
    assert h.engine.dispatch() == 1
    assert rec.kinds() == ["firing"]
    event = rec.events[0]
    assert event.fingerprint == incident.fingerprint
    assert event.labels["device"] == "db-01" and event.labels["item"] == "/var"
    assert event.labels["priority"] == "P3" and event.evidence == incident.evidence_command


def test_severity_change_updates_priority_and_notifies(store: Store) -> None:
    rec = Recorder()
    h = Harness(store, notifiers=[rec])
    for v in (85, 85, 85):
        h.feed(DB, fs(v))
    h.feed(DB, fs(95))  # CRIT on a business-level-1 device: P1
    [incident] = h.active()
    assert (incident.severity, incident.priority) == ("CRIT", "P1")
    full = h.repo.get(incident.id)
    assert any(t.kind == "priority" and "P3 → P1" in t.text for t in full.timeline)
    h.engine.dispatch()
    assert rec.kinds() == ["firing"]  # the undelivered WARN firing was superseded
    assert rec.events[0].priority == "P1"


def test_resolves_only_after_two_recoveries_below_the_recovery_threshold(store: Store) -> None:
    rec = Recorder()
    s = settings(checks={"filesystem": {"recover_below": 75}})
    h = Harness(store, s, notifiers=[rec])
    for _ in range(3):
        h.feed(DB, fs(85))
    h.engine.dispatch()
    h.feed(DB, fs(78))  # OK by the check, but not below 75: stays open
    h.feed(DB, fs(77))
    assert len(h.active()) == 1
    h.feed(DB, fs(70))
    assert len(h.active()) == 1  # one recovery is not enough
    h.feed(DB, fs(85))  # breach again: recovery count starts over
    h.feed(DB, fs(70))
    assert len(h.active()) == 1
    h.feed(DB, fs(70))
    assert h.active() == []
    [resolved] = h.repo.list(status="resolved")
    assert resolved.resolved_at == h.now
    h.engine.dispatch()
    assert rec.kinds() == ["firing", "resolved"]
    assert rec.events[1].resolved_at == h.now


def test_unreachable_opens_one_incident_and_freezes_the_other_checks(store: Store) -> None:
    h = Harness(store)
    for _ in range(2):
        h.feed(DB, fs(85), check("zombies", State.WARN, message="12 zombies"))
    for _ in range(4):
        h.feed(DB, reachable=False)
    [incident] = h.active()
    assert (incident.check, incident.item, incident.severity) == ("reachable", None, "UNKNOWN")
    assert incident.priority == "P2"  # impact 1 × urgency 2
    # The filesystem breach count was frozen at 2, so one more breach opens it.
    h.feed(DB, fs(85), check("zombies", State.WARN))
    assert {i.check for i in h.active()} == {"reachable", "filesystem", "zombies"}
    h.feed(DB, fs(85), check("zombies", State.WARN))
    assert {i.check for i in h.active()} == {"filesystem", "zombies"}  # reachable: 2 OKs


def test_a_finding_that_disappears_recovers(store: Store) -> None:
    h = Harness(store)
    for _ in range(3):
        h.feed(DB, fs(85, item="/mnt/usb"))
    assert len(h.active()) == 1
    h.feed(DB, fs(10, item="/"))
    h.feed(DB, fs(10, item="/"))
    assert h.active() == []
    [done] = h.repo.list(status="resolved")
    assert "no longer reported" in h.repo.get(done.id).timeline[-1].text


def test_waived_findings_do_not_open_incidents(store: Store) -> None:
    h = Harness(store)
    for _ in range(5):
        h.feed(DB, fs(95, waived=True))
    assert h.repo.list() == []


def test_silence_by_group_mutes_until_it_expires(sqlite_store: Store) -> None:
    rec = Recorder()
    s = settings(silences=[{"group": "core-db", "check": "filesystem",
                            "ends": (START + timedelta(hours=1)).isoformat(),
                            "reason": "扩容维护窗口"}])
    h = Harness(sqlite_store, s, notifiers=[rec])
    for _ in range(3):
        h.feed(DB, fs(85))
    [incident] = h.active()
    assert incident.silenced
    h.engine.tick()
    h.engine.dispatch()
    assert rec.events == []
    h.advance(hours=1)
    h.engine.tick()  # the silence expired: the incident is announced now
    h.engine.dispatch()
    assert rec.kinds() == ["firing"]
    assert not h.active()[0].silenced
    texts = [t.text for t in h.repo.get(incident.id).timeline]
    assert any("扩容维护窗口" in t for t in texts) and "silence ended" in texts


def test_silence_of_another_device_or_check_does_not_apply(sqlite_store: Store) -> None:
    s = settings(silences=[{"device": "web-*", "ends": "2099-01-01T00:00:00Z", "reason": "x"},
                           {"check": "cpu", "ends": "2099-01-01T00:00:00Z", "reason": "y"}])
    h = Harness(sqlite_store, s)
    for _ in range(3):
        h.feed(DB, fs(85))
    assert not h.active()[0].silenced


def test_flapping_is_marked_and_muted(sqlite_store: Store) -> None:
    rec = Recorder()
    h = Harness(sqlite_store, settings(open_after=1, resolve_after=1), notifiers=[rec])
    for i in range(16):
        h.feed(DB, fs(85 if i % 2 == 0 else 50))
    h.engine.dispatch()
    incidents = h.repo.list(limit=100)
    flapping = [i for i in incidents if i.flapping]
    assert flapping, "alternating results must be detected as flapping"
    # Once flapping, new incidents of this fingerprint open without notifying.
    fired = {e.incident_id for e in rec.events if e.kind == "firing"}
    assert not fired & {i.id for i in flapping if not i.resolved_at or i.status == "open"}
    assert len(rec.events) < 16


def test_priority_matrix_from_business_level(sqlite_store: Store) -> None:
    h = Harness(sqlite_store, settings(open_after=1))
    expected = {1: "P1", 2: "P2", 3: "P3", 4: "P4", None: "P3"}
    for level in expected:
        h.feed(device(f"d{level}", level=level), fs(95))
    got = {i.device: i.priority for i in h.active()}
    assert got == {f"d{k}": v for k, v in expected.items()}


def test_known_error_attaches_its_workaround_and_problem_links_recurrences(
        store: Store) -> None:
    s = settings(open_after=1, resolve_after=1,
                 problems={"recurrences": 3, "window": "1d"},
                 known_errors=[{"name": "KE-12", "check": "filesystem", "item": "/var*",
                                "message": r"/var \d+", "cause": "日志轮转失败",
                                "workaround": "logrotate -f /etc/logrotate.conf"}])
    h = Harness(store, s)
    for _ in range(3):
        h.feed(DB, fs(85))
        h.feed(DB, fs(10))
    incidents = h.repo.list()
    assert len(incidents) == 3
    assert all(i.workaround == "logrotate -f /etc/logrotate.conf" for i in incidents)
    assert {i.problem_id for i in incidents} == {incidents[0].problem_id}
    [problem] = h.repo.problems()
    assert problem.incident_count == 3 and problem.key.startswith("fp:")
    assert problem.known_error == "KE-12"
    h.feed(DB, fs(85, item="/"))  # other item: no known error (glob), not the same problem
    newest = h.repo.list()[0]
    assert newest.workaround is None and newest.problem_id not in (None, problem.id)
    by_check = {p.key: p for p in h.repo.problems()}["dc:db-01/filesystem"]
    assert by_check.id == newest.problem_id  # 4 filesystem incidents on db-01 in a day


def test_device_and_check_recurrence_makes_a_problem(sqlite_store: Store) -> None:
    h = Harness(sqlite_store, settings(open_after=1, resolve_after=1,
                                       problems={"recurrences": 2, "window": "2h"}))
    h.feed(DB, fs(85, item="/a"))
    h.feed(DB, fs(85, item="/b"))  # /a disappears (recovered), /b opens
    [problem] = h.repo.problems()
    assert problem.key == "dc:db-01/filesystem" and problem.incident_count == 2


def test_problem_window_excludes_old_incidents(sqlite_store: Store) -> None:
    h = Harness(sqlite_store, settings(open_after=1, resolve_after=1,
                                       problems={"recurrences": 2, "window": "1h"}))
    h.feed(DB, fs(85))
    h.feed(DB, fs(10))
    h.advance(hours=2)
    h.feed(DB, fs(85))
    assert h.repo.problems() == []


def test_sla_escalation_functional_then_hierarchical(store: Store) -> None:
    rec = Recorder()
    s = settings(
        open_after=1,
        support_groups={"L1": {"email": ["l1@example.com"], "escalate_to": "L2"},
                        "L2": {"email": ["l2@example.com"], "escalate_to": "L3"},
                        "L3": {"email": ["l3@example.com"]}},
        routing=[{"groups": ["core-db"], "assignee": "L1"}],
        management=[{"name": "王经理", "email": ["wang@example.com"], "priorities": ["P1"]}])
    h = Harness(store, s, notifiers=[rec])
    h.feed(DB, fs(95))  # P1: response 15 min, resolution 4 h
    [incident] = h.active()
    assert incident.assignee_group == "L1"
    assert [t.state for t in incident.sla] == ["ok", "ok"]
    h.advance(minutes=12)  # 12 of 15 min: at risk (0.75)
    h.engine.tick()
    incident = h.active()[0]
    assert incident.assignee_group == "L2" and incident.sla[0].state == "at_risk"
    h.advance(minutes=5)
    h.engine.tick()
    h.engine.tick()  # escalations happen once
    incident = h.repo.get(incident.id)
    assert incident.sla[0].state == "missed" and incident.sla[0].remaining_seconds < 0
    escalations = [t for t in incident.timeline if t.kind == "escalation"]
    assert [t.data["escalation"] for t in escalations] == ["functional", "hierarchical"]
    assert "王经理" in escalations[1].text
    h.engine.dispatch()
    esc = [e for e in rec.events if e.kind == "escalated"]
    assert [e.escalation for e in esc] == ["functional", "hierarchical"]
    assert esc[0].recipients == ("l2@example.com",)
    assert esc[1].recipients == ("wang@example.com",)
    h.repo.ack(incident.id, "张工")
    h.advance(hours=3)  # resolution 3 h 17 min of 4 h: at risk → L3
    h.engine.tick()
    assert h.active()[0].assignee_group == "L3"
    snapshot = h.repo.metrics_snapshot()
    assert snapshot.open_by_priority == {"P1": 1, "P2": 0, "P3": 0, "P4": 0}
    [remaining] = snapshot.sla
    assert remaining.target == "resolution"
    assert remaining.remaining_seconds == pytest.approx(43 * 60)


def test_failing_notifier_retries_with_backoff_and_keeps_the_incident(store: Store) -> None:
    flaky, rec = Flaky(failures=2), Recorder()
    h = Harness(store, settings(open_after=1), notifiers=[flaky, rec])
    h.feed(DB, fs(95))
    assert h.engine.dispatch() == 2
    assert rec.kinds() == ["firing"] and flaky.events == []
    assert h.engine.dispatch() == 0  # not due yet (10 s backoff)
    h.advance(seconds=10)
    assert h.engine.dispatch() == 1  # 2nd attempt fails: next in 20 s
    h.advance(seconds=19)
    assert h.engine.dispatch() == 0
    h.advance(seconds=1)
    assert h.engine.dispatch() == 1
    assert [e.kind for e in flaky.events] == ["firing"]
    [incident] = h.active()
    notes = [t.text for t in h.repo.get(incident.id).timeline if t.kind == "notification"]
    assert sum("via flaky failed" in n for n in notes) == 2
    assert "retry in 10 s" in notes[0] or "retry in 10 s" in notes[1]
    assert any("firing sent via flaky (attempt 3)" in n for n in notes)


def test_delivery_gives_up_after_max_attempts_but_the_incident_stays(
        sqlite_store: Store) -> None:
    bug = Flaky(name="buggy", bug=True)
    h = Harness(sqlite_store, settings(open_after=1), notifiers=[bug])
    h.feed(DB, fs(95))
    for _ in range(10):
        h.engine.dispatch()
        h.advance(minutes=5)
    assert bug.calls == 4  # RetrySettings(attempts=4)
    [incident] = h.active()
    timeline = h.repo.get(incident.id).timeline
    assert "giving up" in timeline[-1].text and "RuntimeError" in timeline[-1].text
    [row] = h.repo.outbox(incident.id)[1:]
    assert row["status"] == "failed"


def test_events_of_one_incident_keep_their_order_per_channel(sqlite_store: Store) -> None:
    flaky = Flaky(failures=1)
    h = Harness(sqlite_store, settings(open_after=1, resolve_after=1), notifiers=[flaky])
    h.feed(DB, fs(95))
    h.engine.dispatch()  # firing fails, retried in 10 s
    [incident] = h.active()
    h.repo.ack(incident.id, "李工", "看一下")  # supersedes the undelivered firing
    h.engine.dispatch()
    h.advance(seconds=10)
    h.engine.dispatch()
    assert [e.kind for e in flaky.events] == ["acknowledged"]
    assert flaky.events[0].status == "acknowledged"


def test_resend_firing_to_channels_that_want_it(sqlite_store: Store) -> None:
    am, mail = Recorder("am", resend_firing=True, resend_interval_seconds=60), Recorder("mail")
    h = Harness(sqlite_store, settings(open_after=1), notifiers=[am, mail])
    h.feed(DB, fs(95))
    h.engine.tick()  # just queued: no re-send yet
    h.engine.dispatch()
    h.advance(seconds=30)
    h.engine.tick()
    h.engine.dispatch()
    assert am.kinds() == ["firing"]
    h.advance(seconds=31)
    h.engine.tick()
    h.engine.dispatch()
    assert am.kinds() == ["firing", "firing"] and mail.kinds() == ["firing"]
    [incident] = h.active()
    notes = [t for t in h.repo.get(incident.id).timeline if t.kind == "notification"]
    assert len(notes) == 2  # re-sends that succeed are not written to the timeline


def test_ack_resolve_comment_and_close(store: Store) -> None:
    rec = Recorder()
    h = Harness(store, settings(open_after=1), notifiers=[rec])
    h.feed(DB, fs(95))
    [incident] = h.active()
    h.repo.comment(incident.id, "李工", "磁盘扩容已申请")
    acked = h.repo.ack(incident.id, "李工")
    assert acked.status == "acknowledged" and acked.sla[0].state == "met"
    with pytest.raises(IncidentError, match="only an open incident"):
        h.repo.ack(incident.id, "李工")
    resolved = h.repo.resolve(incident.id, "李工", "cleaned /var/log")
    assert resolved.status == "resolved"
    with pytest.raises(IncidentError, match="already resolved"):
        h.repo.resolve(incident.id, "x")
    with pytest.raises(IncidentError, match="no incident #999"):
        h.repo.get(999)
    h.engine.dispatch()
    assert rec.kinds() == ["resolved"]  # firing and ack superseded before delivery
    # Resolved by hand while still breaching: it takes open_after breaches to reopen.
    h.feed(DB, fs(95))
    assert len(h.active()) == 1
    h.advance(days=2)
    h.engine.tick()
    assert h.repo.get(incident.id).status == "closed"
    assert sorted(i.status for i in h.repo.list(status="all")) == ["closed", "open"]
    assert [i.status for i in h.repo.list(status=["closed", "resolved"])] == ["closed"]
    kinds = [t.kind for t in h.repo.get(incident.id).timeline]
    assert kinds[:1] == ["opened"] and {"comment", "acknowledged", "resolved",
                                        "closed"} <= set(kinds)


def test_two_active_incidents_per_fingerprint_are_refused_by_the_database(
        store: Store) -> None:
    h = Harness(store, settings(open_after=1))
    h.feed(DB, fs(95))
    [incident] = h.active()
    row = {c.name: getattr(incident, c.name, None) for c in IncidentRow.__table__.columns
           if c.name != "id"}
    row.update(status="open", flapping=False, silenced=False, notified=False, worst_num=None,
               escalations={"done": []}, result_id=None, problem_id=None)
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(insert(IncidentRow), [row])
    row["status"] = "resolved"  # a resolved one beside it is fine
    with store.engine.begin() as conn:
        conn.execute(insert(IncidentRow), [row])


def test_restart_keeps_counters_and_updates_the_existing_incident(tmp_path) -> None:
    first = Store.open(None, tmp_path / "data")
    h = Harness(first)
    h.feed(DB, fs(85))
    h.feed(DB, fs(85))
    first.close()
    second = Store.open(None, tmp_path / "data")
    h2 = Harness(second, start=h.now)
    h2.feed(DB, fs(85))  # the third breach, counted across the restart
    [incident] = h2.active()
    second.close()
    third = Store.open(None, tmp_path / "data")
    h3 = Harness(third, start=h2.now)
    h3.feed(DB, fs(91))
    [again] = h3.active()
    assert again.id == incident.id and again.breach_count == 4 and again.severity == "CRIT"
    assert len(h3.repo.list()) == 1
    third.close()


@pytest.mark.postgres
@pytest.mark.parametrize("held", [False, True], ids=["pooled", "held-connection"])
def test_a_concurrent_open_by_another_process_is_updated_not_duplicated(
        pg_url: str, caplog: pytest.LogCaptureFixture, held: bool) -> None:
    caplog.set_level(logging.INFO, logger="agent.incidents.engine")
    mine, theirs = Store.open(pg_url), Store.open(pg_url)
    h = Harness(mine, settings(open_after=1))
    other = Harness(theirs, settings(open_after=1), start=h.now)
    real_open = h.engine._open

    def racing_open(*args: object, **kwargs: object) -> object:
        # The other process opens the same fingerprint and commits first.
        h.engine._open = real_open  # type: ignore[method-assign]
        other.feed(DB, fs(95))
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    h.engine._open = racing_open  # type: ignore[method-assign,assignment]
    # held: stored and observed on one connection, as during Inspector.run
    with mine.holding_connection() if held else contextlib.nullcontext():
        h.feed(DB, fs(96))
    [incident] = h.repo.list()
    assert incident.breach_count == 2 and incident.value == "96 %"
    kinds = [t.kind for t in h.repo.get(incident.id).timeline]
    assert kinds.count("opened") == 1
    assert "incident opened concurrently; re-applying the result" in caplog.text
    mine.close()
    theirs.close()


def test_a_failing_resend_channel_gets_no_pile_of_copies(sqlite_store: Store) -> None:
    am = Flaky("am", resend_firing=True)
    h = Harness(sqlite_store, settings(open_after=1), notifiers=[am])
    h.feed(DB, fs(95))
    for _ in range(20):
        h.advance(minutes=5)
        h.engine.tick()
        h.engine.dispatch()
    rows = h.repo.outbox()
    assert sum(r["status"] == "pending" for r in rows) <= 1
    assert len(rows) < 10


def test_channels_that_cannot_be_built_keep_notifications_queued(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "x.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"data_dir": str(tmp_path / "data")},
        "incidents": {"open_after": 1},
        "notifications": {"webhooks": [{"name": "hook", "url": "http://127.0.0.1:9/",
                                        "secret_env": "XJ_TEST_UNSET_SECRET"}]}}))
    monkeypatch.delenv("XJ_TEST_UNSET_SECRET", raising=False)
    loaded = load_config(config, known_checks=CHECK_NAMES)
    store = Store.open(None, tmp_path / "data")
    engine = build_engine(store, loaded)
    assert not engine.deliver and engine.notifiers == []
    h = Harness(store, loaded.config.incidents)
    h.engine = engine
    h.feed(DB, fs(95))
    assert deliver_pending(engine) == 0
    [row] = h.repo.outbox()
    assert (row["notifier"], row["status"]) == ("*", "pending")
    store.close()
