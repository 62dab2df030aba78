"""Render the report's data: HTML from the Jinja2 template (autoescaped), PDF from that same
HTML with WeasyPrint. Charts are inline SVG made here, so the HTML file stands alone."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from agent.errors import ReportError
from agent.visible import DOCUMENT_VISIBLE
from checks.model import State
from config.reports import ForecastSettings
from reports.charts import STATE_COLOURS, ChartSeries, line_chart, state_bar
from reports.i18n import Translator
from reports.model import ReportData, TrendMetric

#: the chapters, in order: (anchor, title key)
SECTIONS = (
    ("summary", "report.section.summary"), ("inventory", "report.section.inventory"),
    ("findings", "report.section.findings"), ("changes", "report.section.changes"),
    ("trends", "report.section.trends"), ("incidents", "report.section.incidents"),
    ("waivers", "report.section.waivers"), ("devices", "report.section.devices"),
    ("appendix", "report.section.appendix"),
)
#: severity order in the report: worst first
STATES = (State.CRIT, State.UNKNOWN, State.WARN, State.OK)
_RECONCILE = ("matched", "replaced", "missing", "unregistered", "unverified")


def _finalize(value: Any) -> Any:
    # control characters (ANSI escapes in device output ...) shown as their visible symbols
    # (ESC → ␛, the C1 CSI as \x9b, bidi overrides as \u202e): HTML forbids the controls, a
    # terminal showing the file must not obey them, and an override would reorder what is read
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(DOCUMENT_VISIBLE)
    return value


_env = Environment(loader=PackageLoader("reports", "templates"), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   finalize=_finalize)


def _badge(t: Translator) -> Any:
    def badge(state: State | str) -> Markup:
        s = State(state)
        return Markup('<span class="badge state-{}">{}</span>').format(s.value, t.state(s))
    return badge


def _sla(t: Translator) -> Any:
    def sla(met: bool | None) -> str:
        return t("report.incidents.pending") if met is None else \
            t("report.incidents.met") if met else t("report.incidents.missed")
    return sla


def _chart(t: Translator, metric: TrendMetric) -> dict[str, Any]:
    series = [ChartSeries(label=f"{s.device} {s.item}" if s.item else s.device,
                          points=[(p.at, p.value) for p in s.points]) for s in metric.series]
    unit = metric.unit if metric.unit == "%" else f" {metric.unit}"
    return {"title": metric.title, "svg": line_chart(
        series, unit=metric.unit, warn=metric.warn, crit=metric.crit,
        empty_text=t("report.trend.none"), zone=t.zone,
        warn_label=t("report.threshold.warn", value=f"{metric.warn:g}{unit}")
        if metric.warn is not None else None,
        crit_label=t("report.threshold.crit", value=f"{metric.crit:g}{unit}")
        if metric.crit is not None else None)}


def render_html(data: ReportData, forecast_settings: ForecastSettings | None = None,
                trend_periods: int = 6) -> str:
    t = Translator(data.meta.language, data.meta.timezone)
    findings_by_state = [(s, [f for f in data.findings if f.state is s])
                         for s in (State.CRIT, State.UNKNOWN, State.WARN)]
    statuses: Counter[str] = Counter(r.status for r in data.inventory)
    device_bar = [(t.state(s), data.summary.devices_by_state.get(s, 0), STATE_COLOURS[s.value])
                  for s in (State.OK, State.WARN, State.CRIT, State.UNKNOWN)]
    return _env.get_template("report.html.j2").render(
        data=data, t=t, badge=_badge(t), sla=_sla(t), sections=SECTIONS, states=STATES,
        findings_by_state=[(s, items) for s, items in findings_by_state if items],
        inventory_counts=[(s, n) for s in _RECONCILE if (n := statuses.get(s, 0))],
        device_bar=device_bar, state_bar=state_bar,
        charts=[_chart(t, m) for m in data.trends], trend_periods=trend_periods,
        forecast_settings=forecast_settings or ForecastSettings())


class _QuietWeasyPrint:
    """WeasyPrint logs every CSS rule it ignores at WARNING (browser-only properties in our
    shared stylesheet): keep them at DEBUG unless asked."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger("weasyprint")
        self._level = self._logger.level
        if self._logger.getEffectiveLevel() < logging.ERROR and \
                not logging.getLogger().isEnabledFor(logging.DEBUG):
            self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)


def _data_only(url: str) -> dict[str, Any]:
    """The report embeds everything (logos as data: URIs): nothing is fetched from anywhere."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher  # noqa: PLC0415 (see render_pdf)
        return dict(default_url_fetcher(url))
    raise ValueError(f"the report refers to an external resource ({url[:80]}); not fetched")


def render_pdf(html: str) -> bytes:
    """The PDF of the report's HTML (A4, page numbers, bookmarks from the headings)."""
    try:
        # imported on first use: it takes half a second, which every CLI command would pay
        from weasyprint import HTML  # noqa: PLC0415
    except (ImportError, OSError) as exc:  # OSError: Pango missing
        raise ReportError(f"PDF output needs WeasyPrint and Pango: {exc} (install xunjian's "
                          "dependencies, and libpango-1.0-0 from your distribution)") from exc
    with _QuietWeasyPrint():
        try:
            pdf = HTML(string=html, url_fetcher=_data_only).write_pdf()
        except ReportError:
            raise
        except Exception as exc:  # WeasyPrint raises many types; all mean "no PDF"
            raise ReportError(f"PDF rendering failed: {exc}") from exc
    if not pdf:
        raise ReportError("PDF rendering produced nothing")
    return bytes(pdf)
