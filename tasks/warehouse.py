"""The warehouse: the one module that opens DuckDB, holds the write lock, owns the DDL and runs the loads.

DuckDB lets one process hold the file at a time, so the database is opened only for the duration of a unit of
work, under an exclusive file lock beside it; waiting for it is normal. With a Prefect server, runs also take turns
on a global concurrency limit for their load phase. Parsing never happens here.
"""

import fcntl
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.logging import get_logger
from prefect.settings import PREFECT_API_URL

from tasks.core.batches import Batch, StreamRange
from tasks.core.errors import PermanentError
from tasks.core.mapreduce import ReduceOutput, Shuffle
from tasks.core.quoting import quote_identifier
from tasks.core.settings import MART_SETTINGS, WAREHOUSE_MEMORY_LIMIT, WAREHOUSE_WRITE_LIMIT
from tasks.core.staging import StagedBatch
from tasks.core.streams import LoadedRange
from tasks.pipelines.migrate.migration import CODE_VERSION, COPY_SUFFIX, PIPELINE, TablePlan, arrow_column_values

SQL_DIR = Path(__file__).parent / "sql"
logger = get_logger("batchyard.warehouse")


def warehouse_components(sql_dir: Path = SQL_DIR) -> tuple[str, ...]:
    """The components whose DDL every warehouse gets: each folder of `sql_dir` holding numbered migrations
    (NNN_name.sql), found rather than listed, so a pipeline's folder is all it takes. `meta` (the ledger every other
    component's loads write to) comes first, the others by name: they depend only on it."""
    found = sorted(folder.name for folder in sql_dir.iterdir() if any(folder.glob("[0-9][0-9][0-9]_*.sql")))
    return tuple(sorted(found, key=lambda name: name != "meta"))


COMPONENTS = warehouse_components()


class AccountingError(PermanentError):
    """Rows in != rows loaded + rows rejected: the load is rolled back, since something lost or invented rows."""


class WarehouseUnavailable(PermanentError):
    """The warehouse path cannot be created or written."""


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


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


# A crashed holder's slot returns to the pool after this long; a live holder renews its lease in the background.
WRITE_SLOT_LEASE_SECONDS = 60


