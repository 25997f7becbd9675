"""The sales pipeline's own Prefect tasks, after the shared load and mart rebuild."""

from pathlib import Path

from prefect import task

from tasks.kit.steps import RETRIES
from tasks.pipelines.sales.presentation import publish_model_summary
from tasks.pipelines.sales.source import ModelSummary, summarize_model
from tasks.warehouse.connection import open_warehouse


@task(name="report-sales-model", **RETRIES)
def report_sales_model(warehouse: Path) -> ModelSummary:
    """Publish what the star schema holds and waits for (inferred customers, orders without lines, missing FX
    rates) as a Prefect artifact and log lines; returns it."""
    with open_warehouse(warehouse) as connection:
        summary = summarize_model(connection)
    publish_model_summary(summary)
    return summary
