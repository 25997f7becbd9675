"""Sales: daily export files in, the `sales` star schema (SCD2 customers, order facts) and its marts out.

python flows/sales.py --source DIR --warehouse PATH
"""

import argparse

from tasks.kit.arguments import add_file_source_arguments, answer_early, description
from tasks.pipelines.sales import SAMPLE


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    add_file_source_arguments(
        parser, SAMPLE, "export files (customers_, orders_, order_lines_, fx_rates_<date>)", day_filter=True
    )
    return parser


answer_early(__name__, command_line)

from datetime import date
from functools import partial
from pathlib import Path

from prefect import flow

from tasks.core.runners import task_runner
from tasks.core.settings import CHUNK_MB, DEFAULT_WAREHOUSE, MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS, bytes_in
from tasks.kit.cli import (
    ChunkMiB,
    CommandRefused,
    RejectRate,
    RejectRateMinRows,
    check_file_flow_arguments,
    exit_process,
    parse_command_line,
    refuse_bad_settings,
    run_file_flow,
)
from tasks.kit.pipeline_flow import load_export_family
from tasks.observability.summaries import RunSummary
from tasks.pipelines.sales.source import PIPELINE, SALES_EXPORTS
from tasks.pipelines.sales.steps import report_sales_model


@refuse_bad_settings
@flow(name="sales", task_runner=task_runner())
def sales(
    source: Path = SAMPLE,
    warehouse: Path = DEFAULT_WAREHOUSE,
    chunk_mb: ChunkMiB = CHUNK_MB,
    files: list[str] | None = None,
    reload: bool = False,
    first_day: date | None = None,
    last_day: date | None = None,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
    reject_rate_min_rows: RejectRateMinRows = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Load the export files in `source` (customers_, orders_, order_lines_ and fx_rates_<date>, as .csv, .csv.gz
    or .parquet; all, or the named `files`, or those exported from `first_day` to `last_day`) into the warehouse's
    sales schema, and rebuild its star schema and marts. Files loaded before with the same content are skipped
    unless `reload` is set; a changed file replaces its earlier rows."""
    # discover → stage → load → rebuild the marts → report the star schema (the extra step) → report and announce
    return load_export_family(
        SALES_EXPORTS,
        source,
        warehouse,
        bytes_in(chunk_mb),
        files,
        reload,
        first_day,
        last_day,
        max_reject_rate,
        reject_rate_min_rows,
        what="sales exports",
        after_rebuild=partial(report_sales_model, warehouse),
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = command_line()
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
