"""Loads and the ledger: a staged batch or a MapReduce run into its pipeline's tables in one transaction, with the
row accounting checked (rows in = rows loaded + rows rejected), its rejects kept, its partitions marked dirty and
its ledger row written; and the marts rebuilt for the dirty partitions."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from tasks.core.batches import Batch, StreamRange
from tasks.core.errors import PermanentError
from tasks.core.mapreduce import ReduceOutput, Shuffle
from tasks.core.settings import MART_SETTINGS
from tasks.core.staging import StagedBatch
from tasks.core.streams import LoadedRange
from tasks.warehouse.connection import execute_script, pipeline_sql, transaction


class MartsMissing(PermanentError):
    """A pipeline's marts are to be rebuilt, but its folder holds no refresh_marts.sql (or is named otherwise)."""


class AccountingError(PermanentError):
    """Rows in != rows loaded + rows rejected: the load is rolled back, since something lost or invented rows."""


@dataclass(frozen=True)
class FactTable:
    """Where a pipeline's rows go, and how: a batch replaces every earlier row of its source, and the
    partitions (days) it touches, before and after, are marked for a mart refresh."""

    pipeline: str
    table: str  # a constant from code, never user input
    partition_day: str  # the day whose marts a row feeds: SQL over the table's columns, from code


@dataclass(frozen=True)
class BatchOutcome:
    """The ledger's view of one batch after this run."""

    batch_id: str
    source: str
    status: str
    rows_in: int
    rows_loaded: int
    rows_rejected: int
    bytes_read: int
    seconds: float
    error: str | None = None


def loaded_batch_ids(connection: duckdb.DuckDBPyConnection, pipeline: str) -> set[str]:
    rows = connection.execute(
        "select batch_id from meta.batches where pipeline = ? and status = 'loaded'", [pipeline]
    ).fetchall()
    return {batch_id for (batch_id,) in rows}


def loaded_stream_ranges(connection: duckdb.DuckDBPyConnection, pipeline: str) -> list[LoadedRange]:
    """The loaded ranges of the pipeline's log streams (see tasks/core/streams.py)."""
    rows = connection.execute(
        "select batch_id, stream_id, start_offset, end_offset, first_line, rows_in, start_hash, end_hash "
        "from meta.batches where pipeline = ? and status = 'loaded' and stream_id is not null",
        [pipeline],
    ).fetchall()
    return [LoadedRange(*row) for row in rows]


def files_loaded_whole(connection: duckdb.DuckDBPyConnection, pipeline: str) -> list[tuple[str, str, str, int]]:
    """The pipeline's loaded batches that are whole files, not yet known as stream ranges (loaded before streams
    were): batch id, source, fingerprint, size as stored."""
    return connection.execute(
        "select batch_id, source, fingerprint, size_bytes from meta.batches "
        "where pipeline = ? and status = 'loaded' and stream_id is null order by source",
        [pipeline],
    ).fetchall()


def record_stream_ranges(connection: duckdb.DuckDBPyConnection, ranges: dict[str, StreamRange]) -> None:
    """Record, in one transaction, the stream range that each loaded whole-file batch (by batch id) holds; its rows
    stay as they are."""
    with transaction(connection):
        for batch_id, held in ranges.items():
            connection.execute(
                "update meta.batches set stream_id = ?, start_offset = ?, end_offset = ?, first_line = ?, "
                "start_hash = ?, end_hash = ?, alongside = [] where batch_id = ? and status = 'loaded'",
                [held.stream_id, held.start, held.end, held.first_line, held.start_hash, held.end_hash, batch_id],
            )


def _loaded_meanwhile(connection: duckdb.DuckDBPyConnection, batch: Batch) -> str | None:
    """The id of a batch that another run loaded from the same point of the stream after this batch was planned, if
    one was: this batch's bytes may be the start of that one's, so loading it could load lines twice."""
    assert batch.range is not None
    rows = connection.execute(
        "select batch_id from meta.batches where pipeline = ? and status = 'loaded' and stream_id = ? "
        "and start_hash = ? and batch_id <> ? and not list_contains(?, batch_id) limit 1",
        [batch.pipeline, batch.range.stream_id, batch.range.start_hash, batch.batch_id, list(batch.range.alongside)],
    ).fetchall()
    return rows[0][0] if rows else None


