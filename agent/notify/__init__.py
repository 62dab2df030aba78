"""Notifications of incident state changes: one small interface, several channels."""
