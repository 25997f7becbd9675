"""Periodic reports: a day's, an ISO week's or a calendar month's figures from the warehouse marts, as one
self-contained HTML page (inline SVG charts, no scripts, nothing fetched).

Plain functions: `resolve_period` says which days a report covers, `report_figures` reads every figure from an open
warehouse connection into small dataclasses (the queries are sql/*.sql beside this module), and `render_html` turns them
into the page outside the warehouse lock. The same warehouse always gives the same bytes: the page states the data's
"as of" (the latest load in meta.batches), never the time it was made.
"""

import base64
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup

from tasks.core.errors import PermanentError
from tasks.reports.charts import Series, bar_chart, format_value, horizontal_bar_chart, line_chart
from tasks.warehouse.connection import execute_script

REPORT_SQL = Path(__file__).parent / "sql"
TEMPLATES = Path(__file__).parent / "templates"
PERIOD_KINDS = ("daily", "weekly", "monthly")


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
# Figures


class ErrorRates:
    """The error rates of anything that counts its requests and its 4xx and 5xx answers."""

    requests: int
    status_4xx: int
    status_5xx: int

    @property
    def error_rate(self) -> float | None:
        """Requests answered 4xx or 5xx, as a share of all requests."""
        return (self.status_4xx + self.status_5xx) / self.requests if self.requests else None

    @property
    def server_error_rate(self) -> float | None:
        return self.status_5xx / self.requests if self.requests else None


@dataclass(frozen=True)
class TrafficBucket(ErrorRates):
    start: datetime
    requests: int
    bytes: int
    status_4xx: int
    status_5xx: int

    @property
    def other_statuses(self) -> int:
        """Answers that are not errors: 1xx, 2xx and 3xx (logs.hourly counts only 4xx and 5xx apart)."""
        return self.requests - self.status_4xx - self.status_5xx


@dataclass(frozen=True)
class Traffic(ErrorRates):
    """From logs.hourly (buckets), logs.daily (days: day, requests, distinct clients) and logs.requests (top paths:
    rank, path, requests)."""

    buckets: list[TrafficBucket]
    days: list[tuple[date, int, int]]
    top_paths: list[tuple[int, str, int]]

    @property
    def requests(self) -> int:
        return sum(bucket.requests for bucket in self.buckets)

    @property
    def bytes(self) -> int:
        return sum(bucket.bytes for bucket in self.buckets)

    @property
    def status_4xx(self) -> int:
        return sum(bucket.status_4xx for bucket in self.buckets)

    @property
    def status_5xx(self) -> int:
        return sum(bucket.status_5xx for bucket in self.buckets)


@dataclass(frozen=True)
class SessionDay:
    day: date
    sessions: int
    visitors: int
    avg_duration_s: float
    bounce_rate: float
    pages_per_session: float


@dataclass(frozen=True)
class Sessions:
    """From logs.sessions_daily; the period's rates weighted by sessions, its visitors distinct over logs.sessions."""

    days: list[SessionDay]
    sessions: int
    visitors: int
    bounce_rate: float | None
    pages_per_session: float | None
    avg_duration_s: float | None


@dataclass(frozen=True)
class CurrencyRevenue:
    currency: str
    orders: int
    items: int
    revenue: Decimal
    revenue_usd: Decimal | None


@dataclass(frozen=True)
class Sales:
    """From sales.daily_revenue (days: day, orders, revenue_usd; currencies), sales.customer_lifetime (new customers)
    and sales.fact_orders (active customers)."""

    days: list[tuple[date, int, Decimal | None]]
    currencies: list[CurrencyRevenue]
    new_customers: int
    active_customers: int

    @property
    def orders(self) -> int:
        return sum(orders for _, orders, _ in self.days)

    @property
    def revenue_usd(self) -> Decimal | None:
        """The period's USD revenue; unknown while any day lacks a rate."""
        values = [revenue for _, _, revenue in self.days]
        return None if None in values else sum(values, Decimal(0))


