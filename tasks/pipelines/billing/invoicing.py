"""Invoicing one billing period: the lines of every customer's invoice, late usage of earlier periods as
adjustments, and the invoices issued one transaction each, numbered without gaps.

Plain functions over a warehouse connection (the billing step opens it under the write lock); the charges
themselves are SQL in sql/ beside this module.
"""

import calendar
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader

from tasks.core import settings
from tasks.pipelines.billing import wording
from tasks.warehouse.connection import execute_script, transaction

BILLING_SQL = Path(__file__).parent / "sql"


class PeriodInvalid(ValueError):
    """The period is not a calendar month written YYYY-MM."""


@dataclass(frozen=True)
class Period:
    """A calendar month in UTC."""

    name: str  # YYYY-MM
    first_day: date
    next_first_day: date

    @property
    def parameters(self) -> dict[str, object]:
        return {"period": self.name, "first_day": self.first_day, "next_first_day": self.next_first_day}


def previous_period(today: date) -> str:
    """The calendar month before `today`'s: what a run on the 1st invoices."""
    first_of_this_month = today.replace(day=1)
    last_month = date.fromordinal(first_of_this_month.toordinal() - 1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def parse_period(text: str) -> Period:
    match = re.fullmatch(r"([0-9]{4})-(0[1-9]|1[0-2])", text)
    if match is None:
        raise PeriodInvalid(f"period {text!r} is not a month written YYYY-MM")
    year, month = int(match[1]), int(match[2])
    first_day = date(year, month, 1)
    days = calendar.monthrange(year, month)[1]
    return Period(text, first_day, date.fromordinal(first_day.toordinal() + days))


@dataclass(frozen=True)
class InvoiceTerms:
    """What an invoice is issued with besides its lines: the tax rate in percent and the days until it is due."""

    tax_rate_percent: Decimal = settings.TAX_RATE_PERCENT
    payment_terms_days: int = settings.PAYMENT_TERMS_DAYS


@dataclass(frozen=True)
class IssuedInvoice:
    invoice_id: str
    customer_id: str
    currency: str
    total: Decimal


@dataclass(frozen=True)
class Invoicing:
    """What invoicing a period did: the invoices this run issued, those issued before, and the exceptions."""

    period: str
    issued: list[IssuedInvoice]
    already_issued: int
    exceptions: list[tuple[str, str, str, Decimal, str]]  # customer, event, metric, quantity, reason
    totals_by_currency: dict[str, tuple[int, Decimal]]  # currency -> (invoices, total) of the whole period


def issue_invoices(
    connection: duckdb.DuckDBPyConnection,
    period: Period,
    issued_at: datetime,
    flow_run_id: str | None,
    terms: InvoiceTerms | None = None,
) -> Invoicing:
    """Issue the period's invoices not issued yet, each in its own transaction; record the period's exceptions.
    Issued invoices are never touched, so a second run issues nothing, and a run after a crash between two invoices
    issues the rest with the next numbers."""
    _compute_adjustments(connection, period)
    execute_script(connection, BILLING_SQL / "period_setup.sql", period.parameters)
    execute_script(
        connection,
        BILLING_SQL / "period_charges.sql",
        period.parameters,
        prefix="create or replace temporary table period_lines as",
    )
    exceptions = _record_exceptions(connection, period)
    # a customer gets an invoice for a subscription in the period, or for late usage of an earlier one alone
    pending = connection.execute(
        "select distinct customer_id, currency from ("
        "select customer_id, currency from period_lines union all select customer_id, currency from period_adjustments"
        ") as charged anti join billing.invoices as invoices "
        "on invoices.period = ? and invoices.customer_id = charged.customer_id and invoices.currency = charged.currency "
        "order by all",
        [period.name],
    ).fetchall()
    issued = [
        _issue_one(connection, period, customer_id, currency, issued_at, flow_run_id, terms or InvoiceTerms())
        for customer_id, currency in pending
    ]
    already_issued = connection.execute(
        "select count(*) from billing.invoices where period = ?", [period.name]
    ).fetchone()[0] - len(issued)
    totals = {
        currency: (count, total.quantize(Decimal(1).scaleb(-exponent)))  # shown with the currency's decimals
        for currency, count, total, exponent in connection.execute(
            "select invoices.currency, count(*), sum(invoices.total), coalesce(any_value(exponents.exponent), 2) "
            "from billing.invoices as invoices "
            "left join billing.currency_exponents as exponents on invoices.currency = exponents.currency "
            "where invoices.period = ? group by invoices.currency order by invoices.currency",
            [period.name],
        ).fetchall()
    }
    for table in ("period_lines", "period_adjustments", "period_catalogue", "period_segments"):
        connection.execute(f"drop table if exists {table}")
    return Invoicing(period.name, issued, already_issued, exceptions, totals)


def _compute_adjustments(connection: duckdb.DuckDBPyConnection, period: Period) -> None:
    """period_adjustments: for each earlier invoiced period, the usage charges recomputed from today's usage less what
    its invoices and later adjustments billed, per customer, currency and metric."""
    connection.execute(
        "create or replace temporary table period_adjustments ("
        "customer_id varchar, currency varchar, metric varchar, for_period varchar, amount decimal(38, 3))"
    )
    earlier = connection.execute(
        "select distinct period from billing.invoices where period < ? order by period", [period.name]
    ).fetchall()
    for (name,) in earlier:
        invoiced = parse_period(name)
        execute_script(connection, BILLING_SQL / "period_setup.sql", invoiced.parameters)
        execute_script(
            connection,
            BILLING_SQL / "period_charges.sql",
            invoiced.parameters,
            prefix="create or replace temporary table recomputed as",
        )
        execute_script(connection, BILLING_SQL / "adjustments.sql", {"for_period": name})
        _record_exceptions(connection, invoiced)
    connection.execute("drop table if exists recomputed")


def _record_exceptions(
    connection: duckdb.DuckDBPyConnection, period: Period
) -> list[tuple[str, str, str, Decimal, str]]:
    with transaction(connection):
        connection.execute("delete from billing.exceptions where period = ?", [period.name])
        execute_script(
            connection,
            BILLING_SQL / "period_exceptions.sql",
            period.parameters,
            prefix="insert into billing.exceptions by name",
        )
    return connection.execute(
        "select customer_id, event_id, metric, quantity, reason from billing.exceptions where period = ? "
        "order by customer_id, ts, event_id",
        [period.name],
    ).fetchall()


def _issue_one(
    connection: duckdb.DuckDBPyConnection,
    period: Period,
    customer_id: str,
    currency: str,
    issued_at: datetime,
    flow_run_id: str | None,
    terms: InvoiceTerms,
) -> IssuedInvoice:
    """One invoice, its number the next of its period, and its lines, in one transaction."""
    [(exponent,)] = connection.execute(
        "select coalesce(max(exponent), 2) from billing.currency_exponents where currency = ?", [currency]
    ).fetchall()
    with transaction(connection):
        (issued_before,) = connection.execute(
            "select count(*) from billing.invoices where period = ?", [period.name]
        ).fetchone()
        invoice_id = f"INV-{period.name.replace('-', '')}-{issued_before + 1:06d}"
        execute_script(
            connection,
            BILLING_SQL / "issue_invoice.sql",
            {
                "invoice_id": invoice_id,
                "customer_id": customer_id,
                "currency": currency,
                "period": period.name,
                "issued_at": issued_at,
                "flow_run_id": flow_run_id,
                "exponent": exponent,
                "tax_rate": str(terms.tax_rate_percent),
                "tax_fraction": str(terms.tax_rate_percent / 100),  # exact: a shift of the decimal point
                "payment_terms_days": terms.payment_terms_days,
            },
        )
        (total,) = connection.execute(
            "select total from billing.invoices where invoice_id = ?", [invoice_id]
        ).fetchone()
    return IssuedInvoice(invoice_id, customer_id, currency, total)


TEMPLATES = Path(__file__).parent / "templates"


def write_invoice_documents(connection: duckdb.DuckDBPyConnection, period: Period, out: Path) -> list[Path]:
    """One HTML document per invoice of the period under `out/<period>/`, from tasks/pipelines/billing/templates/invoice.html; a
    document is written beside its final name and renamed into place, and one already there is kept (an issued
    invoice never changes, so neither does its document). Returns every document of the period."""
    template = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True).get_template("invoice.html")
    folder = out / period.name
    folder.mkdir(parents=True, exist_ok=True)
    invoices = connection.sql(
        "select * from billing.invoices where period = $period order by invoice_id", params={"period": period.name}
    ).pl()
    documents = []
    for invoice in invoices.iter_rows(named=True):
        path = folder / f"{invoice['invoice_id']}.html"
        documents.append(path)
        if path.exists():
            continue
        lines = connection.sql(
            "select * from billing.invoice_lines where invoice_id = $invoice_id order by line_no",
            params={"invoice_id": invoice["invoice_id"]},
        ).pl()
        scratch = path.with_name(f".{path.name}.partial")
        [(exponent,)] = connection.execute(
            "select coalesce(max(exponent), 2) from billing.currency_exponents where currency = ?",
            [invoice["currency"]],
        ).fetchall()
        scratch.write_text(
            template.render(
                invoice=_displayed(invoice, exponent),
                lines=[_displayed(line, exponent) for line in lines.iter_rows(named=True)],
                seller=SELLER,
                tax_statement=_tax_statement(invoice["tax_rate"]),
            )
        )
        os.replace(scratch, path)
    return documents


