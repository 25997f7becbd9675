"""What every flow's command line shares, and the checks every command and every flow run makes before anything is
written: the BATCHYARD_* settings (tasks/core/settings.py), the flow's parameters against the same bounds as its flags,
and that the Prefect API is there."""

import argparse
import atexit
import functools
import inspect
import os
import sys
import threading
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Annotated, NoReturn

from prefect import Flow
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed
from pydantic import Field

from tasks.core.batches import list_source_files
from tasks.core.runners import DaskNeedsAServer, prefect_server_for_workers, task_runner
from tasks.core.settings import (
    CHUNK_BYTES,
    CHUNK_BYTES_ALLOWED,
    DASK_ADDRESS,
    DASK_WORKERS,
    DASK_WORKERS_ALLOWED,
    DEFAULT_WAREHOUSE,
    FILE_PATTERNS_ALLOWED,
    MAX_REJECT_RATE,
    MIGRATION_BATCH_ROWS_ALLOWED,
    REDUCERS_ALLOWED,
    REJECT_RATE_ALLOWED,
    SESSION_GAP_ALLOWED,
    SPLIT_BYTES_ALLOWED,
    Allowed,
    SettingError,
    check_parameters,
    check_settings,
    parse_dask_address,
)
from tasks.kit.discovery import SourceUnavailable, check_source, select_files
from tasks.warehouse.connection import WarehouseUnavailable, prepare_warehouse
from tasks.warehouse.runs import describe_warehouse

# Seconds the Prefect API has to answer /health: it answers in milliseconds when it is there.
PREFECT_API_PROBE_SECONDS = 3


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


