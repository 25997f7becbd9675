"""Is anything late or failing? The recent runs (meta.runs), each pipeline's last load, and a verdict per pipeline.

Plain functions over rows and a given "now", so that the verdicts are testable without a clock or a warehouse;
flows/status.py prints them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

import duckdb
from cronsim import CronSim

from tasks.core.deployments import deployment_definitions
from tasks.observability.monitoring import FAILED, REJECTS_OVER_THRESHOLD
from tasks.warehouse.connection import META_SQL, WarehouseUnavailable, read_warehouse, refuse_a_foreign_database

OK = "OK"
LATE = "LATE"
FAILING = "FAILING"


@dataclass(frozen=True)
class Run:
    """A row of meta.runs, as the status table shows it."""

    pipeline: str
    flow_run_id: str
    flow_run_name: str | None
    started_at: datetime
    finished_at: datetime
    state: str
    reason: str | None
    batches: int
    batches_failed: int
    already_loaded: int
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    reject_rate: float | None
    seconds: float
    rows_per_second: float | None
    peak_memory_bytes: int | None


@dataclass(frozen=True)
class PipelineActivity:
    """A pipeline's latest run (None: no run recorded) and latest successful load (None: nothing loaded yet)."""

    pipeline: str
    last_run_at: datetime | None
    last_run_state: str | None
    last_run_reason: str | None
    last_loaded_at: datetime | None


@dataclass(frozen=True)
class Verdict:
    word: str  # OK | LATE | FAILING
    detail: str


# Bytes 8 to 12 of every DuckDB database file (its header's magic), so a file is known without DuckDB opening it.
DUCKDB_MAGIC = b"DUCK"


def check_warehouse_readable(warehouse: Path) -> None:
    """WarehouseUnavailable, saying why in one line, unless `warehouse` is a batchyard warehouse (or an empty DuckDB
    database) this process can read. Nothing is written to the file (its lock file beside it is created)."""
    if "\0" in str(warehouse):
        raise WarehouseUnavailable(f"the warehouse path {str(warehouse)!r} holds a NUL character")
    if not warehouse.exists():
        raise WarehouseUnavailable(f"no warehouse at {warehouse}")
    if not warehouse.is_file():
        raise WarehouseUnavailable(f"the warehouse {warehouse} is a folder or a device, not a DuckDB file")
    try:
        with warehouse.open("rb") as file:
            header = file.read(12)
    except PermissionError:
        raise WarehouseUnavailable(f"cannot read the warehouse {warehouse}: permission denied") from None
    if header[8:12] != DUCKDB_MAGIC:
        raise WarehouseUnavailable(f"{warehouse} is not a DuckDB database (nothing was written to it)")
    try:
        with read_warehouse(warehouse) as connection:
            refuse_a_foreign_database(connection)
    except (OSError, duckdb.Error) as error:
        raise WarehouseUnavailable(f"cannot read the warehouse {warehouse}: {error}") from error


def known_pipelines(definitions: dict | None = None) -> set[str]:
    """The pipelines the project deploys (tasks/core/deployments.py): each deployment's entrypoint file's name
    (flows/sales.py: sales)."""
    specs = (definitions or deployment_definitions())["deployments"]
    return {PurePosixPath(spec["entrypoint"].split(":")[0]).stem for spec in specs}


def recent_runs(connection: duckdb.DuckDBPyConnection, limit: int, pipeline: str | None = None) -> list[Run]:
    rows = connection.execute(
        (META_SQL / "recent_runs.sql").read_text(), {"limit": limit, "pipeline": pipeline}
    ).fetchall()
    return [Run(*row) for row in rows]


def pipeline_activity(connection: duckdb.DuckDBPyConnection, pipeline: str | None = None) -> list[PipelineActivity]:
    rows = connection.execute((META_SQL / "pipeline_activity.sql").read_text(), {"pipeline": pipeline}).fetchall()
    return [PipelineActivity(*row) for row in rows]


def schedule_interval(cron: str, timezone: str = "UTC", start: datetime | None = None) -> timedelta:
    """The longest gap between two consecutive fire times of a cron schedule, over its next 1,000 fire times within a
    year from `start` (the schedule's promise: `0 3 1 * *` is 31 days, `5 * * * *` an hour)."""
    zone = ZoneInfo(timezone)
    start = (start or datetime(2026, 1, 1)).replace(tzinfo=zone)
    fires = CronSim(cron, start)
    previous, longest = next(fires), timedelta(0)
    for _ in range(1_000):  # enough for a weekend gap in a quarter-hourly schedule, or a year of a monthly one
        current = next(fires)
        longest = max(longest, current - previous)
        previous = current
        if current - start > timedelta(days=366):
            break
    return longest


def expected_intervals(definitions: dict | None = None) -> dict[str, timedelta]:
    """Per pipeline, the shortest interval its deployments' cron schedules promise. A deployment belongs to the
    pipeline its entrypoint's file is named after (flows/access_logs.py: access_logs). Pipelines without a schedule
    (on demand, or triggered by events) are not in it: they cannot be late."""
    specs = (definitions or deployment_definitions())["deployments"]
    intervals: dict[str, timedelta] = {}
    for spec in specs:
        pipeline = PurePosixPath(spec["entrypoint"].split(":")[0]).stem
        for schedule in spec.get("schedules") or []:
            if "cron" not in schedule or schedule.get("active") is False:
                continue
            interval = schedule_interval(schedule["cron"], schedule.get("timezone", "UTC"))
            intervals[pipeline] = min(interval, intervals.get(pipeline, interval))
    return intervals


def grace(interval: timedelta) -> timedelta:
    """Slack on top of a schedule's interval before a pipeline counts as late: a quarter of it, at least an hour (a
    run takes time, and queues behind others for the warehouse)."""
    return max(timedelta(hours=1), interval / 4)


def verdict(activity: PipelineActivity, interval: timedelta | None, now: datetime) -> Verdict:
    """FAILING when the latest run ended Failed (a batch failed, or rejected more than the threshold allows); LATE
    when the pipeline runs on a schedule and its last successful load is older than the schedule's interval plus
    the grace (or it never loaded); OK otherwise. A run killed before it recorded itself is not a run here: its
    pipeline's last successful load just grows older."""
    if activity.last_run_state in (FAILED, REJECTS_OVER_THRESHOLD):
        return Verdict(FAILING, activity.last_run_reason or activity.last_run_state)
    if interval is not None:
        allowed = interval + grace(interval)
        every = f"expected every {duration(interval)} (+{duration(grace(interval))} grace)"
        if activity.last_loaded_at is None:
            return Verdict(LATE, f"nothing loaded yet; {every}")
        age = now - activity.last_loaded_at
        if age > allowed:
            return Verdict(LATE, f"last load {duration(age)} ago; {every}")
        return Verdict(OK, every)
    if activity.last_run_at is None and activity.last_loaded_at is None:
        return Verdict(OK, "never run; not scheduled")
    return Verdict(OK, "not scheduled")


def duration(span: timedelta | float) -> str:
    """A span as a person reads it: 12.3 s, 4 min 05 s, 3 h 20 min, 2 d 4 h."""
    seconds = span.total_seconds() if isinstance(span, timedelta) else span
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
