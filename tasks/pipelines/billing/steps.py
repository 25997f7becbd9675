"""The billing pipeline's own Prefect tasks, after the shared load and mart rebuild: the period's invoices."""

from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.runtime import flow_run

from tasks.kit.steps import RETRIES
from tasks.pipelines.billing.invoicing import Invoicing, issue_invoices, parse_period, write_invoice_documents
from tasks.pipelines.billing.presentation import publish_invoicing
from tasks.warehouse.connection import open_warehouse


@task(name="issue-invoices", **RETRIES)
def issue_period_invoices(period: str, warehouse: Path) -> Invoicing:
    """Issue the period's invoices not issued yet (one transaction each, gapless numbers) and record its
    exceptions; returns what was issued."""
    with open_warehouse(warehouse) as connection:
        return issue_invoices(connection, parse_period(period), datetime.now(UTC), flow_run.get_id())


@task(name="write-invoice-documents", **RETRIES)
def write_period_invoice_documents(invoicing: Invoicing, warehouse: Path, out: Path) -> list[Path]:
    """Write the HTML document of every invoice of the period that has none yet; returns all of them."""
    with open_warehouse(warehouse) as connection:
        return write_invoice_documents(connection, parse_period(invoicing.period), out)


@task(name="report-invoicing")
def report_invoicing(invoicing: Invoicing, documents: list[Path]) -> Invoicing:
    """Publish the period's invoices, totals per currency and exceptions as a Prefect artifact and log lines."""
    publish_invoicing(invoicing, documents)
    return invoicing