@dataclass(frozen=True)
class InvoiceTotal:
    period: str
    currency: str
    invoices: int
    total: Decimal
    exponent: int


@dataclass(frozen=True)
class Billing:
    """From billing.invoices: the invoices of the months the report's days fall in."""

    months: list[str]
    totals: list[InvoiceTotal]


@dataclass(frozen=True)
class Report:
    """Every figure of one report; None for a section whose pipeline never loaded into the warehouse."""

    period: ReportPeriod
    warehouse: str
    as_of: datetime | None  # end of the latest load of the pipelines shown
    traffic: Traffic | None
    sessions: Sessions | None
    sales: Sales | None
    billing: Billing | None


def _rows(connection: duckdb.DuckDBPyConnection, query: str, period: ReportPeriod) -> list[tuple]:
    return execute_script(connection, REPORT_SQL / f"{query}.sql", period.parameters).fetchall()


def report_figures(connection: duckdb.DuckDBPyConnection, period: ReportPeriod, warehouse: str) -> Report:
    """Read the period's figures from the marts of each pipeline that has loaded into the warehouse."""
    loaded = dict(_rows(connection, "components", period))
    traffic = sessions = sales = billing = None
    if "access_logs" in loaded:
        traffic = Traffic(
            buckets=[TrafficBucket(*row) for row in _rows(connection, "traffic", period)],
            days=_rows(connection, "daily_clients", period),
            top_paths=_rows(connection, "top_paths", period),
        )
        [period_sessions] = _rows(connection, "sessions_period", period)
        sessions = Sessions([SessionDay(*row) for row in _rows(connection, "sessions_daily", period)], *period_sessions)
    if "sales" in loaded:
        [(new_customers, active_customers)] = _rows(connection, "customers", period)
        sales = Sales(
            days=_rows(connection, "revenue_daily", period),
            currencies=[CurrencyRevenue(*row) for row in _rows(connection, "revenue_currencies", period)],
            new_customers=new_customers,
            active_customers=active_customers,
        )
    if "billing" in loaded:
        billing = Billing(period.months, [InvoiceTotal(*row) for row in _rows(connection, "invoices", period)])
    shown = [
        pipeline for pipeline, section in (("access_logs", traffic), ("sales", sales), ("billing", billing)) if section
    ]
    as_of = max((loaded[pipeline] for pipeline in shown), default=None)
    return Report(period, warehouse, as_of, traffic, sessions, sales, billing)


# ----------------------------------------------------------------------------------------------------------------------
# The page


def _bucket_label(period: ReportPeriod, start: datetime) -> str:
    return start.strftime("%H:00") if period.kind == "daily" else start.strftime("%m-%d")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _money(value: Decimal | None, exponent: int = 2) -> str:
    return "unknown" if value is None else f"{value:,.{exponent}f}"


def traffic_chart(period: ReportPeriod, traffic: Traffic) -> str:
    """Requests per bucket of the period, stacked by status class: the report's main chart."""
    buckets = traffic.buckets
    labels = [_bucket_label(period, bucket.start) for bucket in buckets]
    axis = "hour of the day (UTC)" if period.kind == "daily" else "day (UTC)"
    return bar_chart(
        f"Requests per {'hour' if period.kind == 'daily' else 'day'}, {period.label}",
        labels,
        [
            Series("1xx-3xx", [bucket.other_statuses for bucket in buckets], "#0072b2"),
            Series("4xx", [bucket.status_4xx for bucket in buckets], "#e69f00"),
            Series("5xx", [bucket.status_5xx for bucket in buckets], "#d55e00"),
        ],
        axis,
    )


