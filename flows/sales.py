"""Sales: daily export files in, the `sales` star schema (SCD2 customers, order facts) and its marts out.

python flows/sales.py --source DIR --warehouse PATH
"""

import argparse
import sys
from datetime import date
from pathlib import Path

from prefect import allow_failure, flow, unmapped

from tasks.batches import list_source_files
from tasks.cli import add_cluster_arguments, exit_process, positive_int
from tasks.discovery import SourceUnavailable, check_source, select_files
from tasks.reporting import RunSummary, final_state, follow_progress
from tasks.runners import DaskNeedsAServer, prefect_server_for_workers, task_runner
from tasks.sales import EXPORT_FILES, PIPELINE
from tasks.settings import CHUNK_BYTES, DEFAULT_WAREHOUSE, SAMPLE_SALES
from tasks.steps import (
    announce_completion,
    discover_batches,
    load_batch,
    plan_sales_exports,
    rebuild_marts,
    report_run,
    report_sales_model,
    stage_file_batch,
)
from tasks.warehouse import WarehouseUnavailable, describe_warehouse, prepare_warehouse, server_write_turn


@flow(name="sales", task_runner=task_runner())
def sales(
    source: Path = SAMPLE_SALES,
    warehouse: Path = DEFAULT_WAREHOUSE,
    chunk_bytes: int = CHUNK_BYTES,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
) -> RunSummary:
    """Load the export files in `source` (customers_, orders_, order_lines_ and fx_rates_<date>, as .csv, .csv.gz
    or .parquet; all, or the named `files`, or those exported from `first_day` to `last_day`) into the warehouse's
    sales schema, and rebuild its star schema and marts. Files loaded before with the same content are skipped
    unless `reload` is set; a changed file replaces its earlier rows."""
    discovery = discover_batches(source, EXPORT_FILES, PIPELINE, warehouse, files, reload, first_day, last_day)
    exports = plan_sales_exports(discovery)
    staged = stage_file_batch.map(exports.batches, exports.formats, unmapped(warehouse), unmapped(chunk_bytes))
    with server_write_turn():
        # allow_failure: a file whose staging failed after its retries still reaches the ledger, with its error
        loaded = load_batch.map(allow_failure(staged), exports.batches, exports.tables, unmapped(warehouse))
        followed = follow_progress(loaded, exports.batches, what="sales exports")
        export_days_rebuilt = rebuild_marts(PIPELINE, warehouse)
    report_sales_model(warehouse)
    summary = report_run(PIPELINE, discovery, warehouse, followed, export_days_rebuilt)
    announce_completion(summary)
    return final_state(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=sales.description)
    parser.add_argument("--source", type=Path, default=SAMPLE_SALES, help="folder of export files")
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (created if missing)")
    parser.add_argument(
        "--chunk-mb", type=positive_int, default=CHUNK_BYTES >> 20, help="MiB of a file parsed at once; bounds memory"
    )
    parser.add_argument(
        "--file", dest="files", action="append", metavar="NAME", help="load only this file of the source (repeat)"
    )
    parser.add_argument(
        "--first-day",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="load only files exported on or after this day",
    )
    parser.add_argument(
        "--last-day", type=date.fromisoformat, metavar="YYYY-MM-DD", help="... and on or before this day"
    )
    parser.add_argument("--reload", action="store_true", help="load the files even if their content is loaded")
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    try:  # the same checks run inside the flow; here they fail fast, before a Prefect server is started
        check_source(args.source)
        listed = list_source_files(args.source, EXPORT_FILES)
        select_files(listed, args.files, args.source, EXPORT_FILES, args.first_day, args.last_day)
        prepare_warehouse(args.warehouse)
        with prefect_server_for_workers(args.dask_address, args.dask_workers):
            state = sales.with_options(task_runner=task_runner(args.dask_address, args.dask_workers))(
                source=args.source,
                warehouse=args.warehouse,
                chunk_bytes=args.chunk_mb << 20,
                files=args.files,
                reload=args.reload,
                first_day=args.first_day,
                last_day=args.last_day,
                return_state=True,
            )
    except (SourceUnavailable, WarehouseUnavailable, DaskNeedsAServer) as error:
        print(f"sales: {error}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema="sales", pipeline=PIPELINE))
    if not state.is_completed():
        print(f"sales: {state.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_process(main())
