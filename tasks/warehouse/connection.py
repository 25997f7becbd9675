"""The warehouse file: where it is, its lock, its schema, and the connections to it.

DuckDB lets one process hold the file at a time, so the database is opened only for the duration of a unit of
work, under an exclusive file lock beside it; waiting for it is normal. With a Prefect server, runs also take turns
on a global concurrency limit for their load phase. Every connection that may write first brings the schema up to
date: `meta`'s migrations (beside this module), then every pipeline's (the numbered files in its `sql/` folder,
found rather than listed). Parsing never happens here, and no pipeline is imported.
"""

import contextvars
import fcntl
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.logging import get_logger
from prefect.settings import PREFECT_API_URL

from tasks.core.errors import PermanentError
from tasks.core.quoting import quote_identifier
from tasks.core.settings import WAREHOUSE_MEMORY_LIMIT, WAREHOUSE_WRITE_LIMIT, WRITE_TURN

META_SQL = Path(__file__).parent / "sql" / "meta"
PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
logger = get_logger("batchyard.warehouse")


def pipeline_sql(pipeline: str, pipelines: Path = PIPELINES) -> Path:
    """A pipeline's SQL folder: `sql/` in the pipeline's own folder, which is named like the pipeline."""
    return pipelines / pipeline / "sql"


def warehouse_components(pipelines: Path = PIPELINES) -> dict[str, Path]:
    """The components whose DDL every warehouse gets, each with its SQL folder: `meta` (the ledger every other
    component's loads write to) first, then every pipeline whose `sql/` folder holds numbered migrations
    (NNN_name.sql), by name: found rather than listed, so a pipeline's folder is all it takes."""
    found = {
        folder.parent.name: folder
        for folder in sorted(pipelines.glob("*/sql"))
        if any(folder.glob("[0-9][0-9][0-9]_*.sql"))
    }
    return {"meta": META_SQL, **found}


COMPONENTS = warehouse_components()


