"""Reports: one self-contained HTML page per day, ISO week or calendar month, from the warehouse's marts.

python flows/report.py --period daily|weekly|monthly --date YYYY-MM-DD --warehouse PATH --out DIR
"""

import argparse
from pathlib import Path

from tasks.core.settings import DEFAULT_WAREHOUSE, REPORTS
from tasks.kit.arguments import answer_early, description
from tasks.reports import PERIOD_KINDS


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=description(__doc__))
    parser.add_argument("--period", default="daily", help=f"one of {', '.join(PERIOD_KINDS)} (default: daily)")
    parser.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="a day in the period (a week may be given as YYYY-Www, a month as YYYY-MM); "
        "default: the last complete period (yesterday, last week, last month)",
    )
    parser.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE, help="DuckDB file to report on")
    parser.add_argument("--out", type=Path, default=REPORTS, help=f"folder of the reports (default: {REPORTS})")
    return parser


answer_early(__name__, command_line)

import sys
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed

from tasks.kit.cli import CommandRefused, exit_process, one_of, parse_command_line, refuse, refuse_bad_settings
from tasks.kit.local_server import LocalServerUnavailable, use_local_server
from tasks.observability.status import check_warehouse_readable
from tasks.pipelines import report_sections
from tasks.reports.presentation import ReportSummary
from tasks.reports.report import PeriodInvalid, resolve_period
from tasks.reports.steps import publish_report_artifacts, read_report_figures, write_report_page
from tasks.warehouse.connection import WarehouseUnavailable

Period = one_of(PERIOD_KINDS)


@refuse_bad_settings
@flow(name="report")
def report(
    period: Period = "daily",
    date: str = "",  # text, not str | None, which the UI shows as a choice between a text box and "None"
    warehouse: Path = DEFAULT_WAREHOUSE,
    out: Path = REPORTS,
) -> ReportSummary:
    """Write the report of the `period` (daily, weekly: ISO week Monday to Sunday, or monthly, in UTC) containing
    `date`, by default the last complete one, to `out/<period>-<label>.html`, and publish its key figures and main
    chart as artifacts. Sections show the marts of the pipelines that have loaded into the warehouse.

    Args:
        period: The period the report covers: a UTC day, an ISO week (Monday to Sunday) or a month.
        date: A day in the period to report (YYYY-MM-DD; a week also YYYY-Www, a month YYYY-MM); empty: the last
            complete period.
        out: The folder the report page is written to (a relative path is in the project folder).
    """
    try:  # a bad period or warehouse from the UI ends the run with its one line, as the command line says it
        report_period = resolve_period(period, date, datetime.now(UTC).date())
        check_warehouse_readable(warehouse)
    except (PeriodInvalid, WarehouseUnavailable) as error:
        get_run_logger().error("%s", error)
        return Failed(message=str(error))
    figures = read_report_figures(report_period, warehouse, report_sections())
    page = write_report_page(figures, out)
    summary = publish_report_artifacts(figures, page)
    # the run's state says what it made, in the UI's run list as in the terminal
    return Completed(message=f"{summary.period} report {summary.label}: {Path(summary.path).name}", data=summary)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings and the warehouse it reads: anything bad stops it with one line
    and exit code 2, before anything is written."""
    parser = command_line()
    args = parse_command_line(parser, argv, report.name)
    try:
        resolve_period(args.period, args.date, datetime.now(UTC).date())
        check_warehouse_readable(args.warehouse)
    except (PeriodInvalid, WarehouseUnavailable) as error:
        refuse(report.name, error)
    if "\0" in str(args.out) or (args.out.exists() and not args.out.is_dir()):
        refuse(report.name, f"the report folder {str(args.out)!r} is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    try:
        use_local_server()
    except LocalServerUnavailable as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    state = report(period=args.period, date=args.date or "", warehouse=args.warehouse, out=args.out, return_state=True)
    if not state.is_completed():
        print(f"report: {state.message}", file=sys.stderr)
        return 1
    summary = state.result()
    print(f"{summary.period} report {summary.label}: {Path(summary.path).resolve().as_uri()}")
    for name, value in summary.figures:
        print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    exit_process(main())
