"""What a person sees of the sales star schema after a run: its counts and the FX rates its revenue waits for."""

from prefect.artifacts import (
    create_markdown_artifact,
)
from prefect.logging import get_run_logger

from tasks.pipelines.sales.source import ModelSummary


def publish_model_summary(summary: ModelSummary) -> None:
    """A markdown artifact of the sales star schema's counts and the FX rates its revenue waits for; a warning in
    the log for each missing rate, since revenue_usd stays unknown (never guessed) until the rate arrives."""
    lines = ["# Sales star schema", "", "| | rows |", "|---|---:|"]
    lines += [f"| {name.replace('_', ' ')} | {value:,} |" for name, value in summary.counts.items()]
    if summary.missing_fx_rates:
        lines += ["", "## Missing FX rates: revenue_usd unknown", "", "| day | currency | orders |", "|---|---|---:|"]
        lines += [f"| {day} | {currency} | {orders:,} |" for day, currency, orders in summary.missing_fx_rates]
    create_markdown_artifact("\n".join(lines), key="sales-model", description="sales: the star schema after this run")
    logger = get_run_logger()
    logger.info(
        "sales model: %s", ", ".join(f"{value:,} {name.replace('_', ' ')}" for name, value in summary.counts.items())
    )
    for day, currency, orders in summary.missing_fx_rates:
        logger.warning(
            "no %s rate for %s: revenue_usd of %d shipped/completed order(s) is unknown", currency, day, orders
        )
