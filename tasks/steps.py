"""Prefect tasks: thin wrappers that add retries, caching and names to the plain functions they call."""

import hashlib
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.context import TaskRunContext
from prefect.events import emit_event
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.states import State
from prefect.tasks import Task, exponential_backoff

from tasks.core.batches import Batch
from tasks.core.errors import PermanentError
from tasks.core.mapreduce import (
    MapOutput,
    MapReduceJob,
    ReduceOutput,
    Shuffle,
    Split,
    counters_of_run,
    job_directory,
    plan_splits,
    remove_run_files,
    run_map,
    run_reducers,
    shuffle,
)
from tasks.core.settings import MAX_REJECT_RATE, staging_root_for
from tasks.core.staging import SourceFormat, StagedBatch, read_manifest, stage_batch, staging_epoch
from tasks.kit.discovery import Discovery, discover
from tasks.kit.exports import ExportFamily, ExportPlan
from tasks.observability.audit import CheckResult, audit_warehouse
from tasks.observability.monitoring import peak_memory_bytes
from tasks.pipelines.billing.invoicing import Invoicing, issue_invoices, parse_period, write_invoice_documents
from tasks.pipelines.migrate.migration import MigrationPlan, TableCopy, TableOutcome, TablePlan, inspect_source
from tasks.pipelines.migrate.table_copy import copy_table_in_batches, record_failed_copy, verify_and_swap_in
from tasks.pipelines.sales.source import ModelSummary, summarize_model
from tasks.reporting import (
    BatchProgress,
    CopyProgress,
    FollowedBatches,
    ReportSummary,
    RunSummary,
    completion_event,
    publish_audit,
    publish_counters,
    publish_invoicing,
    publish_migration,
    publish_model_summary,
    publish_report,
    publish_summary,
    rejects_event,
    run_record,
    summarize,
    summarize_migration,
)
from tasks.reports.report import Report, ReportPeriod, report_figures, write_report
from tasks.warehouse.connection import WarehouseUnavailable, check_warehouse_name, open_warehouse
from tasks.warehouse.loads import (
    BatchOutcome,
    FactTable,
    load_staged_batch,
    merge_mapreduce_run,
    record_failed_batch,
    refresh_marts,
)
from tasks.warehouse.runs import record_run


class StagingMissing(PermanentError):
    """A staged batch's folder was removed after it was staged."""


# A bug comes out the same on a retry too; every other failure that is not a PermanentError is worth another try.
PROGRAMMING_ERRORS = (TypeError, ValueError, AttributeError, KeyError, AssertionError)


def retry_if_transient(task: Task, task_run: object, state: State) -> bool:
    """The retry policy follows the error's type: never a PermanentError (bad data, a bad setting, a refused source,
    a copy that does not match) or a bug; anything else (I/O, a full disk, a lock, the network) with backoff."""
    try:
        state.result()
    except (PermanentError, *PROGRAMMING_ERRORS):
        return False
    except Exception:  # noqa: BLE001 - transient by default
        return True
    return True


RETRIES = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_transient,
}


discover_batches = task(discover, name="discover-batches", **RETRIES)


def staged_batch_cache_key(context: TaskRunContext, parameters: dict) -> str:
    batch: Batch = parameters["batch"]
    source_format: SourceFormat = parameters["source_format"]
    staging_root = staging_root_for(parameters["warehouse"])
    place = hashlib.sha256(str(staging_root.resolve()).encode()).hexdigest()[:12]
    epoch = staging_epoch(staging_root, source_format.pipeline)
    return f"stage-{batch.batch_id}-{source_format.version}-{place}-{epoch}"


@task(
    name="stage-batch",
    task_run_name="stage {batch.path.name}",
    cache_key_fn=staged_batch_cache_key,
    persist_result=True,
    **RETRIES,
)
def stage_file_batch(batch: Batch, source_format: SourceFormat, warehouse: Path, chunk_bytes: int) -> StagedBatch:
    """Parse and validate one file into Parquet staging; cached by its content fingerprint and the parser's code."""
    return stage_batch(
        batch, source_format, staging_root_for(warehouse), chunk_bytes, on_progress=BatchProgress(batch).report
    )


