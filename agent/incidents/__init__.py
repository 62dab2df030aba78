"""Incidents: open, deduplicate, prioritise, escalate, notify and resolve automatically.

``engine.IncidentEngine`` observes stored inspection results (a runner observer);
``repo.IncidentRepo`` reads and changes incidents (CLI, HTTP API, metrics). The decision
logic is pure and separate: ``rules`` (open/resolve/flapping), ``priority`` (impact ×
urgency), ``sla`` (timers and escalation decisions), ``fingerprint`` (identity).
"""