def positive_int_up_to(highest: int):
    """An argparse type: a whole number from 1 to `highest`, said as positive_int says it below 1."""

    def positive_int(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
        if value > highest:
            raise argparse.ArgumentTypeError(f"must be at most {highest:,}, not {value}")
        return value

    return positive_int


def whole_number_from(lowest: int, highest: int):
    """An argparse type: a whole number from `lowest` to `highest`."""

    def whole_number(text: str) -> int:
        value = int(text)
        if not lowest <= value <= highest:
            raise argparse.ArgumentTypeError(f"must be from {lowest} to {highest:,}, not {value}")
        return value

    return whole_number


def allowed_number(allowed: Allowed, scale: int = 1):
    """An argparse type: a whole number of `scale`s (e.g. MiB for a setting in bytes) that `allowed` allows."""
    return whole_number_from(-(-int(allowed.lowest) // scale), int(allowed.highest) // scale)


def share(text: str) -> float:
    """An argparse type: a share from 0 to 1 (0.05 is 5%)."""
    value = float(text)
    if not REJECT_RATE_ALLOWED.lowest <= value <= REJECT_RATE_ALLOWED.highest:  # NaN too
        raise argparse.ArgumentTypeError(f"must be from 0 to 1 (0.05 is 5%), not {text}")
    return value


# Seconds between two scans of a landing folder, at least and at most: not a busy loop, nor a watcher that never
# looks again.
SCAN_INTERVAL_SECONDS = (0.1, 86_400.0)


def seconds_between_scans(text: str) -> float:
    """An argparse type: seconds between two scans of a landing folder, within SCAN_INTERVAL_SECONDS."""
    value = float(text)
    lowest, highest = SCAN_INTERVAL_SECONDS
    if not lowest <= value <= highest:  # NaN too
        raise argparse.ArgumentTypeError(f"must be from {lowest} to {highest:,.0f} seconds, not {text}")
    return value


def file_pattern(text: str) -> str:
    """An argparse type: a file-name pattern, relative to the source folder ("!" before it excludes)."""
    try:
        return FILE_PATTERNS_ALLOWED.check_one(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}, not {text!r}") from None


def dask_address(text: str) -> str | None:
    """An argparse type: a Dask scheduler's address, as BATCHYARD_DASK_ADDRESS takes it."""
    try:
        return parse_dask_address(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def bounded(kind: type, allowed: Allowed):
    """A flow parameter's type: `kind`, with `allowed`'s bounds in its schema (the UI's form and the server refuse
    values outside them) and checked by `refuse_bad_settings` in the run, which says so in one line."""
    return Annotated[kind, Field(json_schema_extra={"minimum": allowed.lowest, "maximum": allowed.highest})]


ChunkBytes = bounded(int, CHUNK_BYTES_ALLOWED)
SplitBytes = bounded(int, SPLIT_BYTES_ALLOWED)
RejectRate = bounded(float, REJECT_RATE_ALLOWED)
SessionGapMinutes = bounded(int, SESSION_GAP_ALLOWED)
Reducers = bounded(int, REDUCERS_ALLOWED)
BatchRows = bounded(int, MIGRATION_BATCH_ROWS_ALLOWED)


def refuse_bad_settings(checked_flow: Flow) -> Flow:
    """Put above `@flow`: a run with a bad BATCHYARD_* setting, or a parameter outside its setting's bounds
    (tasks/core/settings.py's PARAMETERS_ALLOWED: the bounds of the flags), ends Failed at once, before anything is
    written, with the one line that says why and no traceback. It wraps the flow's function once the flow exists, so
    that the flow's version stays the hash of its own file."""
    flow_function = checked_flow.fn
    signature = inspect.signature(flow_function)

    @functools.wraps(flow_function)
    def checked(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        try:
            check_settings()
            check_parameters(bound.arguments)
        except SettingError as error:
            get_run_logger().error("%s", error)
            return Failed(message=str(error))
        return flow_function(*args, **kwargs)

    checked_flow.fn = checked
    return checked_flow


def prefect_api_problem(api_url: str | None = None) -> str | None:
    """Why the Prefect API at `api_url` (by default PREFECT_API_URL) cannot be reached, or None when it answers or
    none is configured (a flow then starts a temporary local server). Any HTTP answer counts as reachable."""
    api_url = api_url if api_url is not None else PREFECT_API_URL.value()
    if not api_url:
        return None
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=PREFECT_API_PROBE_SECONDS):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        said = (reason.strerror or str(reason)) if isinstance(reason, OSError) else str(reason)
        return (
            f"cannot reach the Prefect API at {api_url}: {said[:1].lower() + said[1:]}; unset PREFECT_API_URL to "
            "use a temporary local server, or start the server"
        )


def check_before_running(prefect: bool = True) -> None:
    """SettingError for a bad BATCHYARD_* setting or (with `prefect`) an unreachable Prefect API."""
    check_settings()
    if prefect and (problem := prefect_api_problem()):
        raise SettingError(problem)


class CommandRefused(Exception):
    """A command stops before anything is written: `str()` is its one line (the command's name first)."""

    def say(self) -> int:
        """Print the line to stderr; the exit code, 2."""
        print(self, file=sys.stderr)
        return 2


def refuse(name: str, error: object) -> NoReturn:
    """Stop the command `name` with one line: CommandRefused, which its main turns into exit code 2."""
    raise CommandRefused(f"{name}: {error}")


def parse_command_line(
    parser: argparse.ArgumentParser, argv: list[str] | None, name: str, prefect: bool = True
) -> argparse.Namespace:
    """`argv` parsed by `parser`, once the settings (and, with `prefect`, the Prefect API) are checked. A bad
    argument is argparse's usage and error (SystemExit 2); a bad setting or an unreachable API, CommandRefused."""
    try:
        check_settings()
    except SettingError as error:
        refuse(name, error)
    args = parser.parse_args(argv)
    try:
        check_before_running(prefect)
    except SettingError as error:
        refuse(name, error)
    return args


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
    """--dask-address / --dask-workers: where the flow's tasks run (see tasks/core/runners.py); defaults from settings."""
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask-address",
        type=dask_address,
        default=DASK_ADDRESS,
        metavar="tcp://HOST:PORT",
        help="run the tasks on this Dask cluster",
    )
    cluster.add_argument(
        "--dask-workers",
        type=allowed_number(DASK_WORKERS_ALLOWED),
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
        type=allowed_number(CHUNK_BYTES_ALLOWED, scale=1 << 20),
        help=f"MiB of text parsed at once; bounds memory (default: BATCHYARD_CHUNK_BYTES, now {CHUNK_BYTES:,} bytes)",
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


def check_file_source(args: argparse.Namespace, file_patterns: tuple[str, ...]) -> None:
    """SourceUnavailable when the source folder, the files or days `args` name, or the patterns, select nothing
    loadable: it reads the folder and writes nothing."""
    try:
        check_source(args.source)
        select_files(
            list_source_files(args.source, file_patterns),
            args.files,
            args.source,
            file_patterns,
            getattr(args, "first_day", None),
            getattr(args, "last_day", None),
        )
    except (ValueError, NotImplementedError, OSError) as error:  # a NUL in a name, an empty or absolute pattern
        raise SourceUnavailable(f"cannot list {args.source} with {' '.join(file_patterns)}: {error}") from error


def check_warehouse_path(warehouse: Path) -> None:
    """WarehouseUnavailable when `warehouse` cannot be a DuckDB file to write (a folder, a device, a NUL in its
    name); whether a file there is a batchyard warehouse is checked when it is opened, before anything is written."""
    if "\0" in str(warehouse):
        raise WarehouseUnavailable(f"the warehouse path {str(warehouse)!r} holds a NUL character")
    if warehouse.exists() and not warehouse.is_file():
        raise WarehouseUnavailable(f"the warehouse {warehouse} is a folder or a device, not a DuckDB file")


def check_file_flow_arguments(args: argparse.Namespace, file_patterns: tuple[str, ...], name: str) -> None:
    """Stop the command with one line and exit code 2 when its source, files or warehouse cannot work."""
    try:
        check_file_source(args, file_patterns)
        check_warehouse_path(args.warehouse)
    except (SourceUnavailable, WarehouseUnavailable) as error:
        refuse(name, error)


def run_file_flow(
    flow: Flow,
    args: argparse.Namespace,
    file_patterns: tuple[str, ...],
    schema: str,
    pipeline: str,
    **parameters: object,
) -> int:
    """Run `flow` over the files `args` select, on the task runner they ask for, and print the warehouse's state.
    Exit code 2 with a one-line message for a bad setting, an unreachable Prefect API, a bad source, warehouse or
    cluster (checked here before anything is written or a Prefect server starts, and again inside the flow), 1 when
    the run failed, else 0."""
    days = {"first_day": args.first_day, "last_day": args.last_day} if hasattr(args, "first_day") else {}
    try:
        check_before_running()
        check_file_source(args, file_patterns)
        check_warehouse_path(args.warehouse)
        with prefect_server_for_workers(args.dask_address, args.dask_workers):  # DaskNeedsAServer first
            prepare_warehouse(args.warehouse)
            state = flow.with_options(task_runner=task_runner(args.dask_address, args.dask_workers))(
                source=args.source,
                warehouse=args.warehouse,
                chunk_bytes=CHUNK_BYTES if args.chunk_mb is None else args.chunk_mb << 20,
                files=args.files,
                reload=args.reload,
                max_reject_rate=args.max_reject_rate,
                **days,
                **parameters,
                return_state=True,
            )
    except (SettingError, SourceUnavailable, WarehouseUnavailable, DaskNeedsAServer) as error:
        print(f"{flow.name}: {error}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema=schema, pipeline=pipeline))
    if not state.is_completed():
        print(f"{flow.name}: {state.message}", file=sys.stderr)
        return 1
    return 0
