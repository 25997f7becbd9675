"""The report's Prefect tasks: read the period's figures, write the page, publish its artifacts."""

from pathlib import Path

from prefect import task

from tasks.kit.steps import RETRIES
from tasks.reports.presentation import ReportSummary, publish_report
from tasks.reports.report import Report, ReportPeriod, ReportSection, report_figures, write_report
from tasks.warehouse.connection import WarehouseUnavailable, open_warehouse


@task(name="read-report-figures", task_run_name="read figures {period.kind} {period.label}", **RETRIES)
def read_report_figures(period: ReportPeriod, warehouse: Path, sections: list[ReportSection]) -> Report:
    """Read the period's figures of the `sections` whose pipelines loaded into the warehouse; the warehouse is open
    (under its lock) only while reading, and the page is made afterwards."""
    if not warehouse.is_file():
        raise WarehouseUnavailable(f"no warehouse at {warehouse}")
    with open_warehouse(warehouse) as connection:
        return report_figures(connection, period, str(warehouse), sections)


@task(name="write-report", **RETRIES)
def write_report_page(report: Report, out: Path) -> Path:
    """Render the report as one self-contained HTML page under `out`, replacing an earlier one; returns its path."""
    return write_report(report, out)


@task(name="publish-report")
def publish_report_artifacts(report: Report, path: Path) -> ReportSummary:
    """Publish the key figures and the page's path (markdown artifact) and the main chart (image artifact)."""
    return publish_report(report, path)
