"""``python -m agent`` runs the xunjian CLI."""

from agent.cli import main

main()
