"""What every flow's command line shares."""

import atexit
import os
import sys


def exit_process(code: int) -> None:
    """Run the exit handlers (Prefect stops its temporary server in one), then leave without interpreter teardown.

    DuckDB 2.0's nanobind bindings print a page of benign "leaked instance" warnings when the interpreter tears
    down after a Prefect run; skipping the teardown keeps the terminal readable. Nothing is lost: files are closed
    and the warehouse connection is closed after every unit of work.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
