"""The peer clients the benchmark runs as their own processes (each reads a JSON job file and
prints a JSON summary on stdout: hosts, ok, failed)."""
