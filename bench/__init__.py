"""The fleet benchmark (issue 7): xunjian side by side with the tools engineers use today.

``python -m bench --size quick|full`` starts OpenSSH-backed hosts and simulated network devices
on loopback, inspects them with every client in turn and prints the table of docs/performance.md.
Not part of the package or of the default test run (tests/bench/ holds its smoke test).
"""
