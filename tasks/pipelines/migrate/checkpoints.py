"""The migrate pipeline's side of the warehouse.

A table copied out of an operational database grows in a copy table beside its target,
one transaction per batch (its rows, its rejects, and the checkpoint that says where the next batch starts), so a
run killed at any point resumes after the last committed batch. Once verified against the source, the copy is
swapped in for the target, its rejects move to meta.rejects and the ledger records the table, in one transaction.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from tasks.core.batches import Batch
from tasks.core.errors import PermanentError
from tasks.core.quoting import quote_identifier
from tasks.pipelines.migrate.migration import CODE_VERSION, COPY_SUFFIX, PIPELINE, TablePlan, arrow_column_values
from tasks.warehouse.connection import transaction
from tasks.warehouse.loads import AccountingError, BatchOutcome, failed_outcome, record_in_ledger, record_loaded


class MigrationConflict(PermanentError):
    """The checkpoint moved under a copy: another run is copying the same table."""


@dataclass(frozen=True)
class MigrationCheckpoint:
    plan_version: str
    last_key: str | None  # JSON, see tasks.pipelines.migrate.migration.encode_key
    rows_copied: int
    rows_rejected: int
    status: str  # copying | done | failed
    started_at: datetime

    @property
    def rows_read(self) -> int:
        return self.rows_copied + self.rows_rejected


def _copy_table_sql(plan: TablePlan) -> str:
    return f"{quote_identifier(plan.target_schema)}.{quote_identifier(plan.target_name + COPY_SUFFIX)}"


def _target_table_sql(plan: TablePlan) -> str:
    return f"{quote_identifier(plan.target_schema)}.{quote_identifier(plan.target_name)}"


def read_migration_checkpoint(connection: duckdb.DuckDBPyConnection, plan: TablePlan) -> MigrationCheckpoint | None:
    row = connection.execute(
        "select plan_version, last_key, rows_copied, rows_rejected, status, started_at "
        "from migrate.checkpoints where source = ? and target_table = ?",
        [plan.source, plan.target_table],
    ).fetchall()
    return MigrationCheckpoint(*row[0]) if row else None


def loaded_migration_fingerprint(connection: duckdb.DuckDBPyConnection, plan: TablePlan) -> str | None:
    """The fingerprint the ledger holds for the table's loaded copy, if its target table is still there."""
    exists = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [plan.target_schema, plan.target_name],
    ).fetchall()[0][0]
    row = connection.execute(
        "select fingerprint from meta.batches where pipeline = ? and source = ? and status = 'loaded'",
        [PIPELINE, plan.source],
    ).fetchall()
    return row[0][0] if row and exists else None


def start_migration_copy(
    connection: duckdb.DuckDBPyConnection, plan: TablePlan, flow_run_id: str | None
) -> MigrationCheckpoint:
    """Start the table's copy from the beginning, in one transaction: an empty copy table with the plan's types (no
    PRIMARY KEY: its index would have to fit in memory for a table of any size; the checkpoint keeps batches from
    being written twice and verification counts every row), no pending rejects, and a fresh checkpoint."""
    now = datetime.now(UTC)
    columns = ", ".join(f"{quote_identifier(column.name)} {column.target_type}" for column in plan.columns)
    with transaction(connection):
        connection.execute(f"create schema if not exists {quote_identifier(plan.target_schema)}")
        connection.execute(f"drop table if exists {_copy_table_sql(plan)}")
        connection.execute(f"create table {_copy_table_sql(plan)} ({columns})")
        connection.execute(
            "delete from migrate.pending_rejects where source = ? and target_table = ?",
            [plan.source, plan.target_table],
        )
        connection.execute(
            "delete from migrate.checkpoints where source = ? and target_table = ?", [plan.source, plan.target_table]
        )
        connection.execute(
            "insert into migrate.checkpoints by name select ? as source, ? as target_table, ? as copy_table, "
            "? as key_columns, ? as plan, ? as plan_version, null as last_key, 0 as rows_copied, 0 as rows_rejected, "
            "'copying' as status, ? as started_at, ? as last_batch_at, ? as flow_run_id",
            [
                plan.source,
                plan.target_table,
                f"{plan.target_schema}.{plan.target_name}{COPY_SUFFIX}",
                list(plan.key),
                plan.as_json(),
                plan.version,
                now,
                now,
                flow_run_id,
            ],
        )
    return MigrationCheckpoint(plan.version, None, 0, 0, "copying", now)


