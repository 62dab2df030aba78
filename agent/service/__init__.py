"""The long-running agent (``xunjian serve``): schedules, HTTP API and Prometheus metrics."""