def load_staged_batch(
    connection: duckdb.DuckDBPyConnection, staged: StagedBatch, target: FactTable, flow_run_id: str | None
) -> BatchOutcome:
    """Load one staged batch in one transaction: replace its earlier rows and rejects (a whole file's: every row of
    its source; a stream range's: its own, as after a retry or reload), check the row accounting, mark its days for
    a mart refresh, and record it in the ledger. All of it is visible, or none.

    A stream range that another run has meanwhile continued the stream from its start is skipped (status
    `skipped`): the next run loads what that run did not."""
    started = time.time()
    batch = staged.batch
    replaces = ("batch_id", batch.batch_id) if batch.range else ("source", batch.source)
    with transaction(connection):
        if batch.range and (other := _loaded_meanwhile(connection, batch)):
            return _outcome_without_rows(
                batch, "skipped", f"another run loaded batch {other} from the same point meanwhile"
            )
        _mark_dirty_partitions(connection, target, f"{replaces[0]} = ?", replaces[1])
        connection.execute(f"delete from {target.table} where {replaces[0]} = ?", [replaces[1]])
        connection.execute(
            f"delete from meta.rejects where pipeline = ? and {replaces[0]} = ?", [batch.pipeline, replaces[1]]
        )
        if staged.rows_in:
            connection.execute(
                f"insert into {target.table} by name select *, ? as batch_id, ? as source from read_parquet(?)",
                [batch.batch_id, batch.source, staged.row_files],
            )
            connection.execute(
                "insert into meta.rejects by name "
                "select ? as pipeline, ? as batch_id, ? as source, line_number, raw, reason from read_parquet(?)",
                [batch.pipeline, batch.batch_id, batch.source, staged.reject_files],
            )
        _mark_dirty_partitions(connection, target, "batch_id = ?", batch.batch_id)
        (rows_loaded,) = connection.execute(
            f"select count(*) from {target.table} where batch_id = ?", [batch.batch_id]
        ).fetchone()
        (rows_rejected,) = connection.execute(
            "select count(*) from meta.rejects where batch_id = ?", [batch.batch_id]
        ).fetchone()
        if rows_loaded + rows_rejected != staged.rows_in or rows_loaded != staged.rows_parsed:
            raise AccountingError(
                f"{batch.source}: {staged.rows_in} rows in, but {rows_loaded} loaded + {rows_rejected} rejected "
                f"(staging said {staged.rows_parsed} parsed + {staged.rows_rejected} rejected)"
            )
        outcome = BatchOutcome(
            batch_id=batch.batch_id,
            source=batch.source,
            status="loaded",
            rows_in=staged.rows_in,
            rows_loaded=rows_loaded,
            rows_rejected=rows_rejected,
            bytes_read=staged.bytes_read,
            seconds=(staged.finished_at - staged.started_at) + (time.time() - started),
        )
        record_loaded(connection, batch, outcome, staged.parser_version, staged.started_at, flow_run_id)
    return outcome


