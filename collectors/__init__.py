"""Collectors: connect to a target, run approved commands, return typed facts plus raw output."""
