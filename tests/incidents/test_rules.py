"""Pure logic: rules (counting, hysteresis, flapping), priority matrix, SLA timers and
escalation decisions, silences/known errors/routing, and the incident settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.errors import ConfigError
from agent.incidents import matching, rules, sla
from agent.incidents.fingerprint import fingerprint, identity_labels
from agent.incidents.priority import impact_of, priority_of, urgency_of
from checks.builtin import CHECK_NAMES
from checks.model import State
from config.incidents import IncidentSettings
from config.loader import load_config

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
O, W, C = State.OK, State.WARN, State.CRIT  # noqa: E741 (state letters as stored)


def run(states: list[State], rule: rules.Rule, values: list[float] | None = None
        ) -> list[rules.Decision]:
    tracker, open_, out = rules.Tracker(), False, []
    for i, state in enumerate(states):
        obs = rules.Observation(state, values[i] if values else None, 80.0)
        d = rules.decide(tracker, obs, rule, open_)
        open_ = (open_ or d.action is rules.Action.OPEN) and d.action is not rules.Action.RESOLVE
        tracker = d.tracker
        out.append(d)
    return out


def test_opens_on_the_nth_consecutive_breach_only() -> None:
    actions = [d.action for d in run([W, W, O, W, W, C, C], rules.Rule(open_after=3))]
    assert actions == ["none", "none", "none", "none", "none", "open", "update"]


def test_hysteresis_by_margin_and_by_value() -> None:
    margin = rules.Rule(open_after=1, resolve_after=1, recover_margin=5)
    assert not rules.recovered(rules.Observation(O, 76.0, 80.0), margin)
    assert rules.recovered(rules.Observation(O, 74.9, 80.0), margin)
    below = rules.Rule(recover_below=70)
    assert not rules.recovered(rules.Observation(O, 70.0, 80.0), below)
    assert rules.recovered(rules.Observation(O, "yes", None), below)  # not numeric
    assert not rules.recovered(rules.Observation(W, 10.0, 80.0), below)


def test_percent_state_change_like_nagios() -> None:
    assert rules.percent_state_change("O" * 21, 21) == 0
    assert rules.percent_state_change("OW" * 10 + "O", 21) == 100
    assert rules.percent_state_change("O" * 20 + "W", 21) == 6.0  # newest weighs 1.2 of 20
    assert rules.percent_state_change("W" + "O" * 20, 21) == 4.0  # oldest weighs 0.8
    assert rules.percent_state_change("OW", 21) == 6.0  # unfilled slots are "no change"


def test_flapping_starts_above_high_and_stops_below_low() -> None:
    rule = rules.Rule(open_after=100, window=21, high=30, low=25)
    decisions = run([O, W] * 4 + [O] * 30, rule)
    flags = [d.tracker.flapping for d in decisions]
    assert flags.index(True) == 6  # 6 recent changes weigh ~6.9 of 20: 34 % > 30 %
    stop = flags.index(False, flags.index(True))
    pct_before = rules.percent_state_change(decisions[stop - 1].tracker.history, 21)
    pct_at = rules.percent_state_change(decisions[stop].tracker.history, 21)
    assert pct_before >= 25 > pct_at
    assert sum(d.flapping_changed for d in decisions) == 2


@given(st.lists(st.sampled_from([O, W, C, State.UNKNOWN]), min_size=1, max_size=60))
def test_flapping_flag_follows_the_thresholds(states: list[State]) -> None:
    rule = rules.Rule(open_after=1000)
    previous = False
    for d in run(states, rule):
        pct = rules.percent_state_change(d.tracker.history, rule.window)
        if d.tracker.flapping != previous:
            assert (pct > rule.high) if d.tracker.flapping else (pct < rule.low)
        else:
            assert (pct >= rule.low) if previous else (pct <= rule.high)
        assert len(d.tracker.history) <= rule.window
        previous = d.tracker.flapping


def test_fingerprint_is_the_hash_of_the_identifying_labels() -> None:
    assert identity_labels("a", "cpu", None) == {"device": "a", "check": "cpu"}
    assert fingerprint("a", "fs", "/") != fingerprint("a", "fs", "/var")
    assert fingerprint("a", "cpu", None) == fingerprint("a", "cpu", "")
    assert len(fingerprint("核心", "fs", "/")) == 64


def test_default_priority_matrix() -> None:
    p = IncidentSettings().priority
    table = {(i, s): priority_of(impact_of(i, p), urgency_of(s, p), p)
             for i in (1, 2, 3, 4) for s in ("CRIT", "UNKNOWN", "WARN")}
    assert table == {
        (1, "CRIT"): "P1", (1, "UNKNOWN"): "P2", (1, "WARN"): "P3",
        (2, "CRIT"): "P2", (2, "UNKNOWN"): "P3", (2, "WARN"): "P4",
        (3, "CRIT"): "P3", (3, "UNKNOWN"): "P4", (3, "WARN"): "P4",
        (4, "CRIT"): "P4", (4, "UNKNOWN"): "P4", (4, "WARN"): "P4"}
    assert impact_of(None, p) == 3


def test_configured_matrix_and_urgency() -> None:
    s = IncidentSettings.model_validate({
        "priority": {"urgency": {"CRIT": 1, "UNKNOWN": 1, "WARN": 2},
                     "matrix": {i: {1: "P1", 2: "P2", 3: "P3"} for i in (1, 2, 3, 4)}}})
    p = s.priority
    assert priority_of(impact_of(4, p), urgency_of("UNKNOWN", p), p) == "P1"


def test_sla_timer_states() -> None:
    s = IncidentSettings()  # P2: response 30 min, resolution 8 h
    at = {m: sla.timers("P2", T0, None, None, s, T0 + timedelta(minutes=m))[0].state
          for m in (0, 22, 23, 30, 31)}
    assert at == {0: "ok", 22: "ok", 23: "at_risk", 30: "missed", 31: "missed"}
    done = sla.timers("P2", T0, T0 + timedelta(minutes=10), T0 + timedelta(hours=9), s, T0)
    assert [(t.state, t.done) for t in done] == [("met", True), ("missed", True)]
    assert done[1].remaining_seconds == -3600
    assert sla.timers("P9", T0, None, None, s, T0) == []


def test_escalation_follows_the_chain_and_ends() -> None:
    s = IncidentSettings.model_validate({
        "support_groups": {"L1": {"escalate_to": "L2"}, "L2": {}},
        "management": [{"name": "CIO", "email": ["cio@example.com"], "priorities": ["P1"]},
                       {"name": "ops", "email": ["ops@example.com"],
                        "priorities": ["P1", "P2"]}]})
    timers = sla.timers("P1", T0, None, None, s, T0 + timedelta(hours=5))  # both missed
    due = sla.escalations_due("P1", "L1", timers, set(), s)
    assert [(e.key, e.kind, e.to_group) for e in due] == [
        ("response:at_risk", "functional", "L2"), ("response:missed", "hierarchical", None),
        ("resolution:at_risk", "functional", None), ("resolution:missed", "hierarchical", None)]
    assert due[1].recipients == ("cio@example.com", "ops@example.com")
    done = {e.key for e in due}
    assert sla.escalations_due("P1", "L2", timers, done, s) == []
    p3 = sla.escalations_due("P3", None, sla.timers("P3", T0, None, None, s,
                                                    T0 + timedelta(days=9)), set(), s)
    assert [e.contacts for e in p3 if e.kind == "hierarchical"] == [(), ()]


def test_silences_expire_and_wait_for_their_start() -> None:
    s = IncidentSettings.model_validate({"silences": [
        {"device": "db-*", "check": "filesystem", "starts": "2026-03-02T10:00:00+08:00",
         "ends": "2026-03-02T12:00:00+08:00", "reason": "窗口"}]})
    found = [matching.active_silence(s, "db-01", (), "filesystem", "/", T0 + timedelta(hours=h))
             for h in (-7, 1, 3, 4)]
    # 10:00–12:00 +08:00 is 02:00–04:00 UTC; T0 is 08:00 UTC.
    assert [f is not None for f in found] == [False, False, False, False]
    inside = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert matching.active_silence(s, "db-01", (), "filesystem", "/", inside) is not None
    assert matching.active_silence(s, "web-01", (), "filesystem", "/", inside) is None
    assert matching.active_silence(s, "db-01", (), "cpu", None, inside) is None


def test_known_error_and_routing_matching() -> None:
    s = IncidentSettings.model_validate({
        "support_groups": {"net": {}, "dba": {}, "ops": {}},
        "routing": [{"groups": ["network"], "assignee": "net"},
                    {"business_systems": ["核心账务系统"], "assignee": "dba"}],
        "default_group": "ops",
        "known_errors": [{"name": "KE-7", "check": "fans", "message": "(?i)fan \\d+ failed",
                          "cause": "批次缺陷", "workaround": "更换风扇"}]})
    assert matching.assignee_for(s, "sw1", ["network"], None) == "net"
    assert matching.assignee_for(s, "db1", [], "核心账务系统") == "dba"
    assert matching.assignee_for(s, "x", [], None) == "ops"
    assert matching.known_error_for(s, "sw1", "fans", "1", "FAN 2 failed") is not None
    assert matching.known_error_for(s, "sw1", "fans", "1", "fan ok") is None


def test_settings_errors_say_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="invalid duration '15 minutes'"):
        IncidentSettings.model_validate({"sla": {"P1": {"response": "15 minutes",
                                                        "resolution": "4h"}}})
    with pytest.raises(ValidationError, match="uses P2, P3, P4 but sla has no target"):
        IncidentSettings.model_validate({"sla": {"P1": {"response": "15m",
                                                        "resolution": "4h"}}})
    with pytest.raises(ValidationError, match="unknown support group 'L9'"):
        IncidentSettings.model_validate({"support_groups": {"L1": {"escalate_to": "L9"}}})
    with pytest.raises(ValidationError, match=r"flapping\.low"):
        IncidentSettings.model_validate({"flapping": {"high": 20, "low": 25}})
    with pytest.raises(ValidationError, match="invalid regular expression"):
        IncidentSettings.model_validate({"known_errors": [
            {"name": "a", "message": "(", "cause": "c", "workaround": "w"}]})
    with pytest.raises(ValidationError, match="time zone"):
        IncidentSettings.model_validate({"silences": [{"ends": "2026-01-01T00:00:00",
                                                       "reason": "r"}]})
    config = tmp_path / "x.yaml"
    config.write_text("incidents:\n  open_after: 3\n  open_afer: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config, known_checks=CHECK_NAMES)
    assert "x.yaml:3: incidents.open_afer" in str(caught.value)
    good = tmp_path / "ok.yaml"
    good.write_text("incidents:\n  checks:\n    filesystem: {open_after: 2, recover_below: 75}\n"
                    "  sla:\n    P1: {response: 10m, resolution: 2h}\n"
                    "    P2: {response: 1h, resolution: 1d}\n"
                    "    P3: {response: 4h, resolution: 2d}\n"
                    "    P4: {response: 1d, resolution: 1w}\n")
    loaded = load_config(good, known_checks=CHECK_NAMES).config.incidents
    assert loaded.rule_for("filesystem")[:2] == (2, 2)
    assert loaded.sla["P4"].resolution == timedelta(weeks=1)