def merge_mapreduce_run(
    connection: duckdb.DuckDBPyConnection,
    pipeline: str,
    version: str,
    shuffled: Shuffle,
    reduced: list[ReduceOutput],
    counters: dict[str, object],
    started_at: float,
    flow_run_id: str | None,
) -> list[BatchOutcome]:
    """Merge one MapReduce run into the warehouse in one transaction, with `sql/<pipeline>/merge_run.sql`: the
    reducers' output (table `run_<reducer>`, per reducer), the documents it covers (`run_documents`) and the run's
    `counters` (`run_counters`, one row; names from code). Its `accounting.sql` must then return no rows, or all of
    it rolls back. Every document is recorded in the ledger as loaded (its lines loaded, the runs its map rejected
    as rejects, replacing its earlier ones), and those the map could not read as failed. Returns the ledger outcomes."""
    outcomes = []
    with transaction(connection):
        if shuffled.complete:
            _merge_reduced_output(connection, pipeline, shuffled, reduced, counters)
        finished = time.time()
        for batch in shuffled.complete:
            lines, bytes_read, _ = _document_counts(shuffled, batch.batch_id)
            connection.execute("delete from meta.rejects where pipeline = ? and source = ?", [pipeline, batch.source])
            for path, lines_before in shuffled.rejects_by_batch.get(batch.batch_id, []):
                connection.execute(
                    "insert into meta.rejects by name select ? as pipeline, ? as batch_id, ? as source, "
                    "line_number + ? as line_number, raw, reason from read_parquet(?)",
                    [pipeline, batch.batch_id, batch.source, lines_before, path],
                )
            rejected = shuffled.rejected_by_batch.get(batch.batch_id, 0)
            outcome = BatchOutcome(
                batch_id=batch.batch_id,
                source=batch.source,
                status="loaded",
                rows_in=lines + rejected,
                rows_loaded=lines,
                rows_rejected=rejected,
                bytes_read=bytes_read,
                seconds=finished - started_at,
            )
            record_loaded(connection, batch, outcome, version, started_at, flow_run_id)
            outcomes.append(outcome)
        for batch, error in shuffled.failed:
            outcome = failed_outcome(batch, error, started_at)
            record_in_ledger(connection, batch, outcome, version, started_at, flow_run_id)
            outcomes.append(outcome)
    return outcomes


def _merge_reduced_output(
    connection: duckdb.DuckDBPyConnection,
    pipeline: str,
    shuffled: Shuffle,
    reduced: list[ReduceOutput],
    counters: dict[str, object],
) -> None:
    documents = [
        (batch.source, batch.batch_id, *_document_counts(shuffled, batch.batch_id)) for batch in shuffled.complete
    ]
    connection.execute(
        "create temp table run_documents ("
        "source varchar, batch_id varchar, records_read bigint, bytes_read bigint, map_output_records bigint)"
    )
    connection.executemany("insert into run_documents values (?, ?, ?, ?, ?)", documents)
    for reducer in sorted({output.reducer for output in reduced}):
        files = sorted(output.path for output in reduced if output.reducer == reducer)
        connection.execute(f"create temp table run_{reducer} as select * from read_parquet(?)", [files])
    connection.execute(
        "create temp table run_counters as select " + ", ".join(f"? as {name}" for name in counters),
        list(counters.values()),
    )
    connection.execute((pipeline_sql(pipeline) / "merge_run.sql").read_text())
    broken = connection.execute((pipeline_sql(pipeline) / "accounting.sql").read_text()).fetchall()
    if broken:
        raise AccountingError(f"{pipeline}: the merged run does not add up: {broken[:5]}")
    for table in ("run_documents", "run_counters", *{f"run_{output.reducer}" for output in reduced}):
        connection.execute(f"drop table {table}")


def _document_counts(shuffled: Shuffle, batch_id: str) -> tuple[int, int, int]:
    counters = shuffled.counters_by_batch[batch_id]
    return counters.records_read, counters.bytes_read, counters.map_output_records


def record_failed_batch(
    connection: duckdb.DuckDBPyConnection,
    batch: Batch,
    error: str,
    started_at: float,
    flow_run_id: str | None,
    parser_version: str | None = None,
) -> BatchOutcome:
    """Record a batch that could not be loaded, and why. Rows loaded from an earlier version of its source stay."""
    outcome = failed_outcome(batch, error, started_at)
    with transaction(connection):
        record_in_ledger(connection, batch, outcome, parser_version, started_at, flow_run_id)
    return outcome


def failed_outcome(batch: Batch, error: str, started_at: float) -> BatchOutcome:
    return _outcome_without_rows(batch, "failed", error, time.time() - started_at)


def _outcome_without_rows(batch: Batch, status: str, reason: str, seconds: float = 0.0) -> BatchOutcome:
    return BatchOutcome(
        batch_id=batch.batch_id,
        source=batch.source,
        status=status,
        rows_in=0,
        rows_loaded=0,
        rows_rejected=0,
        bytes_read=0,
        seconds=seconds,
        error=reason,
    )


