"""Migrate: copy tables out of an operational database (a SQLite file, or PostgreSQL) into the warehouse.

python flows/migrate.py --source URL --tables a,b --warehouse PATH
"""

import argparse
from pathlib import Path

from tasks.core.settings import DEFAULT_WAREHOUSE, MIGRATION_BATCH_ROWS, MIGRATION_BATCH_ROWS_ALLOWED
from tasks.kit.arguments import add_reject_rate_argument, allowed_number, answer_early, description
from tasks.pipelines.migrate import SAMPLE


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("names no table")
    return names


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument(
        "--source",
        default=str(SAMPLE),
        metavar="URL",
        help="sqlite:///PATH, a SQLite file, or postgresql://USER@HOST:PORT/DB[?sslmode=...] (a password in it is "
        "moved to PGPASSWORD and never shown; percent-encode it: # is %%23); default: the bundled sample",
    )
    parser.add_argument(
        "--tables", type=_names, metavar="A,B", help="tables to copy (schema.table for PostgreSQL); default: all"
    )
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (created if missing)")
    parser.add_argument("--schema", default="raw", help="warehouse schema the tables go to (default: raw)")
    parser.add_argument(
        "--batch-rows",
        type=allowed_number(MIGRATION_BATCH_ROWS_ALLOWED),
        default=MIGRATION_BATCH_ROWS,
        help="rows per batch: read, converted and committed with its checkpoint at once; bounds memory",
    )
    parser.add_argument(
        "--key",
        action="append",
        metavar="[TABLE=]COL[,COL]",
        help="key columns (unique, never NULL) for a table without a primary key; without TABLE=, for every such table",
    )
    add_reject_rate_argument(parser)
    return parser


answer_early(__name__, command_line)

import os
import sys

from prefect import allow_failure, flow, unmapped

from tasks.core.runners import task_runner
from tasks.core.settings import (
    MAX_REJECT_RATE,
    PROJECT_ROOT,
    REJECT_RATE_MIN_ROWS,
)
from tasks.kit.cli import (
    BatchRows,
    CommandRefused,
    RejectRate,
    RejectRateMinRows,
    exit_process,
    parse_command_line,
    refuse_bad_settings,
)
from tasks.kit.local_server import LocalServerUnavailable, use_local_server
from tasks.kit.steps import announce_completion
from tasks.observability.summaries import RunSummary, final_state
from tasks.pipelines.migrate.migration import (
    PIPELINE,
    MigrationRefused,
    SourceError,
    inspect_source,
    redact,
    source_in_folder,
    url_without_password,
)
from tasks.pipelines.migrate.presentation import follow_tables
from tasks.pipelines.migrate.steps import copy_table, inspect_migration_source, report_migration, verify_table
from tasks.warehouse.connection import WarehouseUnavailable, check_warehouse_name, prepare_warehouse, server_write_turn
from tasks.warehouse.runs import describe_warehouse


@refuse_bad_settings
# on threads whatever BATCHYARD_DASK_ADDRESS says (a work pool's worker may carry it for the parsing pipelines): every
# table copy writes the warehouse, which only the process on its host may open
@flow(name="migrate", task_runner=task_runner(dask_address=None, dask_workers=0))
def migrate(
    source: str = str(SAMPLE.relative_to(PROJECT_ROOT)),
    tables: list[str] | None = None,
    warehouse: Path = DEFAULT_WAREHOUSE,
    target_schema: str = "raw",
    batch_rows: BatchRows = MIGRATION_BATCH_ROWS,
    key: list[str] | None = None,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
    reject_rate_min_rows: RejectRateMinRows = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Copy `tables` (default: all) of the database at `source` (a SQLite file or a postgresql:// URL; keep the
    password in PGPASSWORD rather than the URL) into the warehouse's `target_schema`, in checkpointed batches ordered by
    primary key (or `key`: TABLE=COL[,COL]), verify each table against the source, and record it in the ledger.

    Args:
        source: A SQLite file (a relative path is in the project folder), or a postgresql:// URL without its
            password (set PGPASSWORD on the worker).
        tables: The tables to copy; empty: all of them.
        target_schema: The warehouse schema the tables are copied into.
        batch_rows: Rows copied per checkpointed batch.
        key: TABLE=COL[,COL] for each table without a primary key: the columns that order and identify its rows.
    """
    source = source_in_folder(source, PROJECT_ROOT)  # taken in the project folder of the machine that runs it
    plan = inspect_migration_source(source, tables, target_schema, key, warehouse)
    with server_write_turn():
        copied = copy_table.map(unmapped(source), plan.tables, unmapped(warehouse), unmapped(batch_rows))
        # allow_failure: a table whose copy failed after its retries still reaches the ledger, with its error
        verified = verify_table.map(
            allow_failure(copied), unmapped(source), plan.tables, unmapped(warehouse), unmapped(batch_rows)
        )
        outcomes = follow_tables(verified, plan.tables)
    summary = report_migration(plan, warehouse, outcomes, max_reject_rate, reject_rate_min_rows)
    announce_completion(summary)
    return final_state(summary)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: a bad one stops it with one line and exit code 2, before
    anything is written (the source and the warehouse are checked in main, with the password masked)."""
    parser = command_line()
    return parse_command_line(parser, argv, migrate.name)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    try:  # the same checks run inside the flow; here they fail fast, before a Prefect server is started
        # the password goes to libpq through the environment, so that the flow run's parameters never hold it
        source, password = url_without_password(args.source)
        if password is not None:
            os.environ["PGPASSWORD"] = password
        source = source_in_folder(source, Path.cwd())  # the flow takes a relative path in the project folder
        check_warehouse_name(args.warehouse, (args.schema,))
        inspect_source(source, args.tables, args.schema, args.key)
        prepare_warehouse(args.warehouse)
        use_local_server()
        state = migrate(
            source=source,
            tables=args.tables,
            warehouse=args.warehouse,
            target_schema=args.schema,
            batch_rows=args.batch_rows,
            key=args.key,
            max_reject_rate=args.max_reject_rate,
            reject_rate_min_rows=args.reject_rate_min_rows,
            return_state=True,
        )
    except (MigrationRefused, SourceError, WarehouseUnavailable, LocalServerUnavailable) as error:
        print(f"migrate: {redact(str(error), args.source)}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema=args.schema, pipeline=PIPELINE))
    if not state.is_completed():
        print(f"migrate: {redact(state.message or 'failed', args.source)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_process(main())
