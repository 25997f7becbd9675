"""Billing: usage, plans and subscriptions in; one calendar month's invoices (and their HTML documents) out.

python flows/billing.py --period 2026-10 --warehouse PATH
"""

import argparse
from pathlib import Path

from tasks.core.settings import INVOICES
from tasks.kit.arguments import add_file_source_arguments, answer_early, description
from tasks.pipelines.billing import SAMPLE


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument(
        "--period", metavar="YYYY-MM", help="the calendar month (UTC) to invoice; default: the previous month"
    )
    add_file_source_arguments(parser, SAMPLE, "usage_, plans_ and subscriptions_<date> files", day_filter=False)
    parser.add_argument("--out", type=Path, default=INVOICES, help="folder of the invoice documents (per period)")
    return parser


answer_early(__name__, command_line)

from datetime import UTC, datetime
from functools import partial

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
from tasks.pipelines.billing.invoicing import parse_period, previous_period
from tasks.pipelines.billing.source import BILLING_EXPORTS, PIPELINE
from tasks.pipelines.billing.steps import issue_period_invoices, report_invoicing, write_period_invoice_documents


@refuse_bad_settings
@flow(name="billing", task_runner=task_runner())
def billing(
    period: str | None = None,
    source: Path = SAMPLE,
    warehouse: Path = DEFAULT_WAREHOUSE,
    out: Path = INVOICES,
    chunk_mb: ChunkMiB = CHUNK_MB,
    files: list[str] | None = None,
    reload: bool = False,
    max_reject_rate: RejectRate = MAX_REJECT_RATE,
    reject_rate_min_rows: RejectRateMinRows = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Load the usage, plans and subscriptions files in `source` that are not loaded yet, then issue the invoices of
    `period` (YYYY-MM, UTC; by default the previous month, as a run on the 1st wants) that are not issued yet, and
    write their documents under `out/<period>/`. An issued invoice never changes: usage that arrives late for it is
    an adjustment on the customer's next invoice.

    Args:
        period: The month to invoice, YYYY-MM (UTC); empty: the previous month.
        out: The folder the invoices are written to, one folder per period (a relative path is in the project folder).
    """
    period = period or previous_period(datetime.now(UTC).date())
    parse_period(period)  # a bad period fails the run before anything loads
    # discover → stage → load → rebuild the marts → issue and write the period's invoices → report and announce
    return load_export_family(
        BILLING_EXPORTS,
        source,
        warehouse,
        bytes_in(chunk_mb),
        files,
        reload,
        max_reject_rate=max_reject_rate,
        reject_rate_min_rows=reject_rate_min_rows,
        what="billing files",
        after_rebuild=partial(invoice_period, period, warehouse, out),
        report_mart_days=False,  # usage_daily is rebuilt whole: the run reports no count of days
    )


def invoice_period(period: str, warehouse: Path, out: Path) -> None:
    """Issue the period's invoices not issued yet, write their documents and publish them; in the load's write turn,
    after the marts, so that they invoice the usage this run loaded and no other run writes meanwhile."""
    invoicing = issue_period_invoices(period, warehouse)
    documents = write_period_invoice_documents(invoicing, warehouse, out)
    report_invoicing(invoicing, documents)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings: anything bad stops it with one line and exit code 2, before
    anything is written."""
    parser = command_line()
    args = parse_command_line(parser, argv, billing.name)
    args.period = args.period or previous_period(datetime.now(UTC).date())
    try:
        parse_period(args.period)
    except ValueError as error:
        parser.error(str(error))
    if "\0" in str(args.out) or (args.out.exists() and not args.out.is_dir()):
        parser.error(f"argument --out: {str(args.out)!r} cannot be a folder of invoice documents")
    check_file_flow_arguments(args, BILLING_EXPORTS.patterns, billing.name)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    return run_file_flow(
        billing, args, BILLING_EXPORTS.patterns, schema="billing", pipeline=PIPELINE, period=args.period, out=args.out
    )


if __name__ == "__main__":
    exit_process(main())