@task(name="load-batch", task_run_name="load {batch.path.name}", **RETRIES)
def load_batch(staged: StagedBatch | BaseException, batch: Batch, target: FactTable, warehouse: Path) -> BatchOutcome:
    """Load one staged batch into the warehouse in one transaction; or record in the ledger why it could not be
    staged (`staged` is then the staging task's exception, after its retries) or read."""
    if isinstance(staged, tuple):
        # prefect-dask 0.3.7 hands an allow_failure()-wrapped argument to a Dask worker as a 1-tuple: Dask rebuilds
        # the annotation, a namedtuple, as a plain tuple around the value
        (staged,) = staged
    with open_warehouse(warehouse) as connection:
        if isinstance(staged, BaseException):
            error = f"{type(staged).__name__}: {staged}"
            return record_failed_batch(connection, batch, error, time.time(), flow_run.get_id())
        if staged.error:
            return record_failed_batch(
                connection, batch, staged.error, staged.started_at, flow_run.get_id(), staged.parser_version
            )
        if read_manifest(Path(staged.directory)) is None:
            raise StagingMissing(f"{staged.directory} was removed after staging; delete the staging folder to re-stage")
        return load_staged_batch(connection, staged, target, flow_run.get_id())


@task(name="rebuild-marts", **RETRIES)
def rebuild_marts(pipeline: str, warehouse: Path, settings: dict[str, object] | None = None) -> int:
    """Rebuild the pipeline's marts for the days whose facts changed (with `settings` such as the session gap
    overriding the defaults); returns how many days."""
    with open_warehouse(warehouse) as connection:
        return refresh_marts(connection, pipeline, settings)


@task(name="plan-exports")
def plan_export_batches(discovery: Discovery, family: ExportFamily) -> ExportPlan:
    """Which format stages each export file, and which staging table loads it, by the file's kind."""
    return family.plan(discovery.to_load)


@task(name="report-sales-model", **RETRIES)
def report_sales_model(warehouse: Path) -> ModelSummary:
    """Publish what the star schema holds and waits for (inferred customers, orders without lines, missing FX
    rates) as a Prefect artifact and log lines; returns it."""
    with open_warehouse(warehouse) as connection:
        summary = summarize_model(connection)
    publish_model_summary(summary)
    return summary


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


@task(name="plan-splits")
def plan_input_splits(discovery: Discovery, split_bytes: int) -> list[Split]:
    """The input splits of the files to load: each file, or byte ranges of a large one."""
    return plan_splits(discovery.to_load, split_bytes)


@task(name="map-split", task_run_name="map {split.description}", **RETRIES)
def map_split(
    split: Split, job: MapReduceJob, warehouse: Path, partitions: int, combine: bool, chunk_bytes: int
) -> MapOutput:
    """Map one split into partitioned spill files under the staging area; returns where, and its counters."""
    return run_map(split, job, staging_root_for(warehouse), partitions, combine, chunk_bytes)


@task(name="shuffle")
def shuffle_map_output(
    outputs: list[MapOutput], job: MapReduceJob, warehouse: Path, partitions: int, combine: bool
) -> Shuffle:
    """Which spill folders the reducers read: those of the batches whose every split was mapped."""
    return shuffle(outputs, job_directory(staging_root_for(warehouse), job, partitions, combine), partitions)


@task(name="reduce-partition", task_run_name="reduce partition {partition}", **RETRIES)
def reduce_partition(job: MapReduceJob, partition: int, shuffled: Shuffle) -> list[ReduceOutput]:
    """Run every reducer of the job on one partition's spills; returns where their output is."""
    return run_reducers(job, partition, shuffled)


@task(name="merge-reduced-run", **RETRIES)
def merge_reduced_run(
    job: MapReduceJob,
    discovery: Discovery,
    shuffled: Shuffle,
    reduced: list[list[ReduceOutput]],
    combine: bool,
    warehouse: Path,
) -> FollowedBatches:
    """Merge the reducers' output into the warehouse in one transaction, record each batch in the ledger, publish
    the run's counters, and delete its spills; returns the batches' ledger outcomes."""
    if not shuffled.complete and not shuffled.failed:
        return FollowedBatches(outcomes=[], errors=[])
    outputs = [output for partition in reduced for output in partition]
    counters = {"flow_run_id": flow_run.get_id(), "loaded_at": datetime.now(UTC), "combiner": combine}
    counters |= counters_of_run(shuffled, outputs)
    with open_warehouse(warehouse) as connection:
        outcomes = merge_mapreduce_run(
            connection, job.name, job.version, shuffled, outputs, counters, discovery.started_at, flow_run.get_id()
        )
    publish_counters(job.name, counters)
    remove_run_files(shuffled)
    return FollowedBatches(outcomes=outcomes, errors=[])


