"""The access logs' sections of the periodic report: traffic (requests, status mix, clients, top paths) and
sessions. Their queries and page fragments are in report/ beside this module."""

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.reports.charts import Series, bar_chart, format_value, horizontal_bar_chart, line_chart
from tasks.reports.report import ReportPeriod, ReportSection, SectionQueries

FOLDER = Path(__file__).parent / "report"


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


def read_traffic(queries: SectionQueries) -> Traffic:
    return Traffic(
        buckets=[TrafficBucket(*row) for row in queries.rows("traffic")],
        days=queries.rows("daily_clients"),
        top_paths=queries.rows("top_paths"),
    )


def read_sessions(queries: SectionQueries) -> Sessions:
    [period_sessions] = queries.rows("sessions_period")
    return Sessions([SessionDay(*row) for row in queries.rows("sessions_daily")], *period_sessions)


def traffic_chart(period: ReportPeriod, traffic: Traffic) -> str:
    """Requests per bucket of the period, stacked by status class: the report's main chart."""
    buckets = traffic.buckets
    return bar_chart(
        f"Requests per {'hour' if period.kind == 'daily' else 'day'}, {period.label}",
        [period.bucket_label(bucket.start) for bucket in buckets],
        [
            Series("1xx-3xx", [bucket.other_statuses for bucket in buckets], "#0072b2"),
            Series("4xx", [bucket.status_4xx for bucket in buckets], "#e69f00"),
            Series("5xx", [bucket.status_5xx for bucket in buckets], "#d55e00"),
        ],
        period.axis,
    )


def traffic_charts(period: ReportPeriod, traffic: Traffic) -> dict[str, str]:
    if not traffic.requests:
        return {}
    buckets = traffic.buckets
    charts = {
        "traffic": traffic_chart(period, traffic),
        "error_rate": line_chart(
            f"Error rate, {period.label}",
            [period.bucket_label(bucket.start) for bucket in buckets],
            [
                Series("4xx + 5xx", [bucket.error_rate for bucket in buckets], "#e69f00"),
                Series("5xx", [bucket.server_error_rate for bucket in buckets], "#d55e00"),
            ],
            period.axis,
            percent=True,
        ),
    }
    if traffic.top_paths:
        charts["top_paths"] = horizontal_bar_chart(
            f"Top paths, {period.label}",
            [path for _, path, _ in traffic.top_paths],
            [requests for _, _, requests in traffic.top_paths],
            "requests",
        )
    return charts


def session_charts(period: ReportPeriod, sessions: Sessions) -> dict[str, str]:
    if not sessions.days:
        return {}
    labels = [day.day.strftime("%m-%d") for day in sessions.days]
    return {
        "sessions": bar_chart(
            f"Sessions per day, {period.label}",
            labels,
            [Series("sessions", [day.sessions for day in sessions.days])],
            "day",
        ),
        "bounce_rate": line_chart(
            f"Bounce rate per day, {period.label}",
            labels,
            [Series("bounce rate", [day.bounce_rate for day in sessions.days], "#cc79a7")],
            "day",
            percent=True,
        ),
    }


def traffic_figures(traffic: Traffic) -> list[tuple[str, str]]:
    return [
        ("requests", format_value(traffic.requests)),
        ("error rate (4xx + 5xx)", format_value(traffic.error_rate, percent=True)),
        ("server error rate (5xx)", format_value(traffic.server_error_rate, percent=True)),
    ]


def session_figures(sessions: Sessions) -> list[tuple[str, str]]:
    return [
        ("sessions", format_value(sessions.sessions)),
        ("bounce rate", format_value(sessions.bounce_rate, percent=True)),
    ]


TRAFFIC = ReportSection(
    name="traffic",
    pipeline=ACCESS_LOG_FORMAT.pipeline,
    folder=FOLDER,
    read=read_traffic,
    order=10,
    charts=traffic_charts,
    key_figures=traffic_figures,
    main_chart="traffic",
)
SESSIONS = ReportSection(
    name="sessions",
    pipeline=ACCESS_LOG_FORMAT.pipeline,
    folder=FOLDER,
    read=read_sessions,
    order=20,
    charts=session_charts,
    key_figures=session_figures,
)
SECTIONS = (TRAFFIC, SESSIONS)
