"""Sales: daily export files in, the `sales` star schema (SCD2 customers, order facts) and its marts out.

python flows/sales.py --source DIR --warehouse PATH
"""

import argparse
from datetime import date
from pathlib import Path

from prefect import allow_failure, flow, unmapped

from tasks.cli import (
    ChunkBytes,
    CommandRefused,
    RejectRate,
    add_file_source_arguments,
    check_file_flow_arguments,
    exit_process,
    parse_command_line,
    refuse_bad_settings,
    run_file_flow,
)
from tasks.reporting import RunSummary, final_state, follow_progress
from tasks.runners import task_runner
from tasks.sales import PIPELINE, SALES_EXPORTS
from tasks.settings import CHUNK_BYTES, DEFAULT_WAREHOUSE, MAX_REJECT_RATE, SAMPLE_SALES
from tasks.steps import (
    announce_completion,
    discover_batches,
    load_batch,
    plan_export_batches,
    rebuild_marts,
    report_run,
    report_sales_model,
    stage_file_batch,
)
from tasks.warehouse import server_write_turn


@refuse_bad_settings
@flow(name="sales", task_runner=task_runner())
def sales(
    source: Path = SAMPLE_SALES,
    warehouse: Path = DEFAULT_WAREHOUSE,
    chunk_bytes: ChunkBytes = CHUNK_BYTES,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
) -> RunSummary:
    """Load the export files in `source` (customers_, orders_, order_lines_ and fx_rates_<date>, as .csv, .csv.gz
    or .parquet; all, or the named `files`, or those exported from `first_day` to `last_day`) into the warehouse's
    sales schema, and rebuild its star schema and marts. Files loaded before with the same content are skipped
    unless `reload` is set; a changed file replaces its earlier rows."""
    discovery = discover_batches(
        source, SALES_EXPORTS.patterns, PIPELINE, warehouse, files, reload, first_day, last_day
    )
    exports = plan_export_batches(discovery, SALES_EXPORTS)
    staged = stage_file_batch.map(exports.batches, exports.formats, unmapped(warehouse), unmapped(chunk_bytes))
    with server_write_turn():
        # allow_failure: a file whose staging failed after its retries still reaches the ledger, with its error
        loaded = load_batch.map(allow_failure(staged), exports.batches, exports.tables, unmapped(warehouse))
        followed = follow_progress(loaded, exports.batches, what="sales exports")
        export_days_rebuilt = rebuild_marts(PIPELINE, warehouse)
    report_sales_model(warehouse)
    summary = report_run(PIPELINE, discovery, warehouse, followed, export_days_rebuilt, max_reject_rate)
    announce_completion(summary)
    return final_state(summary)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = argparse.ArgumentParser(description=sales.description)
    add_file_source_arguments(
        parser, SAMPLE_SALES, "export files (customers_, orders_, order_lines_, fx_rates_<date>)", day_filter=True
    )
    args = parse_command_line(parser, argv, sales.name)
    check_file_flow_arguments(args, SALES_EXPORTS.patterns, sales.name)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    return run_file_flow(sales, args, SALES_EXPORTS.patterns, schema="sales", pipeline=PIPELINE)


if __name__ == "__main__":
    exit_process(main())