def refresh_marts(
    connection: duckdb.DuckDBPyConnection, pipeline: str, parameters: dict[str, object] | None = None
) -> int:
    """Rebuild the pipeline's marts for its dirty partitions in one transaction, with the `$parameters` its SQL
    names, and clear its dirty list (here, so that no pipeline's SQL can forget it and rebuild every run); return
    how many partitions were rebuilt. A pipeline's optional `stale_marts.sql` says whether its marts need a rebuild
    with no partition dirty, as when a setting they were built with changed. Statements naming `$bucket` run once
    per bucket (see `execute_script`)."""
    settings = MART_SETTINGS | (parameters or {})
    refresh = pipeline_sql(pipeline) / "refresh_marts.sql"
    if not refresh.is_file():
        raise MartsMissing(
            f"pipeline {pipeline} has no {refresh.relative_to(refresh.parents[3])}: a pipeline's folder is named as "
            "the pipeline, and holds the SQL that rebuilds its marts"
        )
    stale_marts = pipeline_sql(pipeline) / "stale_marts.sql"
    with transaction(connection):
        (dirty,) = connection.execute(
            "select count(distinct partition_day) from meta.dirty_partitions where pipeline = ?", [pipeline]
        ).fetchone()
        if dirty or stale_marts.exists() and execute_script(connection, stale_marts, settings).fetchall()[0][0]:
            execute_script(connection, refresh, settings)
        connection.execute("delete from meta.dirty_partitions where pipeline = ?", [pipeline])
    return dirty


def _mark_dirty_partitions(connection: duckdb.DuckDBPyConnection, target: FactTable, where: str, value: str) -> None:
    connection.execute(
        f"insert into meta.dirty_partitions by name "
        f"select distinct ? as pipeline, {target.partition_day} as partition_day "
        f"from {target.table} where {where}",
        [target.pipeline, value],
    )


def record_loaded(
    connection: duckdb.DuckDBPyConnection,
    batch: Batch,
    outcome: BatchOutcome,
    parser_version: str | None,
    started_at: float,
    flow_run_id: str | None,
) -> None:
    """Record `batch` as loaded and, for a whole file, its source's earlier loaded versions as replaced by it (a
    stream range replaces nothing: the stream's other ranges stay loaded)."""
    if batch.range is None:
        connection.execute(
            "update meta.batches set status = 'replaced' "
            "where pipeline = ? and source = ? and status = 'loaded' and batch_id <> ?",
            [batch.pipeline, batch.source, batch.batch_id],
        )
    record_in_ledger(connection, batch, outcome, parser_version, started_at, flow_run_id)


def record_in_ledger(
    connection: duckdb.DuckDBPyConnection,
    batch: Batch,
    outcome: BatchOutcome,
    parser_version: str | None,
    started_at: float,
    flow_run_id: str | None,
) -> None:
    """Write the batch's ledger row, replacing its earlier one; but a failed attempt leaves the record of the same
    content loaded as it is (its rows are still there)."""
    if outcome.status != "loaded":
        (still_loaded,) = connection.execute(
            "select count(*) from meta.batches where batch_id = ? and status = 'loaded'", [batch.batch_id]
        ).fetchone()
        if still_loaded:
            return
    held = batch.range
    connection.execute("delete from meta.batches where batch_id = ?", [batch.batch_id])
    connection.execute(
        "insert into meta.batches by name select "
        "? as batch_id, ? as pipeline, ? as source, ? as fingerprint, ? as size_bytes, ? as status, "
        "? as rows_in, ? as rows_loaded, ? as rows_rejected, ? as bytes_read, ? as error, ? as parser_version, "
        "? as started_at, ? as finished_at, ? as flow_run_id, "
        "? as stream_id, ? as start_offset, ? as end_offset, ? as first_line, ? as start_hash, ? as end_hash, "
        "?::varchar[] as alongside",
        [
            batch.batch_id,
            batch.pipeline,
            batch.source,
            batch.fingerprint,
            batch.size_bytes,
            outcome.status,
            outcome.rows_in,
            outcome.rows_loaded,
            outcome.rows_rejected,
            outcome.bytes_read,
            outcome.error,
            parser_version,
            datetime.fromtimestamp(started_at, UTC),
            datetime.now(UTC),
            flow_run_id,
            *(
                (held.stream_id, held.start, held.end, held.first_line, held.start_hash, held.end_hash)
                if held
                else (None,) * 6
            ),
            list(held.alongside) if held else None,
        ],
    )
