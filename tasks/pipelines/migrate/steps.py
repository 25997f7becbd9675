"""The migrate pipeline's Prefect tasks: inspect the source, copy each table in checkpointed keyset batches,
verify, report."""

from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.kit.steps import RETRIES, record_run_metrics
from tasks.observability.monitoring import peak_memory_bytes
from tasks.observability.summaries import RunSummary
from tasks.pipelines.migrate.migration import MigrationPlan, TableCopy, TableOutcome, TablePlan, inspect_source
from tasks.pipelines.migrate.presentation import CopyProgress, publish_migration, summarize_migration
from tasks.pipelines.migrate.table_copy import copy_table_in_batches, record_failed_copy, verify_and_swap_in
from tasks.warehouse.connection import check_warehouse_name


@task(name="inspect-source", **RETRIES)
def inspect_migration_source(
    source: str, tables: list[str] | None, schema: str, key: list[str] | None, warehouse: Path
) -> MigrationPlan:
    """Plan each table's copy: its key and each column's DuckDB type; refuses an unknown table or one without a key,
    and a target schema the warehouse file's name would make ambiguous."""
    check_warehouse_name(warehouse, (schema,))
    return inspect_source(source, tables, schema, key)


@task(name="copy-table", task_run_name="copy {plan.source_table}", **RETRIES)
def copy_table(source: str, plan: TablePlan, warehouse: Path, batch_rows: int) -> TableCopy:
    """Copy one table in keyset batches, each committed with its checkpoint, after the last batch an earlier run
    committed; a table whose verified copy still matches the source is left as it is. Returns what it did."""
    progress = CopyProgress(plan)
    return copy_table_in_batches(
        source, plan, warehouse, batch_rows, flow_run.get_id(), get_run_logger(), on_progress=progress.report
    )


@task(name="verify-table", task_run_name="verify {plan.source_table}", **RETRIES)
def verify_table(
    copied: TableCopy | BaseException, source: str, plan: TablePlan, warehouse: Path, batch_rows: int
) -> TableOutcome:
    """Check the copy against the source and, if they match, swap it in with its rejects and ledger entry in one
    transaction; otherwise record the table as failed, and why. A copy that failed after its retries (`copied` is
    then its exception) is recorded as failed too."""
    if isinstance(copied, BaseException):
        return record_failed_copy(copied, source, plan, warehouse, flow_run.get_id())
    return verify_and_swap_in(copied, source, plan, warehouse, batch_rows, flow_run.get_id())


@task(name="report-migration", **RETRIES)
def report_migration(
    plan: MigrationPlan,
    warehouse: Path,
    outcomes: list[TableOutcome],
    max_reject_rate: float = MAX_REJECT_RATE,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Record the run's metrics in meta.runs and publish its table artifact (table, rows in / loaded / rejected,
    seconds, rows/s, verdict), its summary and a log line; returns the run's summary."""
    summary = summarize_migration(
        plan, str(warehouse), outcomes, max_reject_rate, peak_memory_bytes(), reject_rate_min_rows
    )
    record_run_metrics(summary, warehouse)
    publish_migration(plan, summary, outcomes)
    return summary
