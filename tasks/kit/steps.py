"""The Prefect tasks every pipeline runs: thin wrappers that add retries, caching and names to the plain functions
they call, and the retry policy that follows the error's type."""

import hashlib
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import duckdb
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.events import emit_event
from prefect.futures import PrefectFuture, PrefectWrappedFuture
from prefect.logging import get_logger
from prefect.runtime import flow_run
from prefect.states import State
from prefect.tasks import Task

from tasks.core.batches import Batch
from tasks.core.errors import PermanentError
from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.core.staging import SourceFormat, StagedBatch, read_manifest, stage_batch, staging_directory, staging_epoch
from tasks.kit.discovery import Discovery, discover
from tasks.kit.exports import ExportFamily, ExportPlan
from tasks.observability.audit import CheckResult, audit_warehouse, publish_audit
from tasks.observability.events import completion_event, rejects_event
from tasks.observability.monitoring import peak_memory_bytes
from tasks.observability.progress import BatchProgress, FollowedBatches, LoadsFollowed
from tasks.observability.summaries import RunSummary, publish_summary, run_record
from tasks.warehouse.connection import HeldForLoads, open_warehouse
from tasks.warehouse.loads import (
    BatchOutcome,
    FactTable,
    load_staged_batch,
    record_failed_batch,
    refresh_marts,
)
from tasks.warehouse.runs import record_run

logger = get_logger("batchyard.loads")


class StagingMissing(PermanentError):
    """A staged batch's folder was removed after it was staged."""


# A bug comes out the same on a retry too; every other failure that is not a PermanentError is worth another try.
PROGRAMMING_ERRORS = (TypeError, ValueError, AttributeError, KeyError, AssertionError)


def is_transient(error: BaseException) -> bool:
    """Whether another try can fix what raised `error`: never a PermanentError (bad data, a bad setting, a refused
    source, a copy that does not match) or a bug; anything else (I/O, a full disk, a lock, the network) can."""
    return isinstance(error, Exception) and not isinstance(error, (PermanentError, *PROGRAMMING_ERRORS))


def retry_if_transient(task: Task, task_run: object, state: State) -> bool:
    """The tasks' retry policy follows the error's type (`is_transient`)."""
    try:
        state.result()
    except Exception as error:  # noqa: BLE001 - judged by its type
        return is_transient(error)
    return True


RETRY_DELAYS_SECONDS = (2, 4, 8)  # exponential backoff; each delay drawn within RETRY_JITTER of it
RETRY_JITTER = 0.5
RETRIES = {
    "retries": len(RETRY_DELAYS_SECONDS),
    "retry_delay_seconds": list(RETRY_DELAYS_SECONDS),
    "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_transient,
}


T = TypeVar("T")


def with_retries(call: Callable[[], T], what: str, delays: Sequence[float] | None = None) -> T:
    """`call()`, tried again after each of `delays` (by default RETRY_DELAYS_SECONDS, with jitter) while it fails
    with an error another try can fix (`is_transient`), as a task's retries would: for a step that runs many times
    within one task. `what` names the step in the warning a retry logs."""
    for delay in RETRY_DELAYS_SECONDS if delays is None else delays:
        try:
            return call()
        except Exception as error:
            if not is_transient(error):
                raise
            wait = delay * random.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
            logger.warning("%s failed (%s: %s); trying again in %.1f s", what, type(error).__name__, error, wait)
            time.sleep(wait)
    return call()


discover_batches = task(discover, name="discover-batches", **RETRIES)


def staged_batch_cache_key(context: TaskRunContext, parameters: dict) -> str | None:
    """The batch's content, the parser's code and the staging area's place and lifetime; None (not cached: the task
    runs) while the batch has no staged folder, as when an operator removed it to free space after its load: a cached
    result would point the load at a folder that is gone."""
    batch: Batch = parameters["batch"]
    source_format: SourceFormat = parameters["source_format"]
    staging_root: Path = parameters["staging_root"]
    if read_manifest(staging_directory(staging_root, batch)) is None:
        return None
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
def stage_file_batch(batch: Batch, source_format: SourceFormat, staging_root: Path, chunk_bytes: int) -> StagedBatch:
    """Parse and validate one file into Parquet staging under `staging_root` (the run's, Discovery.staging_root);
    cached by its content fingerprint and the parser's code."""
    return stage_batch(batch, source_format, staging_root, chunk_bytes, on_progress=BatchProgress(batch).report)


def load_batch(
    connection: duckdb.DuckDBPyConnection, staged: StagedBatch | BaseException, batch: Batch, target: FactTable
) -> BatchOutcome:
    """Load one staged batch into `target` in one transaction; or record in the ledger why it could not be staged
    (`staged` is then the staging task's exception, after its retries) or read."""
    if isinstance(staged, BaseException):
        error = f"{type(staged).__name__}: {staged}"
        return record_failed_batch(connection, batch, error, time.time(), flow_run.get_id())
    if staged.error:
        return record_failed_batch(
            connection, batch, staged.error, staged.started_at, flow_run.get_id(), staged.parser_version
        )
    if read_manifest(Path(staged.directory)) is None:
        raise StagingMissing(f"{staged.directory} was removed after staging; run again to stage it anew")
    return load_staged_batch(connection, staged, target, flow_run.get_id())


