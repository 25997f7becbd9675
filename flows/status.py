"""Status: is anything late or failing? Recent runs with their reject rates and throughput, and per pipeline its
last run, its last successful load and a verdict, read from the warehouse's meta.runs and ledger.

python flows/status.py [--warehouse PATH] [--limit N] [--pipeline NAME]

Exit code 0 when every pipeline is OK, 1 when one is FAILING or LATE (for cron or a Nagios-style check), 2 (with one
line) on a usage error, a bad BATCHYARD_* setting, an unknown pipeline, or a file that is not a readable warehouse.
A plain command, not a Prefect flow: it only reads, and must answer when the Prefect server is the thing that is
down (and start no temporary server, which costs seconds). It lives in flows/ beside the pipelines it watches, where
the issue and the README point to it.
"""

import argparse
from pathlib import Path

from tasks.core.settings import DEFAULT_WAREHOUSE
from tasks.kit.arguments import answer_early

MOST_RUNS = 10_000  # --limit: more rows than anyone reads in a terminal


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (never created)")
    parser.add_argument("--limit", type=int, default=20, help=f"recent runs shown (default 20, at most {MOST_RUNS:,})")
    parser.add_argument("--pipeline", metavar="NAME", help="only this pipeline (e.g. access_logs)")
    return parser


answer_early(__name__, command_line)

import os
import sys
from datetime import UTC, datetime

import duckdb
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tasks.core.deployments import pipeline_names
from tasks.core.settings import SettingError, check_settings
from tasks.observability.status import (
    FAILING,
    LATE,
    OK,
    PipelineActivity,
    Run,
    Verdict,
    check_warehouse_readable,
    duration,
    expected_intervals,
    known_pipelines,
    pipeline_activity,
    recent_runs,
    verdict,
)
from tasks.warehouse.connection import WarehouseUnavailable, read_warehouse

REASON_SHOWN = 70  # characters of a run's reason in the table; meta.runs.reason has all of it
REASON_WIDTH = 60  # the reason column's width at most: the numbers come first on a narrow terminal
# meta.runs.state as the tables show it: the stored names are for queries, these fit a terminal
STATE_SHOWN = {"completed": "completed", "failed": "failed", "rejects_over_threshold": "over threshold"}
COLOURS = {OK: "green", LATE: "yellow", FAILING: "bold red"}


def read_status(
    warehouse: Path,
    limit: int,
    pipeline: str | None,
    known: set[str] = frozenset(),
    always_listed: set[str] = frozenset(),
) -> tuple[list[Run], list[PipelineActivity]]:
    """The recent runs and each pipeline's activity, read under the warehouse's lock. The `always_listed` pipelines
    (the scheduled ones) are listed as never run until they have run: a schedule that never fired is late. A pipeline
    asked for by name that the warehouse does not know is listed as never run if it is one of the `known` (deployed)
    ones; any other name is a LookupError naming those it could be."""
    check_warehouse_readable(warehouse)
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
        everyone = pipeline_activity(connection)
        if pipeline is not None and pipeline not in known | {row.pipeline for row in everyone}:
            names = ", ".join(sorted(known | {row.pipeline for row in everyone}))
            raise LookupError(f"no pipeline called {pipeline!r}; the known pipelines are {names}")
        runs = recent_runs(connection, limit, pipeline)
        activity = [row for row in everyone if pipeline is None or row.pipeline == pipeline]
    wanted = {pipeline} if pipeline else always_listed
    never_run = wanted - {row.pipeline for row in activity}
    activity += [PipelineActivity(name, None, None, None, None) for name in never_run]
    return runs, sorted(activity, key=lambda row: row.pipeline)


def runs_table(runs: list[Run]) -> Table:
    headers = ("pipeline", "started (UTC)", "state", "duration", "batches", "skipped", "rows in", "loaded")
    headers += ("rejected", "reject rate", "rows/s", "peak MiB", "reason")
    rows = [
        (
            run.pipeline,
            _utc(run.started_at),
            STATE_SHOWN.get(run.state, run.state) + (f" ({run.batches_failed})" if run.batches_failed else ""),
            duration(run.seconds),
            f"{run.batches:,}",
            f"{run.already_loaded:,}",
            f"{run.rows_in:,}",
            f"{run.rows_loaded:,}",
            f"{run.rows_rejected:,}",
            "-" if run.reject_rate is None else f"{run.reject_rate:.2%}",
            "-" if run.rows_per_second is None else f"{run.rows_per_second:,.0f}",
            "-" if run.peak_memory_bytes is None else f"{run.peak_memory_bytes / 2**20:,.0f}",
            run.reason or "",
        )
        for run in runs
    ]
    return _table("Recent runs", headers, rows, right_from=3)


def pipelines_table(rows: list[tuple[PipelineActivity, Verdict]], now: datetime) -> Table:
    headers = ("pipeline", "last run (UTC)", "state", "last load (UTC)", "load age", "verdict", "why")
    cells = [
        (
            activity.pipeline,
            _utc(activity.last_run_at),
            STATE_SHOWN.get(activity.last_run_state, activity.last_run_state or "-"),
            _utc(activity.last_loaded_at),
            "-" if activity.last_loaded_at is None else duration(now - activity.last_loaded_at),
            f"[{COLOURS[judged.word]}]{judged.word}[/]",
            judged.detail,
        )
        for activity, judged in rows
    ]
    return _table("Pipelines: is anything late or failing?", headers, cells, right_from=len(headers))


def _table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]], right_from: int) -> Table:
    """A table whose columns keep their content's width, numbers right-aligned from column `right_from`; only the
    last (a reason) is cut, with an ellipsis, when the terminal is narrow."""
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers[:-1]):
        width = max([len(header)] + [len(Text.from_markup(row[index]).plain) for row in rows])
        table.add_column(header, justify="right" if index >= right_from else "left", no_wrap=True, min_width=width)
    table.add_column(headers[-1], no_wrap=True, overflow="ellipsis", max_width=REASON_WIDTH)
    for row in rows:
        table.add_row(*row[:-1], _trimmed(row[-1]))
    return table


def _trimmed(text: str) -> str:
    return text if len(text) <= REASON_SHOWN else text[: REASON_SHOWN - 1] + "…"


def _utc(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%m-%d %H:%M")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: a bad argument is argparse's usage and error (SystemExit 2), a bad BATCHYARD_*
    setting a SettingError. Nothing is read from the warehouse yet."""
    parser = command_line()
    check_settings()  # not tasks.kit.cli's parse_command_line: importing the flows' command-line module costs a second
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= MOST_RUNS:
        parser.error(f"argument --limit: must be from 1 to {MOST_RUNS:,}, not {args.limit}")
    return args


def main(argv: list[str] | None = None, now: datetime | None = None, definitions: dict | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except SettingError as error:
        print(f"status: {error}", file=sys.stderr)
        return 2
    intervals = expected_intervals(definitions)
    try:
        runs, activity = read_status(
            args.warehouse,
            args.limit,
            args.pipeline,
            known_pipelines(definitions),
            set(intervals) & pipeline_names(),
        )
    except (WarehouseUnavailable, LookupError, duckdb.Error, OSError) as error:
        print(f"status: {error}", file=sys.stderr)
        return 2
    now = now or datetime.now(UTC)
    judged = [(row, verdict(row, intervals.get(row.pipeline), now)) for row in activity]
    # a terminal's width, or COLUMNS; else (cron, a pipe) wide enough that rows do not fold
    console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
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
