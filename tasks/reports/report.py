"""Periodic reports: a day's, an ISO week's or a calendar month's figures from the warehouse marts, as one
self-contained HTML page (inline SVG charts, no scripts, nothing fetched).

Plain functions: `resolve_period` says which days a report covers, `report_figures` reads the figures of every
section whose pipeline has loaded from an open warehouse connection (each section is a pipeline's, declared in its
folder: its queries, figures, charts and page fragment), and `render_html` turns them into the page outside the
warehouse lock. The same warehouse always gives the same bytes: the page states the data's
"as of" (the latest load in meta.batches), never the time it was made.
"""

import base64
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from markupsafe import Markup

from tasks.core.errors import PermanentError
from tasks.reports import PERIOD_KINDS
from tasks.reports.charts import format_value
from tasks.warehouse.connection import execute_script

REPORT_SQL = Path(__file__).parent / "sql"
TEMPLATES = Path(__file__).parent / "templates"


class PeriodInvalid(ValueError, PermanentError):
    """The report period or its date cannot be understood."""


@dataclass(frozen=True)
class ReportPeriod:
    """The UTC days a report covers, from `first_day` to `last_day` inclusive, and how it is named."""

    kind: str  # daily | weekly | monthly
    first_day: date
    last_day: date
    label: str  # 2026-10-02 | 2026-W40 | 2026-10

    @property
    def next_day(self) -> date:
        return self.last_day + timedelta(days=1)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=offset) for offset in range((self.last_day - self.first_day).days + 1)]

    @property
    def months(self) -> list[str]:
        """The billing periods (YYYY-MM) the report's days fall in: two for a week across a month's end."""
        return sorted({f"{day.year:04d}-{day.month:02d}" for day in (self.first_day, self.last_day)})

    @property
    def file_name(self) -> str:
        return f"{self.kind}-{self.label}.html"

    @property
    def description(self) -> str:
        if self.kind == "daily":
            return f"{self.first_day.isoformat()} (UTC)"
        return f"{self.label}: {self.first_day.isoformat()} to {self.last_day.isoformat()} (UTC)"

    def bucket_label(self, start: datetime) -> str:
        """A chart bucket's label: the hour of a daily report, the day of a longer one."""
        return start.strftime("%H:00") if self.kind == "daily" else start.strftime("%m-%d")

    @property
    def axis(self) -> str:
        return "hour of the day (UTC)" if self.kind == "daily" else "day (UTC)"

    @property
    def parameters(self) -> dict[str, object]:
        """The values the report queries name: the days as a half-open range, the chart bucket, the months."""
        hourly = self.kind == "daily"
        return {
            "first_day": self.first_day,
            "next_day": self.next_day,
            "unit": "hour" if hourly else "day",
            "step": timedelta(hours=1) if hourly else timedelta(days=1),
            "months": self.months,
        }


def resolve_period(kind: str, on: str | None, today: date) -> ReportPeriod:
    """The period of kind `kind` containing the day `on` (YYYY-MM-DD; for a week also YYYY-Www, for a month also
    YYYY-MM); without `on`, the last complete one before `today`: yesterday, last ISO week (Monday to Sunday), or
    last calendar month, so that a scheduled run needs no parameters."""
    if kind not in PERIOD_KINDS:
        raise PeriodInvalid(f"period {kind!r} is not one of {', '.join(PERIOD_KINDS)}")
    day = _parse_day(kind, on) if on else _last_complete(kind, today)
    if day >= date.max - timedelta(days=31):  # its period, or the day after it, would not be a date
        raise PeriodInvalid(f"date {on!r} is too far in the future for a {kind} report")
    if kind == "daily":
        return ReportPeriod(kind, day, day, day.isoformat())
    if kind == "weekly":
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        return ReportPeriod(kind, monday, monday + timedelta(days=6), f"{year:04d}-W{week:02d}")
    first = day.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return ReportPeriod(kind, first, next_first - timedelta(days=1), f"{first.year:04d}-{first.month:02d}")


def _last_complete(kind: str, today: date) -> date:
    if kind == "daily":
        return today - timedelta(days=1)
    if kind == "weekly":
        return today - timedelta(days=today.isoweekday())  # last Sunday: the end of the last complete week
    return today.replace(day=1) - timedelta(days=1)


def _parse_day(kind: str, text: str) -> date:
    week = re.fullmatch(r"([0-9]{4})-W([0-9]{2})", text)
    month = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text)
    try:
        if week and kind == "weekly":
            return date.fromisocalendar(int(week[1]), int(week[2]), 1)
        if month and kind == "monthly":
            return date(int(month[1]), int(month[2]), 1)
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            return date.fromisoformat(text)
    except ValueError as error:
        raise PeriodInvalid(f"date {text!r} is not a {kind} report's date: {error}") from None
    forms = {"daily": "YYYY-MM-DD", "weekly": "YYYY-MM-DD or YYYY-Www", "monthly": "YYYY-MM-DD or YYYY-MM"}[kind]
    raise PeriodInvalid(f"date {text!r} is not a {kind} report's date: write {forms}")


