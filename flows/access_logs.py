"""Access logs: Combined Log Format files in, `logs.requests` and the traffic marts out.

python flows/access_logs.py --source DIR --warehouse PATH
"""

import argparse

from tasks.core.settings import SESSION_GAP_ALLOWED, SESSION_GAP_MINUTES
from tasks.kit.arguments import add_file_source_arguments, answer_early, description, file_pattern, positive_int_up_to
from tasks.pipelines.access_logs import ACCESS_LOG_FILES, SAMPLE


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    add_file_source_arguments(parser, SAMPLE, "access logs", day_filter=True)
    parser.add_argument(
        "--pattern",
        dest="patterns",
        type=file_pattern,
        action="append",
        metavar="GLOB",
        help="load the files whose name matches this pattern (repeat for more; '!GLOB' excludes) instead of the "
        f"default {' '.join(ACCESS_LOG_FILES)}",
    )
    parser.add_argument(
        "--session-gap-minutes",
        type=positive_int_up_to(int(SESSION_GAP_ALLOWED.highest)),
        default=SESSION_GAP_MINUTES,
        help="a client's session ends after this many minutes without a request",
    )
    return parser


answer_early(__name__, command_line)

from datetime import date
from pathlib import Path

from prefect import flow, unmapped

from tasks.core.runners import task_runner
from tasks.core.settings import (
    CHUNK_MB,
    DEFAULT_WAREHOUSE,
    MAX_REJECT_RATE,
    REJECT_RATE_MIN_ROWS,
    bytes_in,
)
from tasks.kit.cli import (
    ChunkMiB,
    CommandRefused,
    RejectRate,
    RejectRateMinRows,
    SessionGapMinutes,
    check_file_flow_arguments,
    exit_process,
    parse_command_line,
    refuse_bad_settings,
    run_file_flow,
)
from tasks.kit.pipeline_flow import load_staged_batches
from tasks.kit.steps import discover_batches, stage_file_batch
from tasks.observability.summaries import RunSummary
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.warehouse.connection import EarlyWriteTurn
from tasks.warehouse.loads import FactTable

REQUESTS = FactTable(pipeline=ACCESS_LOG_FORMAT.pipeline, table="logs.requests", partition_day="day")


@refuse_bad_settings
@flow(name="access-logs", task_runner=task_runner())
def access_logs(
    source: Path = SAMPLE,
    warehouse: Path = DEFAULT_WAREHOUSE,
    chunk_mb: ChunkMiB = CHUNK_MB,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
    session_gap_minutes: SessionGapMinutes = SESSION_GAP_MINUTES,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
    reject_rate_min_rows: RejectRateMinRows = REJECT_RATE_MIN_ROWS,
    patterns: list[str] | None = None,
) -> RunSummary:
    """Load the access logs in `source` (files named as web servers and logrotate name them, or matching
    `patterns`, where "!pattern" excludes; all of them, or the named `files`, or those whose name carries a day from
    `first_day` to `last_day`) into the warehouse's logs schema and rebuild its marts. A log is known by its
    content, not its name: only lines not loaded before load, however files were renamed, compressed, copied or
    appended to; `reload` loads them again, as for a backfill. A session ends after `session_gap_minutes` without
    a request; changing it recomputes every session.

    Args:
        session_gap_minutes: Minutes without a request that end a visitor's session; changing it recuts them all.
        patterns: File-name patterns to load instead of the web servers' and logrotate's ("!pattern" excludes).
    """
    # the write turn asked for now, before staging keeps the server busy → discover → stage
    with EarlyWriteTurn() as write_turn:
        discovery = discover_batches(
            source,
            tuple(patterns or ACCESS_LOG_FILES),
            ACCESS_LOG_FORMAT.pipeline,
            warehouse,
            files,
            reload,
            first_day,
            last_day,
            append_only=True,
        )
        staged = stage_file_batch.map(
            discovery.to_load,
            unmapped(ACCESS_LOG_FORMAT),
            unmapped(discovery.staging_root),
            unmapped(bytes_in(chunk_mb)),
        )
        # load → rebuild the marts (with the run's session gap) → report and announce
        return load_staged_batches(
            write_turn,
            ACCESS_LOG_FORMAT.pipeline,
            discovery,
            staged,
            discovery.to_load,
            unmapped(REQUESTS),
            warehouse,
            max_reject_rate,
            reject_rate_min_rows,
            what="access logs",
            mart_settings={"session_gap_minutes": session_gap_minutes},
        )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = command_line()
    args = parse_command_line(parser, argv, access_logs.name)
    check_file_flow_arguments(args, tuple(args.patterns or ACCESS_LOG_FILES), access_logs.name)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    return run_file_flow(
        access_logs,
        args,
        tuple(args.patterns or ACCESS_LOG_FILES),
        schema="logs",
        pipeline=ACCESS_LOG_FORMAT.pipeline,
        session_gap_minutes=args.session_gap_minutes,
        patterns=args.patterns,
    )


if __name__ == "__main__":
    exit_process(main())