def staging_outcome(future: PrefectFuture[StagedBatch]) -> StagedBatch | BaseException:
    """The staged batch, once its staging task has ended; or the exception it failed with after its retries."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a failed staging is recorded in the ledger, not raised
        return error


def is_done(future: PrefectFuture) -> bool:
    return isinstance(future, PrefectWrappedFuture) and future.wrapped_future.done()


def load_when_staged(
    held: HeldForLoads,
    future: PrefectFuture[StagedBatch],
    following: PrefectFuture[StagedBatch] | None,
    batch: Batch,
    target: FactTable,
) -> BatchOutcome:
    """Wait for the batch's staging, then load it on the run's held connection, kept open after the load if the
    `following` batch is staged already."""
    staged = staging_outcome(future)
    with held.connection(lambda: following is not None and is_done(following)) as connection:
        return load_batch(connection, staged, batch, target)


@task(name="load-batches", task_run_name="load {what}", cache_policy=NO_CACHE)
def load_batches(
    staged: Sequence[PrefectFuture[StagedBatch]],
    batches: Sequence[Batch],
    tables: Sequence[FactTable],
    warehouse: Path,
    what: str,
) -> FollowedBatches:
    """Load each of a run's batches in its own transaction as soon as its staging (`staged`, the futures of the
    staging tasks, still running) has ended and the batch before it is loaded, in file order: a run killed midway
    leaves the first files loaded, the same ones each time. A batch whose staging failed reaches the ledger with its
    error; a load that fails is retried with backoff if a retry can help (`with_retries`), and one failed for good
    does not stop the others. Once a load has failed through all its retries, the next ones get a single try each: a
    warehouse whose disk stayed full through the backoff fails the run in seconds, not ~14 s per file. The warehouse
    stays open from one load to the next while the next batch is staged already (HeldForLoads), and is closed at the
    end. Each outcome is logged and counted in the run's progress.

    One task for all of a run's loads, not one per batch: a task run costs the Prefect server ~23 ms of CPU and the
    flow's process ~5 ms, on cores that staging keeps busy; a task run per file cost the sales benchmark ~0.7 s of 27
    and the access logs' first run over 99 files ~2.6 s of 39 (docs/performance.md). They took turns anyway."""
    held = HeldForLoads(warehouse)
    followed = LoadsFollowed(what, len(batches))
    following = [*staged[1:], None][: len(staged)]  # the last batch has none after it
    retry_delays = None  # the tasks' backoff, until a cause outlasts it
    try:
        with followed:
            for future, upcoming, batch, target in zip(staged, following, batches, tables, strict=True):
                load = partial(load_when_staged, held, future, upcoming, batch, target)
                try:
                    followed.loaded(with_retries(load, f"the load of {batch.source}", retry_delays))
                except Exception as error:  # noqa: BLE001 - one failed batch must not stop the others
                    followed.not_loaded(batch, error)
                    if is_transient(error):
                        retry_delays = ()
    finally:
        held.close()
    return followed.followed()


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


def record_run_metrics(summary: RunSummary, warehouse: Path) -> None:
    """Write the run's row of meta.runs, replacing an earlier one of the same flow run (a retry)."""
    flow_run_id = flow_run.get_id() or f"no-flow-run-{uuid.uuid4()}"
    with open_warehouse(warehouse) as connection:
        record_run(connection, run_record(summary, flow_run_id, flow_run.get_name(), datetime.now(UTC)))


def summarize(
    pipeline: str,
    discovery: Discovery,
    warehouse: str,
    followed: FollowedBatches,
    marts_refreshed_days: int | None,
    max_reject_rate: float = MAX_REJECT_RATE,
    peak_memory_bytes: int | None = None,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    batches = sorted(followed.outcomes, key=lambda batch: batch.source)
    failures = [f"{batch.source}: {batch.error}" for batch in batches if batch.status == "failed"] + followed.errors
    return RunSummary(
        pipeline=pipeline,
        source=discovery.source,
        warehouse=warehouse,
        batches=batches,
        already_loaded=discovery.already_loaded,
        marts_refreshed_days=marts_refreshed_days,
        seconds=time.time() - discovery.started_at,
        failures=failures,
        max_reject_rate=max_reject_rate,
        reject_rate_min_rows=reject_rate_min_rows,
        peak_memory_bytes=peak_memory_bytes,
        half_written=discovery.half_written,
    )


@task(name="report-run", **RETRIES)
def report_run(
    pipeline: str,
    discovery: Discovery,
    warehouse: Path,
    followed: FollowedBatches,
    marts_refreshed_days: int | None = None,
    max_reject_rate: float = MAX_REJECT_RATE,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """Record the run's metrics in meta.runs and publish its summary as Prefect artifacts and a log line; returns
    it. Batches of at least `reject_rate_min_rows` rows rejecting more than `max_reject_rate` of them, and batches
    rejected whole, are loaded, and named in the summary."""
    summary = summarize(
        pipeline,
        discovery,
        str(warehouse),
        followed,
        marts_refreshed_days,
        max_reject_rate,
        peak_memory_bytes(),
        reject_rate_min_rows,
    )
    record_run_metrics(summary, warehouse)
    publish_summary(summary)
    return summary


@task(name="announce-completion")
def announce_completion(summary: RunSummary) -> bool:
    """Emit `batchyard.pipeline.rejects-over-threshold` if batches rejected more than the threshold allows (or every
    row), for an alert; and `batchyard.pipeline.completed` if every batch of the run loaded (even over the threshold: the data
    is loaded and the marts are current), so that downstream deployments start. A run with failed batches announces
    no completion, nor does a run that changed nothing (no new batch, no mart rebuilt): an hourly run that finds no
    new file would otherwise start the audit and a report of the same data every hour. Returns whether it announced
    completion."""
    flow_run_id = str(flow_run.get_id())
    if summary.over_threshold:
        emit_event(**rejects_event(summary, flow_run_id))
    if summary.failures or not (summary.batches or summary.marts_refreshed_days):
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
