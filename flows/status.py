"""Status: is anything late or failing? Recent runs with their reject rates and throughput, and per pipeline its
last run, its last successful load and a verdict, read from the warehouse's meta.runs and ledger.

python flows/status.py [--warehouse PATH] [--limit N] [--pipeline NAME]

Exit code 0 when every pipeline is OK, 1 when one is FAILING or LATE (for cron or a Nagios-style check), 2 on a
usage error. A plain command, not a Prefect flow: it only reads, and must answer when the Prefect server is the
thing that is down (and start no temporary server, which costs seconds). It lives in flows/ beside the pipelines it
watches, where the issue and the README point to it.
"""

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from tasks.cli import positive_int
from tasks.settings import DEFAULT_WAREHOUSE
from tasks.status import (
    DEPLOYMENTS,
    FAILING,
    LATE,
    OK,
    PipelineActivity,
    Run,
    Verdict,
    duration,
    expected_intervals,
    pipeline_activity,
    recent_runs,
    verdict,
)
from tasks.warehouse import read_warehouse

REASON_SHOWN = 70  # characters of a run's reason in the table; meta.runs.reason has all of it
COLOURS = {OK: "green", LATE: "yellow", FAILING: "bold red"}


def read_status(warehouse: Path, limit: int, pipeline: str | None) -> tuple[list[Run], list[PipelineActivity]]:
    """The recent runs and each pipeline's activity, read under the warehouse's lock; a pipeline asked for by name
    that the warehouse does not know is listed as never run."""
    with read_warehouse(warehouse) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'meta'"
            ).fetchall()
        }
        if not {"runs", "batches"} <= tables:
            raise LookupError(
                f"the warehouse at {warehouse} has no meta.runs yet: run any pipeline once, which migrates it"
            )
        runs = recent_runs(connection, limit, pipeline)
        activity = pipeline_activity(connection, pipeline)
    if pipeline and not activity:
        activity = [PipelineActivity(pipeline, None, None, None, None)]
    return runs, activity


def runs_table(runs: list[Run]) -> Table:
    table = Table(title="Recent runs", title_justify="left")
    for column in ("pipeline", "started (UTC)", "state", "duration", "batches", "rows in", "loaded", "rejected"):
        table.add_column(column, justify="right" if column in ("batches", "rows in", "loaded", "rejected") else "left")
    for column in ("reject rate", "rows/s", "peak MiB"):
        table.add_column(column, justify="right")
    table.add_column("reason", overflow="fold")
    for run in runs:
        batches = f"{run.batches:,}"
        if run.batches_failed:
            batches += f" ({run.batches_failed} failed)"
        if run.already_loaded:
            batches += f" +{run.already_loaded:,} skipped"
        reason = run.reason or ""
        table.add_row(
            run.pipeline,
            _utc(run.started_at),
            run.state,
            duration(run.seconds),
            batches,
            f"{run.rows_in:,}",
            f"{run.rows_loaded:,}",
            f"{run.rows_rejected:,}",
            "-" if run.reject_rate is None else f"{run.reject_rate:.2%}",
            "-" if run.rows_per_second is None else f"{run.rows_per_second:,.0f}",
            "-" if run.peak_memory_bytes is None else f"{run.peak_memory_bytes / 2**20:,.0f}",
            reason if len(reason) <= REASON_SHOWN else reason[: REASON_SHOWN - 1] + "…",
        )
    return table


def pipelines_table(rows: list[tuple[PipelineActivity, Verdict]], now: datetime) -> Table:
    table = Table(title="Pipelines: is anything late or failing?", title_justify="left")
    for column in ("pipeline", "last run (UTC)", "state", "last successful load (UTC)", "age", "verdict", "why"):
        table.add_column(column, overflow="fold" if column == "why" else "ellipsis")
    for activity, judged in rows:
        age = "-" if activity.last_loaded_at is None else duration(now - activity.last_loaded_at)
        why = judged.detail if len(judged.detail) <= REASON_SHOWN else judged.detail[: REASON_SHOWN - 1] + "…"
        table.add_row(
            activity.pipeline,
            _utc(activity.last_run_at),
            activity.last_run_state or "-",
            _utc(activity.last_loaded_at),
            age,
            f"[{COLOURS[judged.word]}]{judged.word}[/]",
            why,
        )
    return table


def _utc(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def main(argv: list[str] | None = None, now: datetime | None = None, deployments: Path = DEPLOYMENTS) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (never created)")
    parser.add_argument("--limit", type=positive_int, default=20, help="recent runs shown (default 20)")
    parser.add_argument("--pipeline", metavar="NAME", help="only this pipeline (e.g. access_logs)")
    args = parser.parse_args(argv)
    try:
        runs, activity = read_status(args.warehouse, args.limit, args.pipeline)
    except (FileNotFoundError, LookupError, duckdb.Error) as error:
        print(f"status: {error}", file=sys.stderr)
        return 2
    now = now or datetime.now(UTC)
    intervals = expected_intervals(deployments)
    judged = [(row, verdict(row, intervals.get(row.pipeline), now)) for row in activity]
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(runs_table(runs) if runs else "No runs recorded in meta.runs.")
    console.print(pipelines_table(judged, now))
    problems = [judgement for _, judgement in judged if judgement.word != OK]
    console.print(
        f"{len(problems)} of {len(judged)} pipeline(s) late or failing"
        if problems
        else f"All {len(judged)} pipeline(s) OK"
    )
    return 1 if any(judgement.word in (FAILING, LATE) for _, judgement in judged) else 0


if __name__ == "__main__":
    sys.exit(main())