class WarehouseUnavailable(PermanentError):
    """The warehouse path cannot be created or written."""


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
    so runs started by schedules, events and the UI at once load one after another (visibly, in the UI's concurrency
    page) while their parsing overlaps. Held around the run's load phase, or around each load (`write_turn_for`).
    Without a server (Prefect's temporary one is per process) the file lock alone serializes writers, and does so
    underneath anyway."""
    api_url = PREFECT_API_URL.value()
    if not api_url or not WAREHOUSE_WRITE_LIMIT:
        yield
        return
    asked = time.monotonic()
    ensure_write_limit(api_url, WAREHOUSE_WRITE_LIMIT)
    with concurrency(
        WAREHOUSE_WRITE_LIMIT,
        occupy=1,
        lease_duration=WRITE_SLOT_LEASE_SECONDS,
        strict=True,
        raise_on_lease_renewal_failure=False,
    ):
        # loads overlap staging, so the time to take the turn delays the first load: said, so that it can be seen
        logger.info("took the warehouse write turn %s after %.1f s", WAREHOUSE_WRITE_LIMIT, time.monotonic() - asked)
        yield


def write_turn_for(scope: str) -> AbstractContextManager[None]:
    """The server's write turn if the setting BATCHYARD_WRITE_TURN gives it this `scope` ("per-run": a run's load
    phase; "per-load": each time a run holds the warehouse to write), else nothing. Per run by default, because each
    acquisition may cost seconds on a SQLite-backed server (see docs/operations.md)."""
    return server_write_turn() if scope == WRITE_TURN else nullcontext()


class EarlyWriteTurn:
    """A run's write turn (per run, see `write_turn_for`) asked for as the run starts, on a thread of its own, and
    held from when the server grants it until the run's loads and rebuild are done (`held`) or the block ends.

    Asked for when the loads start, the request met the burst of writes that the run's staging tasks make on the
    server (task runs, progress artifacts): on a SQLite-backed server it failed with "database is locked" (503) one
    to three times, each retried by Prefect's client after 2, 4, then 8 s, so the loads waited 6-13 s for a free turn
    (docs/performance.md, sales). Parsing still never waits for it."""

    def __init__(self) -> None:
        self._granted = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        # in the run's context, so that what the turn logs and emits belongs to the run
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._hold,), name="write-turn", daemon=True
        )

    def __enter__(self) -> "EarlyWriteTurn":
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            self.release()
            return
        with suppress(Exception):  # the run's own error is the one to see
            self.release()

    def _hold(self) -> None:
        try:
            with write_turn_for("per-run"):
                self._granted.set()
                self._done.wait()
        except BaseException as error:  # handed to the run's thread, which waits for it
            self._error = error
        finally:
            self._granted.set()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Wait for the turn, then hold it for the block."""
        self._granted.wait()
        self._raise_what_the_turn_raised()
        try:
            yield
        finally:
            self.release()

    def release(self) -> None:
        """Give the turn back (or stop asking for it), once; raises what giving it back raised."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._raise_what_the_turn_raised()

    def _raise_what_the_turn_raised(self) -> None:
        error, self._error = self._error, None  # once
        if error is not None:
            raise error


@contextmanager
def open_warehouse_for_load(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse opened for loads (`open_warehouse` without the checkpoint), in its own write turn when turns
    are per load; the turn is taken first, as every writer takes it, so that no two writers wait for each other.

    Its inserts may store a staged file's rows in any order: DuckDB then inserts a file's row groups on all cores,
    where keeping their order inserted on about one (an orders file of the sales benchmark: 0.20 s instead of 0.15;
    docs/performance.md). Nothing reads rows by their place in a table: a row's `line_number` keeps its place in
    its file, and every choice between rows is made by the data."""
    with write_turn_for("per-load"), open_warehouse(warehouse, checkpoint=False) as connection:
        connection.execute("set preserve_insertion_order = false")
        yield connection


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
    for script in (script for folder in COMPONENTS.values() for script in folder.glob("[0-9][0-9][0-9]_*.sql")):
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
def open_warehouse(warehouse: Path, checkpoint: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to an up-to-date warehouse, held under the write lock and closed on exit.

    DuckDB checkpoints (writes its log of commits into the database file) as the last connection closes, which cost
    each of a run's many loads ~50 ms. With `checkpoint` off it closes without one: what it committed stays
    durable in the write-ahead log (fsynced at each commit; a large insert's blocks go to the file before it), which
    the next connection replays, read-only ones included, and a commit still checkpoints once the log outgrows
    DuckDB's `checkpoint_threshold`. For a run's loads, with the mart rebuild after them closing normally."""
    check_warehouse_name(warehouse)
    with warehouse_lock(warehouse):
        connection = duckdb.connect(
            str(warehouse), config={"memory_limit": WAREHOUSE_MEMORY_LIMIT, "max_vacuum_tasks": 0}
        )
        try:
            if not checkpoint:
                # a setting of the database instance, which this connection's close ends (the lock keeps others out)
                connection.execute("pragma disable_checkpoint_on_shutdown")
            migrate(connection)
            vacuum_if_rows_were_deleted(connection)
            yield connection
        finally:
            connection.close()


# When DuckDB checkpoints it may rewrite a table's row groups (its vacuum): merge small neighbours, leave deleted rows
# out. After every commit that costs more than the work it follows: the checkpoint after one 52 k-row log file took
# 0.39 CPU s to merge its rows into the previous load's row group (0.04 without), and the sales benchmark's 56 loads
# ~5 CPU s of 16 (docs/performance.md). So writing connections open with it off, and turn it on when a table already
# holds this share of deleted rows (and a row group's worth): their space comes back at the next checkpoint that
# writes the table, so deletes that a run's refresh makes come back in a later run. Row groups deleted whole are
# dropped either way.
VACUUM_AT_DELETED_SHARE = 0.25
ROW_GROUP_ROWS = 122_880  # DuckDB's


def vacuum_if_rows_were_deleted(connection: duckdb.DuckDBPyConnection) -> bool:
    """Let the connection's checkpoints rewrite row groups if a table holds at least VACUUM_AT_DELETED_SHARE deleted
    rows (stored in its row groups but no longer counted); returns whether it did."""
    tables = connection.execute(
        "select schema_name, table_name, estimated_size from duckdb_tables() "
        "where database_name = current_database() and estimated_size >= ?",
        [ROW_GROUP_ROWS],
    ).fetchall()
    for schema, table, stored in tables:
        (rows,) = connection.execute(
            f"select count(*) from {quote_identifier(schema)}.{quote_identifier(table)}"
        ).fetchone()
        if stored - rows >= max(ROW_GROUP_ROWS, VACUUM_AT_DELETED_SHARE * stored):
            connection.execute("set max_vacuum_tasks = 100")  # DuckDB's default
            return True
    return False


# How long a run's loads may keep the warehouse open from one to the next. It bounds a hold, not a reader's wait: the
# lock serves its waiters in no order, so the next load often takes the file back first (a reader waited up to 3.5 s
# behind 40 loads in bench/warehouse_limits.py; docs/scale-out.md).
LOADS_HOLD_SECONDS = 1.0


class HeldForLoads:
    """The warehouse kept open from one of a run's loads to the next while the next can start at once, for at most
    `hold_seconds` at a time, then closed so that a waiting reader may get its turn.

    Opening costs each load ~50 ms of CPU (connecting, replaying the write-ahead log that loads leave without a
    checkpoint, checking the schema, closing), a third of loading a 10 MB log. Loads that follow one another share
    one connection; each still commits its own transaction, so a crash between two leaves the first loaded and the
    second not, as with a connection each. Used from one thread at a time (a run's loads take turns)."""

    def __init__(self, warehouse: Path, hold_seconds: float = LOADS_HOLD_SECONDS):
        self.warehouse = warehouse
        self.hold_seconds = hold_seconds
        self._opened: AbstractContextManager[duckdb.DuckDBPyConnection] | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._opened_at = 0.0

    @contextmanager
    def connection(self, next_is_ready: Callable[[], bool]) -> Iterator[duckdb.DuckDBPyConnection]:
        """The held connection for one load (opened by `open_warehouse_for_load` when none is, with its turn);
        closed after the load unless `next_is_ready()` and the hold has time left, and closed when the load raises."""
        if self._connection is None:
            self._opened = open_warehouse_for_load(self.warehouse)
            self._connection = self._opened.__enter__()
            self._opened_at = time.monotonic()
        try:
            yield self._connection
        except BaseException:
            self.close()
            raise
        if time.monotonic() - self._opened_at >= self.hold_seconds or not next_is_ready():
            self.close()

    def close(self) -> None:
        """Close the connection if it is open, releasing the lock."""
        opened, self._opened, self._connection = self._opened, None, None
        if opened is not None:
            opened.__exit__(None, None, None)


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
    for component, folder in COMPONENTS.items():
        for script in sorted(folder.glob("[0-9][0-9][0-9]_*.sql")):
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
    "insert into t by name"). A statement that names `$bucket` runs once for each bucket from 0 to `$buckets` - 1,
    so that a sort too big for the memory limit can run as several that fit: `buckets` is the parameter when given,
    else the SQL variable the script set before that statement (`set variable buckets = ...`, from what it is about
    to sort), else one. Returns the connection, holding the last statement's result."""
    statements = [statement for statement in script.read_text().split(";\n") if statement.strip()]
    statements[0] = f"{prefix} {statements[0]}" if prefix else statements[0]
    for statement in statements:
        code = re.sub(r"--[^\n]*", "", statement)
        used = {name: value for name, value in parameters.items() if re.search(rf"\${name}\b", code)}
        if re.search(r"\$bucket\b", code):
            # written in as numbers, not bound: DuckDB plans a bound bucket filter late, after the joins, which made
            # the bucketed sessions 1.7 times slower than with the same numbers in the text
            buckets = _buckets(connection, parameters)
            for bucket in range(buckets):
                numbered = re.sub(r"\$buckets\b", str(buckets), statement)
                bound = {name: value for name, value in used.items() if name not in ("bucket", "buckets")}
                connection.execute(re.sub(r"\$bucket\b", str(bucket), numbered), bound)
        else:
            connection.execute(statement, used)
    return connection


def _buckets(connection: duckdb.DuckDBPyConnection, parameters: dict[str, object]) -> int:
    if "buckets" in parameters:
        return int(parameters["buckets"])
    (chosen,) = connection.execute("select getvariable('buckets')").fetchone()
    return 1 if chosen is None else int(chosen)