MONEY_COLUMNS = {"amount", "subtotal", "tax", "total"}

# The issuer, as every invoice shows it (settings; sample values by default).
SELLER = {
    "name": settings.SELLER_NAME,
    "address": settings.SELLER_ADDRESS,
    "tax_id": settings.SELLER_TAX_ID,
    "payment_details": settings.SELLER_PAYMENT_DETAILS,
}


def _tax_statement(rate: Decimal | None) -> str:
    if not rate:
        return settings.TAX_STATEMENT_AT_ZERO
    return f"Tax at {wording.quantity(rate)}% of the subtotal."


def _displayed(row: dict, exponent: int) -> dict:
    """Values as a person reads them on an invoice: money with exactly the currency's decimals, unit prices with at
    least those, quantities without trailing zeros, metrics by name, a line's description in words, days as dates,
    instants in UTC, nothing for a missing value."""
    shown = {}
    for name, value in row.items():
        if value is None:
            shown[name] = ""
        elif isinstance(value, Decimal) and name in MONEY_COLUMNS:
            shown[name] = wording.money(value, exponent)
        elif isinstance(value, Decimal) and name == "unit_price":
            shown[name] = wording.unit_price(value, exponent)
        elif isinstance(value, Decimal):
            shown[name] = wording.quantity(value)
        elif isinstance(value, datetime):
            shown[name] = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        elif isinstance(value, date):
            shown[name] = value.isoformat()
        else:
            shown[name] = value
    if "line_no" in row:
        shown["description"] = wording.line_description(row)
    else:
        shown["issue_date"] = row["issued_at"].astimezone(UTC).date().isoformat()
        shown["customer_name"] = row.get("customer_name") or row["customer_id"]
    return shown