def record_run_metrics(summary: RunSummary, warehouse: Path) -> None:
    """Write the run's row of meta.runs, replacing an earlier one of the same flow run (a retry)."""
    flow_run_id = flow_run.get_id() or f"no-flow-run-{uuid.uuid4()}"
    with open_warehouse(warehouse) as connection:
        record_run(connection, run_record(summary, flow_run_id, flow_run.get_name(), datetime.now(UTC)))


@task(name="report-run", **RETRIES)
def report_run(
    pipeline: str,
    discovery: Discovery,
    warehouse: Path,
    followed: FollowedBatches,
    marts_refreshed_days: int | None = None,
    max_reject_rate: float = MAX_REJECT_RATE,
) -> RunSummary:
    """Record the run's metrics in meta.runs and publish its summary as Prefect artifacts and a log line; returns
    it. Batches rejecting more than `max_reject_rate` of their rows are loaded, and named in the summary."""
    summary = summarize(
        pipeline, discovery, str(warehouse), followed, marts_refreshed_days, max_reject_rate, peak_memory_bytes()
    )
    record_run_metrics(summary, warehouse)
    publish_summary(summary)
    return summary


@task(name="announce-completion")
def announce_completion(summary: RunSummary) -> bool:
    """Emit `batchyard.pipeline.rejects-over-threshold` if batches rejected more than the threshold allows, for an
    alert; and `batchyard.pipeline.completed` if every batch of the run loaded (even over the threshold: the data
    is loaded and the marts are current), so that downstream deployments start. A run with failed batches announces
    no completion. Returns whether it announced completion."""
    flow_run_id = str(flow_run.get_id())
    if summary.over_threshold:
        emit_event(**rejects_event(summary, flow_run_id))
    if summary.failures:
        return False
    emit_event(**completion_event(summary, flow_run_id))
    return True


@task(name="check-warehouse", **RETRIES)
def check_warehouse(warehouse: Path) -> list[CheckResult]:
    """Run every invariant check on the warehouse and record the results in meta.check_results."""
    with open_warehouse(warehouse) as connection:
        return audit_warehouse(connection, flow_run.get_id())


@task(name="report-audit")
def report_audit(results: list[CheckResult], warehouse: Path, upstream_flow_run_id: str | None) -> list[CheckResult]:
    """Publish the audit as a Prefect table artifact and a log line; returns the results."""
    publish_audit(results, str(warehouse), upstream_flow_run_id)
    return results


@task(name="read-report-figures", task_run_name="read figures {period.kind} {period.label}", **RETRIES)
def read_report_figures(period: ReportPeriod, warehouse: Path) -> Report:
    """Read the period's figures from the marts of the pipelines that loaded into the warehouse; the warehouse is
    open (under its lock) only while reading, and the page is made afterwards."""
    if not warehouse.is_file():
        raise WarehouseUnavailable(f"no warehouse at {warehouse}")
    with open_warehouse(warehouse) as connection:
        return report_figures(connection, period, str(warehouse))


@task(name="write-report", **RETRIES)
def write_report_page(report: Report, out: Path) -> Path:
    """Render the report as one self-contained HTML page under `out`, replacing an earlier one; returns its path."""
    return write_report(report, out)


@task(name="publish-report")
def publish_report_artifacts(report: Report, path: Path) -> ReportSummary:
    """Publish the key figures and the page's path (markdown artifact) and the main chart (image artifact)."""
    return publish_report(report, path)


# ----------------------------------------------------------------------------------------------------------------------
# Migration (flows/migrate.py): inspect the source, copy each table in checkpointed keyset batches, verify, report.


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
    if isinstance(copied, tuple):  # prefect-dask hands allow_failure()-wrapped arguments over as a 1-tuple
        (copied,) = copied
    if isinstance(copied, BaseException):
        return record_failed_copy(copied, source, plan, warehouse, flow_run.get_id())
    return verify_and_swap_in(copied, source, plan, warehouse, batch_rows, flow_run.get_id())


@task(name="report-migration", **RETRIES)
def report_migration(
    plan: MigrationPlan, warehouse: Path, outcomes: list[TableOutcome], max_reject_rate: float = MAX_REJECT_RATE
) -> RunSummary:
    """Record the run's metrics in meta.runs and publish its table artifact (table, rows in / loaded / rejected,
    seconds, rows/s, verdict), its summary and a log line; returns the run's summary."""
    summary = summarize_migration(plan, str(warehouse), outcomes, max_reject_rate, peak_memory_bytes())
    record_run_metrics(summary, warehouse)
    publish_migration(plan, summary, outcomes)
    return summary
