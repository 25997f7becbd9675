"""The command line's arguments, built before anything heavy is imported: a flow file builds its parser from these
and answers --help and a mistyped argument (`answer_early`) before Prefect, Polars or DuckDB load, which take
seconds. Only argparse and the settings' bounds (tasks/core/settings.py) are needed here."""

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from tasks.core.settings import (
    CHUNK_MB,
    CHUNK_MB_ALLOWED,
    DASK_ADDRESS,
    DASK_WORKERS,
    DASK_WORKERS_ALLOWED,
    DEFAULT_WAREHOUSE,
    FILE_PATTERNS_ALLOWED,
    MAX_REJECT_RATE,
    REJECT_RATE_ALLOWED,
    REJECT_RATE_MIN_ROWS,
    REJECT_RATE_MIN_ROWS_ALLOWED,
    Allowed,
    parse_dask_address,
)


def answer_early(module_name: str, command_line: Callable[[], argparse.ArgumentParser]) -> None:
    """When the flow file runs as a script, parse its arguments now, at the top of the file: --help prints and
    exits 0, a mistyped argument prints argparse's usage and error and exits 2, before the imports below it. A valid
    command line goes on; its main parses it again with every check."""
    if module_name == "__main__":
        command_line().parse_args(sys.argv[1:])


def description(docstring: str | None) -> str:
    """A command's description for --help: its module docstring's first paragraph."""
    return (docstring or "").split("\n\n")[0]


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


def allowed_number(allowed: Allowed):
    """An argparse type: a whole number that `allowed` allows."""
    return whole_number_from(int(allowed.lowest), int(allowed.highest))


def allowed_size(allowed: Allowed):
    """An argparse type: a number of MiB that `allowed` allows (a fraction is less than a MiB), refused as the flow
    parameter it stands for is refused."""

    def mebibytes(text: str) -> float:
        try:
            return allowed.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{error}, not {text!r}") from None

    return mebibytes


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


def add_reject_rate_argument(parser: argparse.ArgumentParser) -> None:
    """--max-reject-rate and --reject-rate-min-rows: the reject-rate guard's threshold per batch, and the batches it
    applies to."""
    parser.add_argument(
        "--max-reject-rate",
        type=share,
        default=MAX_REJECT_RATE,
        metavar="SHARE",
        help=f"a batch rejecting more than this share of its rows still loads but fails the run and raises an alert "
        f"event (default {MAX_REJECT_RATE}; 1 accepts any share)",
    )
    parser.add_argument(
        "--reject-rate-min-rows",
        type=allowed_number(REJECT_RATE_MIN_ROWS_ALLOWED),
        default=REJECT_RATE_MIN_ROWS,
        metavar="N",
        help=f"the threshold applies to batches of at least N rows; a smaller one's rejects are kept and reported, "
        f"and a batch rejected whole fails the run whatever its size (default {REJECT_RATE_MIN_ROWS}; 0: every batch)",
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
        type=allowed_size(CHUNK_MB_ALLOWED),
        default=CHUNK_MB,
        metavar="MIB",
        help=f"MiB of text parsed at once, 0.0625 for 64 KiB; bounds memory (default: BATCHYARD_CHUNK_BYTES, now "
        f"{CHUNK_MB:g})",
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