# ----------------------------------------------------------------------------------------------------------------------
# Sections: each pipeline's part of the report lives in the pipeline's folder (report_section.py and its report/
# folder of queries and page fragments); the report flow finds them and hands them to `report_figures`.


class SectionQueries:
    """A section's queries (report/<name>.sql in its pipeline's folder) over the report's period, on a connection."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, folder: Path, period: "ReportPeriod"):
        self.connection, self.folder, self.period = connection, folder, period

    def rows(self, query: str) -> list[tuple]:
        return execute_script(self.connection, self.folder / f"{query}.sql", self.period.parameters).fetchall()


def no_charts(period: ReportPeriod, figures: object) -> dict[str, str]:
    return {}


def no_key_figures(figures: object) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class ReportSection:
    """One section of the report, shown when its pipeline has loaded into the warehouse.

    `read` turns the section's queries into its figures (a small dataclass); the page fragment `<name>.html` in
    `folder` renders them (as `figures`, with the macros of templates/macros.html); `charts` draws them as named SVG
    charts the fragment places (`charts.<name>`); `key_figures` are its headline numbers for the run's artifact and
    log; `main_chart` names the chart that can stand for the whole report in the UI (the first shown wins). Functions
    are module-level, so that a section travels to a task like any other value."""

    name: str  # the page's section id, and the fragment's name
    pipeline: str
    folder: Path
    read: Callable[[SectionQueries], object]
    order: int  # place on the page, smallest first
    charts: Callable[[ReportPeriod, object], dict[str, str]] = no_charts
    key_figures: Callable[[object], list[tuple[str, str]]] = no_key_figures
    main_chart: str | None = None


@dataclass(frozen=True)
class ShownSection:
    section: ReportSection
    figures: object


@dataclass(frozen=True)
class Report:
    """Every figure of one report: the sections of the pipelines that have loaded into the warehouse, in order."""

    period: ReportPeriod
    warehouse: str
    as_of: datetime | None  # end of the latest load of the pipelines shown
    shown: tuple[ShownSection, ...]

    @property
    def section_names(self) -> list[str]:
        return [shown.section.name for shown in self.shown]


def report_figures(
    connection: duckdb.DuckDBPyConnection, period: ReportPeriod, warehouse: str, sections: Sequence[ReportSection]
) -> Report:
    """Read the period's figures of every section whose pipeline has loaded into the warehouse."""
    loaded = dict(SectionQueries(connection, REPORT_SQL, period).rows("components"))
    shown = tuple(
        ShownSection(section, section.read(SectionQueries(connection, section.folder, period)))
        for section in sorted(sections, key=lambda section: (section.order, section.name))
        if section.pipeline in loaded
    )
    as_of = max((loaded[item.section.pipeline] for item in shown), default=None)
    return Report(period, warehouse, as_of, shown)


# ----------------------------------------------------------------------------------------------------------------------
# The page


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def money(value: Decimal | None, exponent: int = 2) -> str:
    return "unknown" if value is None else f"{value:,.{exponent}f}"


def _charts(report: Report) -> dict[str, Markup]:
    charts: dict[str, str] = {}
    for item in report.shown:
        charts |= item.section.charts(report.period, item.figures)
    return {name: Markup(svg) for name, svg in charts.items()}


def render_html(report: Report) -> str:
    """The report as one HTML page: every section states its source tables and the period, every number is in a
    table (and a chart where it helps), every text from the data is escaped."""
    fragments = {item.section.pipeline: FileSystemLoader(item.section.folder) for item in report.shown}
    environment = Environment(
        loader=ChoiceLoader([FileSystemLoader(TEMPLATES), PrefixLoader(fragments)]),
        autoescape=True,
        keep_trailing_newline=True,
    )
    environment.filters["number"] = format_value
    environment.filters["percent"] = lambda value: format_value(value, percent=True)
    environment.filters["money"] = money
    environment.filters["duration"] = duration
    environment.filters["raw"] = lambda value: "" if value is None else str(value)
    return environment.get_template("report.html").render(
        report=report,
        period=report.period,
        charts=_charts(report),
        as_of=report.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if report.as_of else None,
    )


def write_report(report: Report, out: Path) -> Path:
    """Write the page to `out/<kind>-<label>.html`, beside its final name first and then renamed into place, so a
    reader never sees half a page; a later run for the same period replaces it."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / report.period.file_name
    scratch = path.with_name(f".{path.name}.partial")
    scratch.write_text(render_html(report), encoding="utf-8")
    os.replace(scratch, path)
    return path


def chart_data_url(report: Report) -> str | None:
    """The main chart (the first shown section's that has one) as a `data:image/svg+xml;base64,...` URL, for an image
    artifact: the Prefect UI shows an image artifact as `<img src=...>`, which renders such a URL without fetching
    anything."""
    charts = _charts(report)
    for item in report.shown:
        if item.section.main_chart in charts:
            svg = charts[item.section.main_chart]
            return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode()).decode()
    return None


def key_figures(report: Report) -> list[tuple[str, str]]:
    """The report's headline numbers, as (name, shown value), for the markdown artifact and the log."""
    return [figure for item in report.shown for figure in item.section.key_figures(item.figures)]