def write_migration_batch(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    rows: pa.Table,
    rejects: list[tuple[int, str, str]],
    last_key: str,
    rows_read_before: int,
    flow_run_id: str | None,
) -> None:
    """Append one batch in one transaction: its rows to the copy table (Arrow, inserted by name), its rejects
    (position, raw, reason) to the pending rejects, and the checkpoint moved past its last key. The checkpoint must
    still say `rows_read_before`, or another run wrote meanwhile and nothing is written."""
    with transaction(connection):
        current = connection.execute(
            "select rows_copied + rows_rejected from migrate.checkpoints "
            "where source = ? and target_table = ? and status = 'copying'",
            [plan.source, plan.target_table],
        ).fetchall()
        if not current or current[0][0] != rows_read_before:
            raise MigrationConflict(
                f"{plan.description}: the checkpoint is at {current[0][0] if current else 'nothing'} rows, this copy "
                f"expected {rows_read_before}: is another run copying the same table?"
            )
        if rows.num_rows:
            connection.register("migration_batch", rows)
            try:
                connection.execute(f"insert into {_copy_table_sql(plan)} by name select * from migration_batch")
            finally:
                connection.unregister("migration_batch")
        if rejects:
            connection.executemany(
                "insert into migrate.pending_rejects by name select ? as source, ? as target_table, "
                "? as line_number, ? as raw, ? as reason",
                [[plan.source, plan.target_table, *reject] for reject in rejects],
            )
        connection.execute(
            "update migrate.checkpoints set last_key = ?, rows_copied = rows_copied + ?, "
            "rows_rejected = rows_rejected + ?, last_batch_at = ?, flow_run_id = ? "
            "where source = ? and target_table = ?",
            [
                last_key,
                rows.num_rows,
                len(rejects),
                datetime.now(UTC),
                flow_run_id,
                plan.source,
                plan.target_table,
            ],
        )


def migration_copy_contents(
    connection: duckdb.DuckDBPyConnection, plan: TablePlan, batch_rows: int
) -> tuple[Iterator[list[tuple]], Iterator[str]]:
    """The copy's rows (the plan's columns, in batches, as Python values through Arrow) and its rejects' raw text,
    streamed for verification; read them before `connection` closes."""
    columns = ", ".join(quote_identifier(column.name) for column in plan.columns)
    # every Arrow batch as Python rows; Arrow keeps DECIMAL scale, microseconds and UTC instants as they are stored
    reader = connection.sql(f"select {columns} from {_copy_table_sql(plan)}").to_arrow_reader(batch_rows)
    rows = (list(zip(*(arrow_column_values(column) for column in batch.columns), strict=True)) for batch in reader)
    rejects = connection.cursor().execute(
        "select raw from migrate.pending_rejects where source = ? and target_table = ?",
        [plan.source, plan.target_table],
    )
    return rows, (raw for chunk in iter(lambda: rejects.fetchmany(batch_rows), []) for (raw,) in chunk)


def finish_migration(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    batch: Batch,
    outcome: BatchOutcome,
    started_at: float,
    flow_run_id: str | None,
) -> None:
    """Swap the verified copy in for the target table, move its rejects to meta.rejects under the table's ledger
    batch (replacing an earlier copy's), record the batch as loaded and the checkpoint as done: one transaction."""
    with transaction(connection):
        connection.execute(f"drop table if exists {_target_table_sql(plan)}")
        connection.execute(f"alter table {_copy_table_sql(plan)} rename to {quote_identifier(plan.target_name)}")
        connection.execute("delete from meta.rejects where pipeline = ? and source = ?", [PIPELINE, plan.source])
        connection.execute(
            "insert into meta.rejects by name select ? as pipeline, ? as batch_id, source, line_number, raw, reason "
            "from migrate.pending_rejects where source = ? and target_table = ?",
            [PIPELINE, batch.batch_id, plan.source, plan.target_table],
        )
        connection.execute(
            "delete from migrate.pending_rejects where source = ? and target_table = ?",
            [plan.source, plan.target_table],
        )
        ((rows_loaded,),) = connection.execute(f"select count(*) from {_target_table_sql(plan)}").fetchall()
        ((rows_rejected,),) = connection.execute(
            "select count(*) from meta.rejects where batch_id = ?", [batch.batch_id]
        ).fetchall()
        if (rows_loaded, rows_rejected) != (outcome.rows_loaded, outcome.rows_rejected):
            raise AccountingError(
                f"{plan.description}: verified {outcome.rows_loaded} rows + {outcome.rows_rejected} rejects, but "
                f"{rows_loaded} + {rows_rejected} would be kept"
            )
        record_loaded(connection, batch, outcome, CODE_VERSION, started_at, flow_run_id)
        connection.execute(
            "update migrate.checkpoints set status = 'done', flow_run_id = ? where source = ? and target_table = ?",
            [flow_run_id, plan.source, plan.target_table],
        )


def fail_migration(
    connection: duckdb.DuckDBPyConnection,
    plan: TablePlan,
    batch: Batch,
    error: str,
    started_at: float,
    flow_run_id: str | None,
) -> BatchOutcome:
    """Record the table's copy as failed, and why, in one transaction: the unverified copy and its pending rejects
    are dropped (the next run starts the table again), an earlier verified copy stays as it was."""
    outcome = failed_outcome(batch, error, started_at)
    with transaction(connection):
        connection.execute(f"drop table if exists {_copy_table_sql(plan)}")
        connection.execute(
            "delete from migrate.pending_rejects where source = ? and target_table = ?",
            [plan.source, plan.target_table],
        )
        connection.execute(
            "update migrate.checkpoints set status = 'failed', flow_run_id = ? where source = ? and target_table = ?",
            [flow_run_id, plan.source, plan.target_table],
        )
        record_in_ledger(connection, batch, outcome, CODE_VERSION, started_at, flow_run_id)
    return outcome