def _charts(report: Report) -> dict[str, Markup]:
    charts: dict[str, str] = {}
    period = report.period
    axis = "hour of the day (UTC)" if period.kind == "daily" else "day (UTC)"
    if report.traffic and report.traffic.requests:
        buckets = report.traffic.buckets
        labels = [_bucket_label(period, bucket.start) for bucket in buckets]
        charts["traffic"] = traffic_chart(period, report.traffic)
        charts["error_rate"] = line_chart(
            f"Error rate, {period.label}",
            labels,
            [
                Series("4xx + 5xx", [bucket.error_rate for bucket in buckets], "#e69f00"),
                Series("5xx", [bucket.server_error_rate for bucket in buckets], "#d55e00"),
            ],
            axis,
            percent=True,
        )
        if report.traffic.top_paths:
            charts["top_paths"] = horizontal_bar_chart(
                f"Top paths, {period.label}",
                [path for _, path, _ in report.traffic.top_paths],
                [requests for _, _, requests in report.traffic.top_paths],
                "requests",
            )
    if report.sessions and report.sessions.days:
        days = report.sessions.days
        labels = [day.day.strftime("%m-%d") for day in days]
        charts["sessions"] = bar_chart(
            f"Sessions per day, {period.label}", labels, [Series("sessions", [day.sessions for day in days])], "day"
        )
        charts["bounce_rate"] = line_chart(
            f"Bounce rate per day, {period.label}",
            labels,
            [Series("bounce rate", [day.bounce_rate for day in days], "#cc79a7")],
            "day",
            percent=True,
        )
    if report.sales and report.sales.orders:
        labels = [day.strftime("%m-%d") for day, _, _ in report.sales.days]
        charts["revenue"] = bar_chart(
            f"Revenue in USD per day, {period.label}",
            labels,
            [
                Series(
                    "revenue USD", [None if usd is None else float(usd) for _, _, usd in report.sales.days], "#009e73"
                )
            ],
            "day (UTC)",
        )
    return {name: Markup(svg) for name, svg in charts.items()}


def render_html(report: Report) -> str:
    """The report as one HTML page: every section states its source tables and the period, every number is in a
    table (and a chart where it helps), every text from the data is escaped."""
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, keep_trailing_newline=True)
    environment.filters["number"] = format_value
    environment.filters["percent"] = lambda value: format_value(value, percent=True)
    environment.filters["money"] = _money
    environment.filters["duration"] = _duration
    environment.filters["raw"] = lambda value: "" if value is None else str(value)
    return environment.get_template("report.html").render(
        report=report,
        period=report.period,
        charts=_charts(report),
        bucket_label=lambda start: _bucket_label(report.period, start),
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
    """The main chart (traffic, else revenue) as a `data:image/svg+xml;base64,...` URL, for an image artifact: the
    Prefect UI shows an image artifact as `<img src=...>`, which renders such a URL without fetching anything."""
    charts = _charts(report)
    svg = charts.get("traffic") or charts.get("revenue")
    if svg is None:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode()).decode()


def key_figures(report: Report) -> list[tuple[str, str]]:
    """The report's headline numbers, as (name, shown value), for the markdown artifact and the log."""
    figures = []
    if report.traffic:
        figures += [
            ("requests", format_value(report.traffic.requests)),
            ("error rate (4xx + 5xx)", format_value(report.traffic.error_rate, percent=True)),
            ("server error rate (5xx)", format_value(report.traffic.server_error_rate, percent=True)),
        ]
    if report.sessions:
        figures += [
            ("sessions", format_value(report.sessions.sessions)),
            ("bounce rate", format_value(report.sessions.bounce_rate, percent=True)),
        ]
    if report.sales:
        figures += [
            ("orders (shipped or completed)", format_value(report.sales.orders)),
            ("revenue USD", _money(report.sales.revenue_usd)),
            ("new customers", format_value(report.sales.new_customers)),
            ("active customers", format_value(report.sales.active_customers)),
        ]
    if report.billing:
        figures += [
            (f"invoiced {total.period} {total.currency}", f"{_money(total.total, total.exponent)} ({total.invoices})")
            for total in report.billing.totals
        ]
    return figures
