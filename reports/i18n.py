"""The report's words in zh-CN and en.

Catalogs are YAML files under ``reports/locale/<lang>/`` (one per area: ``report.yaml``,
``checks.yaml``, ``export.yaml`` ...), merged into one flat mapping of dotted keys. Both languages
must have the same keys (a test holds them to it); a missing key is a bug, so it raises.
Values are ``str.format`` templates: ``t("report.level", level=1)``.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from checks.builtin import BUILTIN_CHECKS
from checks.model import State

LANGUAGES = ("zh-CN", "en")


def _flatten(prefix: str, node: Any, into: dict[str, str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, into)
    else:
        into[prefix] = str(node)


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every message of ``lang``, keyed ``file.section.key`` (``report.cover.title``)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language {lang!r}: use one of {', '.join(LANGUAGES)}")
    merged: dict[str, str] = {}
    folder = resources.files("reports").joinpath("locale", lang)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            _flatten(entry.name.removesuffix(".yaml"), yaml.safe_load(entry.read_text("utf-8")),
                     merged)
    return merged


class Translator:
    """``t(key, **values)`` plus the formatting a reader of ``lang`` expects."""

    def __init__(self, lang: str, timezone: str = "UTC") -> None:
        self.lang = lang
        self.zone = ZoneInfo(timezone)
        self._messages = catalog(lang)

    def __call__(self, key: str, /, **values: Any) -> str:
        try:
            text = self._messages[key]
        except KeyError:
            raise KeyError(f"report message {key!r} missing from the {self.lang} catalog") from None
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self._messages

    def check_title(self, check: str, own: str | None = None) -> str:
        """A check's title; custom pack checks without a translation keep their own title
        (``own``, from the pack), else their name."""
        key = f"checks.title.{check}"
        if key in self._messages:
            return self._messages[key]
        spec = BUILTIN_CHECKS.get(check)
        return spec.title if spec else own or check

    def state(self, state: State | str) -> str:
        return self(f"report.state.{State(state).value}")

    def date(self, value: date | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return (f"{value.year}年{value.month}月{value.day}日" if self.lang == "zh-CN"
                else value.isoformat())

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        local = value.astimezone(self.zone)
        return f"{self.date(local.date())} {local:%H:%M}"

    def number(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        return f"{value:,.{digits}f}"

    def uptime(self, days: float | None) -> str:
        """Days, or hours for less than a day."""
        if days is None:
            return "—"
        if days < 1:
            return self("report.device.hours", hours=f"{days * 24:.0f}")
        return self("report.device.days", days=self.number(days))

    def percent(self, ratio: float | None, digits: int = 1) -> str:
        """A 0–1 ratio as a percentage."""
        return "—" if ratio is None else f"{ratio * 100:.{digits}f} %"
