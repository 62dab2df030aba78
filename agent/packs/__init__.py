"""Inspection pack management in the agent: approving, testing and comparing custom packs."""
