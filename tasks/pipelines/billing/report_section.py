"""The billing section of the periodic report: the invoices of the months its days fall in. Its query and page
fragment are in report/ beside this module."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tasks.pipelines.billing.source import PIPELINE
from tasks.reports.report import ReportSection, SectionQueries, money


@dataclass(frozen=True)
class InvoiceTotal:
    period: str
    currency: str
    invoices: int
    total: Decimal
    exponent: int


@dataclass(frozen=True)
class Billing:
    """From billing.invoices: the invoices of the months the report's days fall in."""

    months: list[str]
    totals: list[InvoiceTotal]


def read_billing(queries: SectionQueries) -> Billing:
    return Billing(queries.period.months, [InvoiceTotal(*row) for row in queries.rows("invoices")])


def invoice_figures(billing: Billing) -> list[tuple[str, str]]:
    return [
        (f"invoiced {total.period} {total.currency}", f"{money(total.total, total.exponent)} ({total.invoices})")
        for total in billing.totals
    ]


INVOICES = ReportSection(
    name="invoices",
    pipeline=PIPELINE,
    folder=Path(__file__).parent / "report",
    read=read_billing,
    order=40,
    key_figures=invoice_figures,
)
SECTIONS = (INVOICES,)