@cache
def ensure_write_limit(api_url: str, name: str) -> None:
    """Create the one-slot global concurrency limit `name` on the server at `api_url`, unless it exists (an operator
    may have raised or paused it on purpose: it is never overwritten)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):  # another run created it a moment ago
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


@contextmanager
def server_write_turn() -> Iterator[None]:
    """A run's turn to load, when a Prefect server is configured: one slot of the server's global concurrency limit,
    held by the flow around its load phase, so runs started by schedules, events and the UI at once load one after
    another (visibly, in the UI's concurrency page) while their parsing overlaps. Taken per run rather than per
    load because each acquisition may cost seconds on a SQLite-backed server (see docs/operations.md). Without a server
    (Prefect's temporary one is per process) the file lock alone serializes writers, and does so underneath anyway."""
    api_url = PREFECT_API_URL.value()
    if not api_url or not WAREHOUSE_WRITE_LIMIT:
        yield
        return
    ensure_write_limit(api_url, WAREHOUSE_WRITE_LIMIT)
    with concurrency(
        WAREHOUSE_WRITE_LIMIT,
        occupy=1,
        lease_duration=WRITE_SLOT_LEASE_SECONDS,
        strict=True,
        raise_on_lease_renewal_failure=False,
    ):
        yield


@contextmanager
def warehouse_lock(warehouse: Path) -> Iterator[None]:
    """Exclusive, process-wide and cross-process: flock on a file beside the database, released on close or crash.
    Waiting is normal, and said once, so that a run waiting behind another's load is not taken for a hung one."""
    with lock_path(warehouse).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for the warehouse %s: another run is writing or reading it", warehouse)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class WarehouseNameTaken(WarehouseUnavailable):
    """The warehouse file's name would be the name of one of its own schemas."""


@cache
def warehouse_schemas() -> frozenset[str]:
    """The schemas the warehouse's DDL creates, in lower case."""
    created = {"meta"}
    for script in SQL_DIR.glob("*/[0-9][0-9][0-9]_*.sql"):
        created |= {name.lower() for name in re.findall(r"create schema if not exists (\w+)", script.read_text())}
    return frozenset(created)


def check_warehouse_name(warehouse: Path, other_schemas: tuple[str, ...] = ()) -> None:
    """Refuse a warehouse file named like a schema it holds (or will hold: `other_schemas`), before it is opened.

    DuckDB names a database after its file, up to the first dot, and then cannot tell `sales.orders` in catalog
    `sales` from table `orders` in schema `sales`."""
    catalog = warehouse.name.split(".", 1)[0]
    if catalog.lower() in warehouse_schemas() | {schema.lower() for schema in other_schemas}:
        raise WarehouseNameTaken(
            f"the warehouse cannot be called {warehouse.name}: DuckDB names a database after its file ({catalog}), "
            f"which would clash with the warehouse's schema {catalog.lower()}; choose another name, such as "
            f"{catalog}-warehouse.duckdb"
        )


@contextmanager
def open_warehouse(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to an up-to-date warehouse, held under the write lock and closed on exit."""
    check_warehouse_name(warehouse)
    with warehouse_lock(warehouse):
        connection = duckdb.connect(str(warehouse), config={"memory_limit": WAREHOUSE_MEMORY_LIMIT})
        try:
            migrate(connection)
            yield connection
        finally:
            connection.close()


@contextmanager
def read_warehouse(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, held under the lock (DuckDB lets one process open the file at a time) and closed on
    exit; it neither creates nor migrates the file. FileNotFoundError when there is no warehouse at `warehouse`."""
    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    check_warehouse_name(warehouse)
    with warehouse_lock(warehouse):
        connection = duckdb.connect(str(warehouse), read_only=True, config={"memory_limit": WAREHOUSE_MEMORY_LIMIT})
        try:
            yield connection
        finally:
            connection.close()


class CommitFailed(Exception):
    """The warehouse could not write a transaction (a full disk, a write-ahead log it may not write): nothing of it
    is kept."""


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around the block: committed when it ends, rolled back when it raises.

    A failed statement or commit may already have ended the transaction; rolling back then fails with "no
    transaction is active", which must not hide the error that matters."""
    connection.execute("begin transaction")
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):
            connection.execute("rollback")
        raise
    try:
        connection.execute("commit")
    except duckdb.Error as error:
        with suppress(duckdb.Error):
            connection.execute("rollback")
        raise CommitFailed(
            f"the warehouse could not commit, so nothing of this transaction was kept: {error}"
        ) from error


def prepare_warehouse(warehouse: Path) -> None:
    """Create or migrate the warehouse, or say clearly why it cannot be written."""
    check_warehouse_name(warehouse)
    try:
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        with open_warehouse(warehouse):
            pass
    except (OSError, duckdb.IOException, duckdb.PermissionException, CommitFailed) as error:
        raise WarehouseUnavailable(f"cannot write the warehouse at {warehouse}: {error}") from error


class ForeignDatabase(WarehouseUnavailable):
    """The file is a DuckDB database, but not a batchyard warehouse: it is someone else's, and is left as it is."""


def refuse_a_foreign_database(connection: duckdb.DuckDBPyConnection) -> None:
    """Raise ForeignDatabase unless the database is empty or a batchyard warehouse (it has meta.schema_versions)."""
    tables = connection.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = current_database()"
    ).fetchall()
    if tables and ("meta.schema_versions",) not in tables:
        (path,) = connection.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()
        shown = ", ".join(name for (name,) in tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise ForeignDatabase(
            f"{path} is a DuckDB database but not a batchyard warehouse (it holds {shown}): nothing was written to "
            "it; choose another warehouse file"
        )


def migrate(connection: duckdb.DuckDBPyConnection) -> None:
    """Apply, in order, every migration not applied yet; each in its own transaction with its version record. A
    database that is neither empty nor a batchyard warehouse is refused before anything is written to it."""
    refuse_a_foreign_database(connection)
    connection.execute("create schema if not exists meta")
    connection.execute(
        "create table if not exists meta.schema_versions ("
        "component varchar not null, version integer not null, applied_at timestamptz not null)"
    )
    applied = set(connection.execute("select component, version from meta.schema_versions").fetchall())
    for component in COMPONENTS:
        for script in sorted((SQL_DIR / component).glob("[0-9][0-9][0-9]_*.sql")):
            version = int(script.name[:3])
            if (component, version) in applied:
                continue
            with transaction(connection):
                connection.execute(script.read_text())
                connection.execute(
                    "insert into meta.schema_versions values (?, ?, ?)", [component, version, datetime.now(UTC)]
                )


def execute_script(
    connection: duckdb.DuckDBPyConnection, script: Path, parameters: dict[str, object], prefix: str = ""
) -> duckdb.DuckDBPyConnection:
    """Run a .sql file of several statements with named `$parameters`, which DuckDB binds only for a single
    statement: each statement gets the parameters it names. `prefix` goes before the first statement (e.g.
    "insert into t by name"). Returns the connection, holding the last statement's result."""
    statements = [statement for statement in script.read_text().split(";\n") if statement.strip()]
    statements[0] = f"{prefix} {statements[0]}" if prefix else statements[0]
    for statement in statements:
        code = re.sub(r"--[^\n]*", "", statement)
        used = {name: value for name, value in parameters.items() if re.search(rf"\${name}\b", code)}
        connection.execute(statement, used)
    return connection


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
                # staged rows may carry their `raw` text, kept for checks across the batch; tables do not keep it
                f"insert into {target.table} by name "
                f"select columns(lambda column_name: column_name <> 'raw'), ? as batch_id, ? as source from read_parquet(?)",
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
        _record_loaded(connection, batch, outcome, staged.parser_version, staged.started_at, flow_run_id)
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
            _record_loaded(connection, batch, outcome, version, started_at, flow_run_id)
            outcomes.append(outcome)
        for batch, error in shuffled.failed:
            outcome = _failed_outcome(batch, error, started_at)
            _record_in_ledger(connection, batch, outcome, version, started_at, flow_run_id)
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
    connection.execute((SQL_DIR / pipeline / "merge_run.sql").read_text())
    broken = connection.execute((SQL_DIR / pipeline / "accounting.sql").read_text()).fetchall()
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
    outcome = _failed_outcome(batch, error, started_at)
    with transaction(connection):
        _record_in_ledger(connection, batch, outcome, parser_version, started_at, flow_run_id)
    return outcome


def _failed_outcome(batch: Batch, error: str, started_at: float) -> BatchOutcome:
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
    with no partition dirty, as when a setting they were built with changed."""
    settings = MART_SETTINGS | (parameters or {})
    stale_marts = SQL_DIR / pipeline / "stale_marts.sql"
    with transaction(connection):
        (dirty,) = connection.execute(
            "select count(distinct partition_day) from meta.dirty_partitions where pipeline = ?", [pipeline]
        ).fetchone()
        if dirty or stale_marts.exists() and execute_script(connection, stale_marts, settings).fetchall()[0][0]:
            execute_script(connection, SQL_DIR / pipeline / "refresh_marts.sql", settings)
        connection.execute("delete from meta.dirty_partitions where pipeline = ?", [pipeline])
    return dirty


def _mark_dirty_partitions(connection: duckdb.DuckDBPyConnection, target: FactTable, where: str, value: str) -> None:
    connection.execute(
        f"insert into meta.dirty_partitions by name "
        f"select distinct ? as pipeline, {target.partition_day} as partition_day "
        f"from {target.table} where {where}",
        [target.pipeline, value],
    )


def _record_loaded(
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
    _record_in_ledger(connection, batch, outcome, parser_version, started_at, flow_run_id)


def _record_in_ledger(
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


def record_check_results(
    connection: duckdb.DuckDBPyConnection,
    results: list[tuple[str, str, int, str | None]],
    flow_run_id: str | None,
) -> None:
    """Append one audit's results (component, check name, violations, examples) to meta.check_results, in one
    transaction, so the audit's history stays queryable beside the data."""
    checked_at = datetime.now(UTC)
    with transaction(connection):
        connection.executemany(
            "insert into meta.check_results by name"
            " select ? as flow_run_id, ? as checked_at, ? as component, ? as check_name, ? as violations, ? as examples",
            [[flow_run_id, checked_at, *result] for result in results],
        )


def record_run(connection: duckdb.DuckDBPyConnection, run: dict[str, object]) -> None:
    """Write a run's row of meta.runs (column: value, names from code) in one transaction, replacing the row of the
    same flow run: a retried report or a re-run of the flow run leaves one row."""
    columns = ", ".join(f"? as {quote_identifier(column)}" for column in run)
    with transaction(connection):
        connection.execute("delete from meta.runs where flow_run_id = ?", [run["flow_run_id"]])
        connection.execute(f"insert into meta.runs by name select {columns}", list(run.values()))


def describe_warehouse(warehouse: Path, schema: str, pipeline: str) -> str:
    """A short text overview of a schema's tables and the ledger, for a person at a terminal."""
    with open_warehouse(warehouse) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? order by table_name",
            [schema],
        ).fetchall()
        lines = [f"warehouse {warehouse}"]
        for (table,) in tables:
            (count,) = connection.execute(
                f"select count(*) from {quote_identifier(schema)}.{quote_identifier(table)}"
            ).fetchone()
            lines.append(f"  {schema}.{table}: {count:,} rows")
        ledger = connection.execute(
            "select status, count(*), sum(rows_in), sum(rows_loaded), sum(rows_rejected) from meta.batches "
            "where pipeline = ? group by status order by status",
            [pipeline],
        ).fetchall()
        for status, batches, rows_in, loaded, rejected in ledger:
            lines.append(
                f"  meta.batches: {batches} {status} batch(es): {rows_in:,} rows in, {loaded:,} loaded, {rejected:,} rejected"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Migration (flows/migrate.py): a table copied out of an operational database grows in a copy table beside its target,
# one transaction per batch (its rows, its rejects, and the checkpoint that says where the next batch starts), so a
# run killed at any point resumes after the last committed batch. Once verified against the source, the copy is
# swapped in for the target, its rejects move to meta.rejects and the ledger records the table, in one transaction.


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
        _record_loaded(connection, batch, outcome, CODE_VERSION, started_at, flow_run_id)
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
    outcome = _failed_outcome(batch, error, started_at)
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
        _record_in_ledger(connection, batch, outcome, CODE_VERSION, started_at, flow_run_id)
    return outcome
