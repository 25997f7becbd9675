"""Access logs: Combined Log Format files in, `logs.requests` and the traffic marts out.

python flows/access_logs.py --source DIR --warehouse PATH
"""

import argparse
import sys
from datetime import date
from pathlib import Path

from prefect import allow_failure, flow, unmapped

from tasks.access_logs import ACCESS_LOG_FILES, ACCESS_LOG_FORMAT
from tasks.batches import list_source_files
from tasks.cli import add_cluster_arguments, exit_process, positive_int
from tasks.discovery import SourceUnavailable, check_source, select_files
from tasks.reporting import RunSummary, final_state, follow_progress
from tasks.runners import DaskNeedsAServer, prefect_server_for_workers, task_runner
from tasks.settings import CHUNK_BYTES, DEFAULT_WAREHOUSE, SAMPLE_ACCESS_LOGS
from tasks.steps import (
    announce_completion,
    discover_batches,
    load_batch,
    rebuild_marts,
    report_run,
    stage_file_batch,
)
from tasks.warehouse import (
    FactTable,
    WarehouseUnavailable,
    describe_warehouse,
    prepare_warehouse,
    server_write_turn,
)

REQUESTS = FactTable(pipeline=ACCESS_LOG_FORMAT.pipeline, table="logs.requests", partition_column="day")


@flow(name="access-logs", task_runner=task_runner())
def access_logs(
    source: Path = SAMPLE_ACCESS_LOGS,
    warehouse: Path = DEFAULT_WAREHOUSE,
    chunk_bytes: int = CHUNK_BYTES,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
) -> RunSummary:
    """Load the *.log and *.log.gz files in `source` (all; or the named `files`; or those whose name carries a day
    from `first_day` to `last_day`) into the warehouse's logs schema and rebuild its marts. Files loaded before with
    the same content are skipped unless `reload` is set, as for a backfill."""
    discovery = discover_batches(
        source, ACCESS_LOG_FILES, ACCESS_LOG_FORMAT.pipeline, warehouse, files, reload, first_day, last_day
    )
    staged = stage_file_batch.map(
        discovery.to_load, unmapped(ACCESS_LOG_FORMAT), unmapped(warehouse), unmapped(chunk_bytes)
    )
    with server_write_turn():
        # allow_failure: a batch whose staging failed after its retries still reaches the ledger, with its error
        loaded = load_batch.map(allow_failure(staged), discovery.to_load, unmapped(REQUESTS), unmapped(warehouse))
        followed = follow_progress(loaded, discovery.to_load, what="access logs")
        marts_refreshed_days = rebuild_marts(ACCESS_LOG_FORMAT.pipeline, warehouse)
    summary = report_run(ACCESS_LOG_FORMAT.pipeline, discovery, warehouse, followed, marts_refreshed_days)
    announce_completion(summary)
    return final_state(summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=access_logs.description)
    parser.add_argument("--source", type=Path, default=SAMPLE_ACCESS_LOGS, help="folder of *.log / *.log.gz files")
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file (created if missing)")
    parser.add_argument(
        "--chunk-mb", type=positive_int, default=CHUNK_BYTES >> 20, help="MiB of text parsed at once; bounds memory"
    )
    parser.add_argument(
        "--file",
        dest="files",
        action="append",
        metavar="NAME",
        help="load only this file of the source folder (repeat for more); default: every log file in it",
    )
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
    add_cluster_arguments(parser)
    args = parser.parse_args(argv)
    try:  # the same checks run inside the flow; here they fail fast, before a Prefect server is started
        check_source(args.source)
        listed = list_source_files(args.source, ACCESS_LOG_FILES)
        select_files(listed, args.files, args.source, ACCESS_LOG_FILES, args.first_day, args.last_day)
        prepare_warehouse(args.warehouse)
        with prefect_server_for_workers(args.dask_address, args.dask_workers):
            state = access_logs.with_options(task_runner=task_runner(args.dask_address, args.dask_workers))(
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
        print(f"access-logs: {error}", file=sys.stderr)
        return 2
    print(describe_warehouse(args.warehouse, schema="logs", pipeline=ACCESS_LOG_FORMAT.pipeline))
    if not state.is_completed():
        print(f"access-logs: {state.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    exit_process(main())
