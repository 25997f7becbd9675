"""Copying one table of an operational database into the warehouse, and verifying the copy: the plain functions
behind the migrate flow's copy and verify tasks (migration.py reads and converts; checkpoints.py writes).
"""

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from tasks.core.batches import Batch
from tasks.pipelines.migrate.checkpoints import (
    fail_migration,
    finish_migration,
    loaded_migration_fingerprint,
    migration_copy_contents,
    read_migration_checkpoint,
    start_migration_copy,
    write_migration_batch,
)
from tasks.pipelines.migrate.migration import (
    PIPELINE,
    TableCopy,
    TableOutcome,
    TablePlan,
    VerificationFailed,
    compare_checksums,
    connected,
    decode_key,
    encode_key,
    fingerprint,
    read_pages,
    redact,
    source_checksum,
    warehouse_checksum,
)
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import BatchOutcome

# How long a table's copy keeps the warehouse open over consecutive batches before letting other writers in.
WAREHOUSE_HOLD_SECONDS = 1.0


def copy_table_in_batches(
    source: str,
    plan: TablePlan,
    warehouse: Path,
    batch_rows: int,
    flow_run_id: str | None,
    logger: logging.Logger | logging.LoggerAdapter,
    on_progress: Callable[[int, int], None] = lambda rows_read, total_rows: None,
) -> TableCopy:
    """Copy one table in keyset batches, each committed with its checkpoint, after the last batch an earlier run
    committed; a table whose verified copy still matches the source is left as it is. `on_progress` hears the rows
    read so far and the table's row count. Returns what it did."""
    started = time.time()
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
                checkpoint = start_migration_copy(connection, plan, flow_run_id)
        total_rows = database.count_rows(plan)
        rows_read = checkpoint.rows_read
        on_progress(rows_read, total_rows)
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
                    connection, plan, page.arrow_table(plan), rejects, encode_key(page.last_key), rows_read, flow_run_id
                )
                rows_read += page.rows_read
                copied += len(page.rows)
                rejected += len(page.rejects)
                on_progress(rows_read, total_rows)
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


def record_failed_copy(
    error: BaseException, source: str, plan: TablePlan, warehouse: Path, flow_run_id: str | None
) -> TableOutcome:
    """Record in the ledger a table whose copy failed after its retries, with its error (credentials masked)."""
    started = time.time()
    message = redact(f"{type(error).__name__}: {error}", source)
    batch = Batch(PIPELINE, plan.source, Path(plan.source_table), f"copy failed plan={plan.version}", 0)
    with open_warehouse(warehouse) as connection:
        fail_migration(connection, plan, batch, message, started, flow_run_id)
    return TableOutcome(plan.source_table, plan.target_table, "failed", 0, 0, 0, time.time() - started, message)


def verify_and_swap_in(
    copied: TableCopy, source: str, plan: TablePlan, warehouse: Path, batch_rows: int, flow_run_id: str | None
) -> TableOutcome:
    """Check the copy against the source (row count and checksum, both sides read again) and, if they match, swap it
    in with its rejects and ledger entry in one transaction; otherwise record the table as failed, and why."""
    started = time.time()
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
    unreadable = None
    with open_warehouse(warehouse) as connection:
        checkpoint = read_migration_checkpoint(connection, plan)
        copy_started = checkpoint.started_at.timestamp()
        try:
            in_warehouse = warehouse_checksum(*migration_copy_contents(connection, plan, batch_rows))
        except (
            OverflowError,
            ValueError,
        ) as error:  # a value Python cannot hold, read back without arrow_column_values
            unreadable = VerificationFailed(f"{plan.description}: the copy cannot be read back to verify it ({error})")
        if unreadable is None:
            try:
                compare_checksums(plan, in_source, in_warehouse, checkpoint.rows_copied, checkpoint.rows_rejected)
            except VerificationFailed as failure:
                fail_migration(connection, plan, batch, str(failure), copy_started, flow_run_id)
                return _failed(plan, failure, copied.seconds + time.time() - started)
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
            finish_migration(connection, plan, batch, outcome, copy_started, flow_run_id)
            return TableOutcome(
                plan.source_table,
                plan.target_table,
                "copied",
                in_source.rows,
                checkpoint.rows_copied,
                checkpoint.rows_rejected,
                seconds,
            )
    # the read broke off with its result still open on that connection: the failure is recorded on a new one
    with open_warehouse(warehouse) as connection:
        fail_migration(connection, plan, batch, str(unreadable), copy_started, flow_run_id)
    return _failed(plan, unreadable, copied.seconds + time.time() - started)


def _failed(plan: TablePlan, failure: VerificationFailed, seconds: float) -> TableOutcome:
    return TableOutcome(plan.source_table, plan.target_table, "failed", 0, 0, 0, seconds, str(failure))
