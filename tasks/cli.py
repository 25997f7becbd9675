"""What every flow's command line shares."""

import argparse
import atexit
import os
import sys
import threading
from datetime import date
from pathlib import Path

from prefect import Flow

from tasks.batches import list_source_files
from tasks.discovery import SourceUnavailable, check_source, select_files
from tasks.runners import DaskNeedsAServer, prefect_server_for_workers, task_runner
from tasks.settings import CHUNK_BYTES, DASK_ADDRESS, DASK_WORKERS, DEFAULT_WAREHOUSE, MAX_REJECT_RATE
from tasks.warehouse import WarehouseUnavailable, describe_warehouse, prepare_warehouse


def exit_process(code: int) -> None:
    """Run the exit hooks (Prefect drains its workers and stops its temporary server), then leave without teardown.

    DuckDB 2.0's nanobind bindings print a page of benign "leaked instance" warnings when the interpreter tears
    down after a Prefect run; skipping the teardown keeps the terminal readable. Nothing is lost: files are closed
    and the warehouse connection is closed after every unit of work.
    """
    threading._shutdown()  # as interpreter exit does first: Prefect drains its log and event workers here
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def whole_number_from(lowest: int, highest: int):
    """An argparse type: a whole number from `lowest` to `highest`."""

    def whole_number(text: str) -> int:
        value = int(text)
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be from {lowest} to {highest:,}, not {value}")
        return value

    return whole_number


# A chunk is held several times over while it is parsed (its text, its lines, the parsed columns) per parse worker.
LARGEST_CHUNK_MB = 1024


def share(text: str) -> float:
    """An argparse type: a share from 0 to 1 (0.05 is 5%)."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1 (0.05 is 5%), not {text}")
    return value


def add_reject_rate_argument(parser: argparse.ArgumentParser) -> None:
    """--max-reject-rate: the reject-rate guard's threshold per batch."""
    parser.add_argument(
        "--max-reject-rate",
        type=share,
        default=MAX_REJECT_RATE,
        metavar="SHARE",
        help=f"a batch rejecting more than this share of its rows still loads but fails the run and raises an alert "
        f"event (default {MAX_REJECT_RATE}; 1 accepts any)",
    )


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--dask-address / --dask-workers: where the flow's tasks run (see tasks/runners.py); defaults from settings."""
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask-address", default=DASK_ADDRESS, metavar="tcp://HOST:PORT", help="run the tasks on this Dask cluster"
    )
    cluster.add_argument(
        "--dask-workers",
        type=whole_number_from(0, 256),
        default=DASK_WORKERS,
        metavar="N",
        help="run the tasks on a local Dask cluster of N processes",
    )


def add_file_source_arguments(parser: argparse.ArgumentParser, source: Path, files: str, day_filter: bool) -> None:
    """The arguments of a flow over a folder of files: --source (default `source`, holding `files`), --warehouse,
    --chunk-mb, --file, --reload, optionally --first-day/--last-day, --max-reject-rate, and the cluster's."""
    parser.add_argument("--source", type=Path, default=source, help=f"folder of {files}")
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (created if missing)")
    parser.add_argument(
        "--chunk-mb",
        type=whole_number_from(1, LARGEST_CHUNK_MB),
        default=CHUNK_BYTES >> 20,
        help="MiB of text parsed at once; bounds memory",
    )
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        metavar="NAME",
        help="load only this file of the source folder (repeat for more); default: every file in it",
    )
    if day_filter:
        parser.add_argument(
            "--first-day",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="load only files whose name carries this day or a later one (a backfill; add --reload to redo loaded ones)",
        )
        parser.add_argument(
            "--last-day", type=date.fromisoformat, metavar="YYYY-MM-DD", help="... and this day or an earlier one"
        )
    parser.add_argument(
        "--reload", action="store_true", help="load the files even if their content is loaded (e.g. after a parser fix)"
    )
    add_reject_rate_argument(parser)
    add_cluster_arguments(parser)


def run_file_flow(
    flow: Flow,
    args: argparse.Namespace,
    file_patterns: tuple[str, ...],
    schema: str,
    pipeline: str,
    **parameters: object,
) -> int:
    """Run `flow` over the files `args` select, on the task runner they ask for, and print the warehouse's state.
    Exit code 2 with a one-line message for a bad source, warehouse or cluster (checked here before a Prefect server
    starts, and again inside the flow), 1 when the run failed, else 0."""
    first_day, last_day = getattr(args, "first_day", None), getattr(args, "last_day", None)
    days = {"first_day": first_day, "last_day": last_day} if hasattr(args, "first_day") else {}
    try:
        check_source(args.source)
        select_files(
            list_source_files(args.source, file_patterns), args.files, args.source, file_patterns, first_day, last_day
        )
        prepare_warehouse(args.warehouse)
        with prefect_server_for_workers(args.dask_address, args.dask_workers):
            state = flow.with_options(task_runner=task_runner(args.dask_address, args.dask_workers))(
                source=args.source,
                warehouse=args.warehouse,
                chunk_bytes=args.chunk_mb << 20,
                files=args.files,
                reload=args.reload,
                max_reject_rate=args.max_reject_rate,
                **days,
                **parameters,
                return_state=True,
            )
    except (SourceUnavailable, WarehouseUnavailable, DaskNeedsAServer) as error:
        print(f"{flow.name}: {error}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema=schema, pipeline=pipeline))
    if not state.is_completed():
        print(f"{flow.name}: {state.message}", file=sys.stderr)
        return 1
    return 0
