"""What every flow's command line shares, and the checks every command and every flow run makes before anything is
written: the BATCHYARD_* settings (tasks/core/settings.py), the flow's parameters against the same bounds as its flags,
and that the Prefect API is there."""

import argparse
import atexit
import functools
import inspect
import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, NoReturn

from prefect import Flow
from prefect.logging import get_run_logger
from prefect.settings import PREFECT_API_URL
from prefect.states import Failed
from prefect.utilities.callables import parameter_docstrings, parameter_schema
from pydantic import Field

from tasks.core.batches import list_source_files
from tasks.core.errors import PermanentError
from tasks.core.runners import (
    DaskNeedsAServer,
    DaskNeedsSharedStaging,
    check_shared_staging,
    prefect_server_for_workers,
    task_runner,
)
from tasks.core.settings import (
    CHUNK_MB_ALLOWED,
    MIGRATION_BATCH_ROWS_ALLOWED,
    PROJECT_ROOT,
    REDUCERS_ALLOWED,
    REJECT_RATE_ALLOWED,
    REJECT_RATE_MIN_ROWS_ALLOWED,
    SESSION_GAP_ALLOWED,
    SPLIT_MB_ALLOWED,
    Allowed,
    SettingError,
    check_parameters,
    check_settings,
)
from tasks.kit.discovery import SourceUnavailable, check_source, select_files
from tasks.kit.heartbeats import end_runs_without_joining_heartbeats
from tasks.kit.local_server import LocalServerUnavailable, use_local_server
from tasks.warehouse.connection import WarehouseUnavailable, prepare_warehouse
from tasks.warehouse.runs import describe_warehouse

end_runs_without_joining_heartbeats()  # every flow's module imports this one, so every run's process does it

# Seconds the Prefect API has to answer /health: it answers in milliseconds when it is there.
PREFECT_API_PROBE_SECONDS = 3


def quiet_teardown() -> None:
    """After the exit hooks of the run, the interpreter's teardown writes nothing more to stderr.

    DuckDB 2.0's nanobind bindings print a page of benign "leaked instance/type/function" warnings when the
    interpreter tears down after a Prefect run (about 40 lines per run in a worker's log, where an operator reads them
    as a memory bug); DuckDB's Python package offers no switch for them. Nothing is lost: files and the warehouse
    connection are closed after every unit of work, a flow's errors are logged and printed before the exit hooks run,
    and the hooks registered during the run (Prefect's log and event workers, its temporary server) run before this
    one. Only the hooks registered before this module was imported run after it, silenced: `logging.shutdown`,
    multiprocessing's and Polars' clean-ups, which print nothing when all is well.

    Registered when this module is imported, which every flow does: it covers runs started by a worker, `serve` or the
    landing watcher (Prefect's engine imports the flow's file) as well as `python flows/x.py`.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), sys.stderr.fileno())


atexit.register(quiet_teardown)


class PermanentErrorsInOneLine(logging.Filter):
    """Prefect logs a failed task or flow run's exception with its traceback (60 lines for a file that is not there).
    A PermanentError's message is the whole answer (tasks/core/errors.py: a bad setting, source or file, named in one
    line), so its traceback is left out; any other exception keeps it, for whoever debugs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermanentError):
            record.exc_info = None
            record.exc_text = None
        return True


for run_logger_name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(run_logger_name).addFilter(PermanentErrorsInOneLine())


def exit_process(code: int) -> None:
    """Run the exit hooks (Prefect drains its workers and stops its temporary server), then leave without the
    interpreter's teardown, which only costs time once a command has answered."""
    threading._shutdown()  # as interpreter exit does first: Prefect drains its log and event workers here
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def bounded(kind: type, allowed: Allowed):
    """A flow parameter's type: `kind`, with `allowed`'s bounds in its schema (the UI's form and the server refuse
    values outside them) and checked by `refuse_bad_settings` in the run, which says so in one line."""
    return Annotated[kind, Field(json_schema_extra={"minimum": allowed.lowest, "maximum": allowed.highest})]


def one_of(choices: Iterable[str]):
    """A str parameter the UI's form offers as a choice of `choices`. Not a Literal: Prefect would refuse another
    value (from the API) with a multi-line validation error, where the flow says why in one line."""
    return Annotated[str, Field(json_schema_extra={"enum": list(choices)})]


ChunkMiB = bounded(float, CHUNK_MB_ALLOWED)
SplitMiB = bounded(float, SPLIT_MB_ALLOWED)
RejectRate = bounded(float, REJECT_RATE_ALLOWED)
RejectRateMinRows = bounded(int, REJECT_RATE_MIN_ROWS_ALLOWED)
SessionGapMinutes = bounded(int, SESSION_GAP_ALLOWED)
Reducers = bounded(int, REDUCERS_ALLOWED)
BatchRows = bounded(int, MIGRATION_BATCH_ROWS_ALLOWED)


