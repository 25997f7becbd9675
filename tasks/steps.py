"""Prefect tasks: thin wrappers that add retries, caching and names to the plain functions they call."""

import hashlib
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.context import TaskRunContext
from prefect.events import emit_event
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.states import State
from prefect.tasks import Task, exponential_backoff

from tasks.audit import CheckResult, audit_warehouse
from tasks.batches import Batch
from tasks.discovery import Discovery, SourceUnavailable, discover
from tasks.mapreduce import (
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
from tasks.migration import (
    PIPELINE,
    MigrationPlan,
    MigrationRefused,
    TableCopy,
    TableOutcome,
    TablePlan,
    VerificationFailed,
    compare_checksums,
    connected,
    decode_key,
    encode_key,
    fingerprint,
    inspect_source,
    read_pages,
    redact,
    report_rows,
    source_checksum,
    warehouse_checksum,
)
from tasks.reading import BatchDataError
from tasks.reporting import (
    BatchProgress,
    FollowedBatches,
    RunSummary,
    completed_in_turn,
    completion_event,
    publish_audit,
    publish_counters,
    publish_model_summary,
    publish_summary,
    summarize,
)
from tasks.sales import ExportPlan, ModelSummary, plan_exports, summarize_model
from tasks.settings import staging_root_for
from tasks.staging import (
    SourceFormat,
    StagedBatch,
    read_manifest,
    stage_batch,
    staging_epoch,
)
from tasks.validation import SchemaMismatch
from tasks.warehouse import (
    AccountingError,
    BatchOutcome,
    FactTable,
    MigrationConflict,
    WarehouseUnavailable,
    fail_migration,
    finish_migration,
    load_staged_batch,
    loaded_migration_fingerprint,
    merge_mapreduce_run,
    migration_copy_contents,
    open_warehouse,
    read_migration_checkpoint,
    record_failed_batch,
    refresh_marts,
    start_migration_copy,
    write_migration_batch,
)


class StagingMissing(Exception):
    """A staged batch's folder was removed after it was staged."""


# Failures that come out the same however often they are retried: bad data, bad settings, or a bug.
DETERMINISTIC_ERRORS = (
    SourceUnavailable,
    WarehouseUnavailable,
    AccountingError,
    SchemaMismatch,
    BatchDataError,
    StagingMissing,
    TypeError,
    ValueError,
)


def retry_unless_deterministic(task: Task, task_run: object, state: State) -> bool:
    try:
        state.result()
    except DETERMINISTIC_ERRORS:
        return False
    except Exception:  # noqa: BLE001 - anything else (I/O, locks, the network) is worth another try
        return True
    return True


RETRIES = {
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_unless_deterministic,
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
def rebuild_marts(pipeline: str, warehouse: Path) -> int:
    """Rebuild the pipeline's marts for the days whose facts changed; returns how many days."""
    with open_warehouse(warehouse) as connection:
        return refresh_marts(connection, pipeline)


@task(name="plan-exports")
def plan_sales_exports(discovery: Discovery) -> ExportPlan:
    """Which format stages each export file, and which staging table loads it, by the file's kind."""
    return plan_exports(discovery.to_load)


@task(name="report-sales-model", **RETRIES)
def report_sales_model(warehouse: Path) -> ModelSummary:
    """Publish what the star schema holds and waits for (inferred customers, orders without lines, missing FX
    rates) as a Prefect artifact and log lines; returns it."""
    with open_warehouse(warehouse) as connection:
        summary = summarize_model(connection)
    publish_model_summary(summary)
    return summary


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


@task(name="report-run")
def report_run(
    pipeline: str,
    discovery: Discovery,
    warehouse: Path,
    followed: FollowedBatches,
    marts_refreshed_days: int | None = None,
) -> RunSummary:
    """Publish the run's summary as Prefect artifacts and a log line; returns it."""
    summary = summarize(pipeline, discovery, str(warehouse), followed, marts_refreshed_days)
    publish_summary(summary)
    return summary


@task(name="announce-completion")
def announce_completion(summary: RunSummary) -> bool:
    """Emit `batchyard.pipeline.completed` if every batch of the run loaded, so that downstream deployments start;
    a run with failed batches announces nothing. Returns whether it announced."""
    if summary.failures:
        return False
    emit_event(**completion_event(summary, str(flow_run.get_id())))
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


# ----------------------------------------------------------------------------------------------------------------------
# Migration (flows/migrate.py): inspect the source, copy each table in checkpointed keyset batches, verify, report.


def retry_unless_migration_refused(task: Task, task_run: object, state: State) -> bool:
    """Bad input, a copy that does not match its source, or two runs on one table come out the same on a retry;
    a lost connection or a busy warehouse may not (and a retried copy resumes from its checkpoint)."""
    try:
        state.result()
    except (MigrationRefused, VerificationFailed, MigrationConflict):
        return False
    except Exception:  # noqa: BLE001 - the shared rule decides the rest
        return retry_unless_deterministic(task, task_run, state)
    return True


MIGRATION_RETRIES = {**RETRIES, "retry_condition_fn": retry_unless_migration_refused}
# How long a table's copy keeps the warehouse open over consecutive batches before letting other writers in.
WAREHOUSE_HOLD_SECONDS = 1.0


@task(name="inspect-source", **MIGRATION_RETRIES)
def inspect_migration_source(
    source: str, tables: list[str] | None, schema: str, key: list[str] | None
) -> MigrationPlan:
    """Plan each table's copy: its key and each column's DuckDB type; refuses an unknown table or one without a key."""
    return inspect_source(source, tables, schema, key)


class CopyProgress:
    """One table's copy progress: a Prefect progress artifact on its task run, and a log line every 10%."""

    def __init__(self, plan: TablePlan, total_rows: int, rows_read: int):
        self.plan = plan
        self.total_rows = max(total_rows, 1)
        self.artifact_id = create_progress_artifact(
            100.0 * min(rows_read / self.total_rows, 1.0), description=f"copying {plan.description}"
        )
        self.logged_tenths = int(10 * rows_read / self.total_rows)

    def report(self, rows_read: int) -> None:
        fraction = min(rows_read / self.total_rows, 1.0)
        update_progress_artifact(self.artifact_id, 100.0 * fraction)
        tenths = int(fraction * 10)
        if tenths > self.logged_tenths and fraction < 1.0:
            self.logged_tenths = tenths
            get_run_logger().info("%s: %d%% copied (%s rows)", self.plan.description, tenths * 10, f"{rows_read:,}")


@task(name="copy-table", task_run_name="copy {plan.source_table}", **MIGRATION_RETRIES)
def copy_table(source: str, plan: TablePlan, warehouse: Path, batch_rows: int) -> TableCopy:
    """Copy one table in keyset batches, each committed with its checkpoint, after the last batch an earlier run
    committed; a table whose verified copy still matches the source is left as it is. Returns what it did."""
    started = time.time()
    logger = get_run_logger()
    run_id = flow_run.get_id()
    with connected(source) as database:
        with open_warehouse(warehouse) as connection:
            checkpoint = read_migration_checkpoint(connection, plan)
            loaded_fingerprint = loaded_migration_fingerprint(connection, plan)
        if checkpoint is not None and checkpoint.status == "done" and loaded_fingerprint is not None:
            current = fingerprint(plan, source_checksum(database, plan, batch_rows))
            if current == loaded_fingerprint:
                logger.info("%s: unchanged since its verified copy, left as it is", plan.description)
                return TableCopy(
                    plan, "unchanged", checkpoint.rows_copied, checkpoint.rows_rejected, 0, 0, time.time() - started
                )
        resuming = checkpoint is not None and checkpoint.status == "copying" and checkpoint.plan_version == plan.version
        if resuming:
            logger.info(
                "%s: resuming after %s rows copied by an earlier run", plan.description, f"{checkpoint.rows_read:,}"
            )
        else:
            with open_warehouse(warehouse) as connection:
                checkpoint = start_migration_copy(connection, plan, run_id)
        progress = CopyProgress(plan, database.count_rows(plan), checkpoint.rows_read)
        rows_read = checkpoint.rows_read
        copied, rejected = checkpoint.rows_copied, checkpoint.rows_rejected
        with ExitStack() as held:
            # every batch commits on its own, but opening and closing DuckDB costs ~50 ms (it checkpoints its log on
            # close), so the warehouse is held for a few batches at a time and handed back between them
            connection, opened_at = None, 0.0
            for page in read_pages(database, plan, decode_key(checkpoint.last_key), batch_rows, rows_read):
                if connection is None:
                    connection, opened_at = held.enter_context(open_warehouse(warehouse)), time.monotonic()
                rejects = [(reject.position, reject.raw, reject.reason) for reject in page.rejects]
                write_migration_batch(
                    connection, plan, page.arrow_table(plan), rejects, encode_key(page.last_key), rows_read, run_id
                )
                rows_read += page.rows_read
                copied += len(page.rows)
                rejected += len(page.rejects)
                progress.report(rows_read)
                if time.monotonic() - opened_at > WAREHOUSE_HOLD_SECONDS:
                    held.close()
                    connection = None
    return TableCopy(
        plan,
        "copied",
        copied,
        rejected,
        rows_read - checkpoint.rows_read,
        checkpoint.rows_read if resuming else 0,
        time.time() - started,
    )


@task(name="verify-table", task_run_name="verify {plan.source_table}", **MIGRATION_RETRIES)
def verify_table(
    copied: TableCopy | BaseException, source: str, plan: TablePlan, warehouse: Path, batch_rows: int
) -> TableOutcome:
    """Check the copy against the source (row count and checksum, both sides read again) and, if they match, swap it
    in with its rejects and ledger entry in one transaction; otherwise record the table as failed, and why. A copy
    that failed after its retries (`copied` is then its exception) is recorded as failed too."""
    if isinstance(copied, tuple):  # prefect-dask hands allow_failure()-wrapped arguments over as a 1-tuple
        (copied,) = copied
    started = time.time()
    run_id = flow_run.get_id()
    if isinstance(copied, BaseException):
        error = redact(f"{type(copied).__name__}: {copied}", source)
        batch = Batch(PIPELINE, plan.source, Path(plan.source_table), f"copy failed plan={plan.version}", 0)
        with open_warehouse(warehouse) as connection:
            fail_migration(connection, plan, batch, error, started, run_id)
        return TableOutcome(plan.source_table, plan.target_table, "failed", 0, 0, 0, time.time() - started, error)
    if copied.status == "unchanged":
        rows_in = copied.rows_copied + copied.rows_rejected
        return TableOutcome(
            plan.source_table,
            plan.target_table,
            "unchanged",
            rows_in,
            copied.rows_copied,
            copied.rows_rejected,
            copied.seconds,
        )
    with connected(source) as database:
        in_source = source_checksum(database, plan, batch_rows)
    batch = Batch(PIPELINE, plan.source, Path(plan.source_table), fingerprint(plan, in_source), 0)
    with open_warehouse(warehouse) as connection:
        checkpoint = read_migration_checkpoint(connection, plan)
        rows, rejects = migration_copy_contents(connection, plan, batch_rows)
        in_warehouse = warehouse_checksum(rows, rejects)
        copy_started = checkpoint.started_at.timestamp()
        try:
            compare_checksums(plan, in_source, in_warehouse, checkpoint.rows_copied, checkpoint.rows_rejected)
        except VerificationFailed as failure:
            fail_migration(connection, plan, batch, str(failure), copy_started, run_id)
            seconds = copied.seconds + time.time() - started
            return TableOutcome(plan.source_table, plan.target_table, "failed", 0, 0, 0, seconds, str(failure))
        seconds = copied.seconds + time.time() - started
        outcome = BatchOutcome(
            batch_id=batch.batch_id,
            source=plan.source,
            status="loaded",
            rows_in=in_source.rows,
            rows_loaded=checkpoint.rows_copied,
            rows_rejected=checkpoint.rows_rejected,
            bytes_read=0,
            seconds=seconds,
        )
        finish_migration(connection, plan, batch, outcome, copy_started, run_id)
    return TableOutcome(
        plan.source_table,
        plan.target_table,
        "copied",
        in_source.rows,
        checkpoint.rows_copied,
        checkpoint.rows_rejected,
        seconds,
    )


def follow_tables(futures: list[PrefectFuture], plans: list[TablePlan]) -> list[TableOutcome]:
    """Wait for each table's verification (one future per plan, in order), showing progress and logging verdicts."""
    logger = get_run_logger()
    plan_of = {id(future): plan for future, plan in zip(futures, plans, strict=True)}
    outcomes = []
    for future in completed_in_turn(futures, "migrate", "tables"):
        plan = plan_of[id(future)]
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - one failed table must not stop the others being followed
            outcome = TableOutcome(
                plan.source_table, plan.target_table, "failed", 0, 0, 0, 0.0, f"{type(error).__name__}: {error}"
            )
        if outcome.error:
            logger.error("%s failed: %s", plan.description, outcome.error)
        else:
            logger.info(
                "%s: %s, %s rows in, %s loaded, %s rejected",
                plan.description,
                outcome.verdict,
                f"{outcome.rows_in:,}",
                f"{outcome.rows_loaded:,}",
                f"{outcome.rows_rejected:,}",
            )
        outcomes.append(outcome)
    return sorted(outcomes, key=lambda outcome: outcome.table)


@task(name="report-migration")
def report_migration(plan: MigrationPlan, warehouse: Path, outcomes: list[TableOutcome]) -> RunSummary:
    """Publish the run's table artifact (table, rows in / loaded / rejected, seconds, rows/s, verdict) and a log
    line; returns the run's summary."""
    create_table_artifact(
        report_rows(outcomes), key="migrate-tables", description=f"migrate: tables from {plan.source}"
    )
    summary = RunSummary(
        pipeline=PIPELINE,
        source=plan.source,
        warehouse=str(warehouse),
        batches=[
            BatchOutcome(
                "",
                f"{plan.source}#{outcome.table}",
                "failed" if outcome.error else "loaded",
                outcome.rows_in,
                outcome.rows_loaded,
                outcome.rows_rejected,
                0,
                outcome.seconds,
                outcome.error,
            )
            for outcome in outcomes
            if outcome.verdict != "unchanged"
        ],
        already_loaded=sum(outcome.verdict == "unchanged" for outcome in outcomes),
        marts_refreshed_days=None,
        seconds=time.time() - plan.started_at,
        failures=[f"{outcome.table}: {outcome.error}" for outcome in outcomes if outcome.error],
    )
    get_run_logger().info(
        "migrate %s: %d table(s) copied, %d unchanged, %d failed; %s rows in, %s loaded, %s rejected; %.1f s",
        plan.source,
        sum(outcome.verdict == "copied" for outcome in outcomes),
        summary.already_loaded,
        len(summary.failures),
        f"{summary.rows_in:,}",
        f"{summary.rows_loaded:,}",
        f"{summary.rows_rejected:,}",
        summary.seconds,
    )
    return summary
