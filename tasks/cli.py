"""What every flow's command line shares."""

import argparse
import atexit
import os
import sys
import threading

from tasks.settings import DASK_ADDRESS, DASK_WORKERS


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


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--dask-address / --dask-workers: where the flow's tasks run (see tasks/runners.py); defaults from settings."""
    cluster = parser.add_mutually_exclusive_group()
    cluster.add_argument(
        "--dask-address", default=DASK_ADDRESS, metavar="tcp://HOST:PORT", help="run the tasks on this Dask cluster"
    )
    cluster.add_argument(
        "--dask-workers",
        type=int,
        default=DASK_WORKERS,
        metavar="N",
        help="run the tasks on a local Dask cluster of N processes",
    )
