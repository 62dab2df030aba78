"""Checks: declarative thresholds over facts, giving OK / WARN / CRIT / UNKNOWN with evidence."""