# What the UI's run form says under the parameters many flows share; a flow's docstring describes its own in an
# "Args:" section (Prefect reads the descriptions there), and may say more about a shared one.
SHARED_PARAMETERS = {
    "source": "The folder to load files from (a relative path is in the project folder).",
    "warehouse": "The DuckDB warehouse file, created on first use (a relative path is in the project folder).",
    "out": "The folder to write the documents to (a relative path is in the project folder).",
    "chunk_mb": "MiB of a file parsed at a time (0.0625 is 64 KiB), which bounds each parsing thread's memory.",
    "files": "Only these files of the source folder, by name; empty: every file not loaded yet.",
    "reload": "Load the selected files again even where their content is loaded already, as for a backfill.",
    "first_day": "Only the files whose name carries a day from this one (YYYY-MM-DD).",
    "last_day": "Only the files whose name carries a day up to this one (YYYY-MM-DD).",
    "max_reject_rate": "A batch rejecting more than this share of its rows (0.05 is 5%) fails the run, once loaded.",
    "reject_rate_min_rows": "The reject-rate threshold applies to batches of at least this many rows (0: every "
    "batch); a smaller batch's rejects are kept and reported all the same, and a batch rejected whole fails the run "
    "whatever its size.",
}


def describe_parameters(described: Flow) -> Flow:
    """Make the UI's run form of `described` say what each parameter is: its docstring's "Args:" section, rewritten
    with the shared descriptions of the parameters it does not describe itself; and show a default path inside the
    project folder relative to it (`data/warehouse.duckdb`, not a path on the machine that ran `prefect deploy`),
    which each run takes in the project folder of the machine that runs it (`refuse_bad_settings`). Prefect reads
    both from the flow's docstring and signature when it deploys or serves it."""
    docstring = inspect.getdoc(described.fn) or ""
    own = parameter_docstrings(docstring)
    parameters = inspect.signature(described.fn).parameters
    descriptions = SHARED_PARAMETERS | own
    args = [f"    {name}: {' '.join(descriptions[name].split())}" for name in parameters if name in descriptions]
    described.__doc__ = docstring.split("\nArgs:\n")[0].rstrip() + "\n\nArgs:\n" + "\n".join(args)
    described.__signature__ = inspect.signature(described.fn).replace(
        parameters=[
            parameter.replace(default=parameter.default.relative_to(PROJECT_ROOT))
            if isinstance(parameter.default, Path) and parameter.default.is_relative_to(PROJECT_ROOT)
            else parameter
            for parameter in parameters.values()
        ]
    )
    described.parameters = parameter_schema(described)
    return described


def refuse_bad_settings(checked_flow: Flow) -> Flow:
    """Put above `@flow`: a run with a bad BATCHYARD_* setting, or a parameter outside its setting's bounds
    (tasks/core/settings.py's PARAMETERS_ALLOWED: the bounds of the flags), ends Failed at once, before anything is
    written, with the one line that says why and no traceback. A relative path parameter (a default, or typed in the
    UI) is taken in the project folder of the machine that runs the flow: a worker in its own clone loads into its
    own `data/`. The command lines pass absolute paths, relative ones taken in the working directory as usual.

    It wraps the flow's function once the flow exists, so that the flow's version stays the hash of its own file,
    and it fills the flow's parameter descriptions for the UI (`describe_parameters`)."""
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
        for name, value in bound.arguments.items():
            if isinstance(value, Path) and not value.is_absolute():
                bound.arguments[name] = PROJECT_ROOT / value
        return flow_function(*bound.args, **bound.kwargs)

    checked_flow.fn = checked
    return describe_parameters(checked_flow)


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
    # the flow takes a relative path in the project folder; on the command line it means the working directory's
    for option, value in vars(args).items():
        if isinstance(value, Path) and not value.is_absolute():
            setattr(args, option, value.absolute())
    return args


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
        use_local_server()
        check_warehouse_path(args.warehouse)
        with prefect_server_for_workers(args.dask_address, args.dask_workers):  # DaskNeedsAServer first
            check_shared_staging(args.dask_address)
            prepare_warehouse(args.warehouse)
            state = flow.with_options(task_runner=task_runner(args.dask_address, args.dask_workers))(
                source=args.source,
                warehouse=args.warehouse,
                chunk_mb=args.chunk_mb,
                files=args.files,
                reload=args.reload,
                max_reject_rate=args.max_reject_rate,
                reject_rate_min_rows=args.reject_rate_min_rows,
                **days,
                **parameters,
                return_state=True,
            )
    except (
        SettingError,
        SourceUnavailable,
        WarehouseUnavailable,
        DaskNeedsAServer,
        DaskNeedsSharedStaging,
        LocalServerUnavailable,
    ) as error:
        print(f"{flow.name}: {error}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema=schema, pipeline=pipeline))
    if not state.is_completed():
        print(f"{flow.name}: {state.message}", file=sys.stderr)
        return 1
    return 0
