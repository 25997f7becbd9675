"""What a person sees of a billing period: the invoices issued, totals per currency and the usage not billed."""

from pathlib import Path

from prefect.artifacts import (
    create_markdown_artifact,
)
from prefect.logging import get_run_logger

from tasks.pipelines.billing.invoicing import Invoicing


def publish_invoicing(invoicing: Invoicing, documents: list[Path]) -> None:
    """A markdown artifact of the period's invoicing: invoices issued now and before, totals per currency, where the
    documents are, and the usage that could not be billed; warnings in the log for the exceptions."""
    lines = [
        f"# Invoices for {invoicing.period}",
        "",
        f"{len(invoicing.issued)} issued by this run, {invoicing.already_issued} issued before; "
        f"{len(documents)} documents in `{documents[0].parent if documents else '-'}`.",
        "",
        "| currency | invoices | total |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {currency} | {count:,} | {total:,} |" for currency, (count, total) in invoicing.totals_by_currency.items()
    ]
    if invoicing.exceptions:
        lines += [
            "",
            f"## {len(invoicing.exceptions):,} exceptions: usage not billed, subscriptions without a priced plan",
            "",
            "| customer | event | metric | quantity | reason |",
            "|---|---|---|---:|---|",
        ]
        lines += [
            f"| {customer} | {event} | {metric} | {quantity} | {reason} |"
            for customer, event, metric, quantity, reason in invoicing.exceptions[:EXCEPTIONS_SHOWN]
        ]
    create_markdown_artifact(
        "\n".join(lines), key="billing-invoices", description=f"billing: invoices for {invoicing.period}"
    )
    logger = get_run_logger()
    logger.info(
        "%s: %d invoices issued, %d issued before; totals %s",
        invoicing.period,
        len(invoicing.issued),
        invoicing.already_issued,
        ", ".join(f"{currency} {total:,}" for currency, (_, total) in invoicing.totals_by_currency.items()) or "none",
    )
    if invoicing.exceptions:
        logger.warning(
            "%s: %d exceptions: usage not billed, or subscriptions without a priced plan (table billing.exceptions)",
            invoicing.period,
            len(invoicing.exceptions),
        )


# Exceptions listed in the artifact; the table holds all of them.
EXCEPTIONS_SHOWN = 50
