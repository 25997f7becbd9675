"""The warehouse module: loads, replacement, the accounting check, mart refresh, migrations and the write lock."""

import dataclasses
import fcntl
import logging
import pickle
import re
import subprocess
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest
from log_files import log_line, write_log
from warehouse_snapshot import query, snapshot

from tasks.core.batches import make_batch
from tasks.core.staging import stage_batch
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT
from tasks.warehouse.connection import (
    COMPONENTS,
    ROW_GROUP_ROWS,
    ForeignDatabase,
    HeldForLoads,
    WarehouseNameTaken,
    WarehouseUnavailable,
    check_warehouse_name,
    execute_script,
    lock_path,
    migrate,
    open_warehouse,
    prepare_warehouse,
    warehouse_components,
    warehouse_lock,
)
from tasks.warehouse.loads import (
    AccountingError,
    FactTable,
    MartsMissing,
    _mark_dirty_partitions,
    load_staged_batch,
    record_failed_batch,
    refresh_marts,
)
from tasks.warehouse.runs import describe_warehouse

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")
PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Hand-computed below: two requests on 2026-10-10 (23:30 UTC and 01:15+0200 = 23:15 UTC), one on 2026-10-11.
FIRST_VERSION = [
    log_line(client="198.51.100.1", timestamp="10/Oct/2026:23:30:00 +0000", request="GET /a HTTP/1.1", size="100"),
    log_line(
        client="198.51.100.2",
        timestamp="11/Oct/2026:01:15:00 +0200",
        request="GET /b?x=1 HTTP/1.1",
        status="404",
        size="50",
    ),
    "",
    log_line(
        client="198.51.100.1", timestamp="11/Oct/2026:00:10:00 +0000", request="GET /a HTTP/1.1", status="503", size="-"
    ),
]


def stage(path: Path, warehouse: Path):
    return stage_batch(make_batch("access_logs", path), ACCESS_LOG_FORMAT, warehouse.parent / "staging", 1 << 20)


def load(staged, warehouse: Path):
    with open_warehouse(warehouse) as connection:
        outcome = load_staged_batch(connection, staged, REQUESTS, flow_run_id=None)
        refresh_marts(connection, "access_logs")
    return outcome


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse" / "warehouse.duckdb"
    prepare_warehouse(path)
    return path


def test_a_loaded_batch_lands_in_facts_rejects_ledger_and_marts(tmp_path, warehouse):
    source = write_log(tmp_path / "in" / "a.log", FIRST_VERSION)

    outcome = load(stage(source, warehouse), warehouse)

    assert (outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == (4, 3, 1)
    assert query(warehouse, "select line_number, reason from meta.rejects") == [(3, "empty line")]
    assert query(warehouse, "select status, rows_in, rows_loaded, rows_rejected from meta.batches") == [
        ("loaded", 4, 3, 1)
    ]
    assert query(warehouse, "select * from logs.hourly order by hour") == [
        (datetime(2026, 10, 10, 23), 2, 150, 1, 0),
        (datetime(2026, 10, 11, 0), 1, 0, 0, 1),
    ]
    assert query(warehouse, "select * from logs.daily order by day") == [
        (date(2026, 10, 10), 2, 2),
        (date(2026, 10, 11), 1, 1),
    ]
    assert query(warehouse, "select * from logs.top_paths order by day, rank") == [
        (date(2026, 10, 10), 1, "/a", 1),
        (date(2026, 10, 10), 2, "/b", 1),
        (date(2026, 10, 11), 1, "/a", 1),
    ]


def test_loading_the_same_batch_twice_changes_nothing(tmp_path, warehouse):
    staged = stage(write_log(tmp_path / "in" / "a.log", FIRST_VERSION), warehouse)
    load(staged, warehouse)
    once = snapshot(warehouse)

    load(staged, warehouse)

    assert snapshot(warehouse) == once


def test_a_changed_source_replaces_its_rows_rejects_and_marts(tmp_path, warehouse):
    source = write_log(tmp_path / "in" / "a.log", FIRST_VERSION)
    load(stage(source, warehouse), warehouse)
    write_log(source, [log_line(timestamp="12/Oct/2026:08:00:00 +0000", request="GET /c HTTP/1.1")])

    load(stage(source, warehouse), warehouse)

    assert query(warehouse, "select day, path from logs.requests") == [(date(2026, 10, 12), "/c")]
    assert query(warehouse, "select count(*) from meta.rejects") == [(0,)]
    assert query(warehouse, "select day, requests from logs.daily") == [(date(2026, 10, 12), 1)]
    assert query(warehouse, "select cast(hour as date) from logs.hourly") == [(date(2026, 10, 12),)]
    assert query(warehouse, "select day, rank, path from logs.top_paths") == [(date(2026, 10, 12), 1, "/c")]
    assert query(warehouse, "select status, rows_in from meta.batches order by status") == [
        ("loaded", 1),
        ("replaced", 4),
    ]


def test_rows_that_do_not_add_up_roll_the_whole_load_back(tmp_path, warehouse):
    staged = stage(write_log(tmp_path / "in" / "a.log", FIRST_VERSION), warehouse)
    empty = snapshot(warehouse)

    with pytest.raises(AccountingError, match="5 rows in, but 3 loaded \\+ 1 rejected"):
        load(dataclasses.replace(staged, rows_in=5), warehouse)

    assert snapshot(warehouse) == empty


def test_an_unreadable_new_version_is_recorded_and_keeps_the_rows_already_loaded(tmp_path, warehouse):
    staged = stage(write_log(tmp_path / "in" / "a.log", FIRST_VERSION), warehouse)
    load(staged, warehouse)
    changed = dataclasses.replace(staged.batch, fingerprint="a newer, unreadable version")

    with open_warehouse(warehouse) as connection:
        record_failed_batch(
            connection, changed, "the gzip stream is corrupt or truncated", started_at=0.0, flow_run_id=None
        )

    assert query(warehouse, "select count(*) from logs.requests") == [(3,)]
    assert query(warehouse, "select status, error from meta.batches order by status") == [
        ("failed", "the gzip stream is corrupt or truncated"),
        ("loaded", None),
    ]


def test_migrations_apply_once_and_are_recorded(warehouse):
    with open_warehouse(warehouse) as connection:
        migrate(connection)
        migrate(connection)
        versions = connection.execute("select component, version from meta.schema_versions order by all").fetchall()
    assert versions == sorted(
        (component, int(script.name[:3]))
        for component, folder in COMPONENTS.items()
        for script in folder.glob("[0-9][0-9][0-9]_*.sql")
    )


def test_a_pipeline_folder_with_numbered_migrations_is_a_component_and_meta_comes_first(tmp_path):
    for pipeline, script in [("sensors", "001_readings.sql"), ("alpha", "002_x.sql")]:
        (tmp_path / pipeline / "sql").mkdir(parents=True)
        (tmp_path / pipeline / "sql" / script).write_text("select 1")
    (tmp_path / "queries_only" / "sql").mkdir(parents=True)  # no numbered migrations: not a component
    (tmp_path / "queries_only" / "sql" / "traffic.sql").write_text("select 1")
    (tmp_path / "no_sql").mkdir()

    components = warehouse_components(tmp_path)

    assert list(components) == ["meta", "alpha", "sensors"]
    assert components["sensors"] == tmp_path / "sensors" / "sql"


def test_a_pipeline_named_unlike_its_folder_is_told_so_instead_of_rebuilding_nothing(warehouse):
    with open_warehouse(warehouse) as connection:
        connection.execute("insert into meta.dirty_partitions values ('sensor', date '2026-10-01')")
        with pytest.raises(MartsMissing, match="pipeline sensor has no pipelines/sensor/sql/refresh_marts.sql"):
            refresh_marts(connection, "sensor")
        assert connection.execute("select count(*) from meta.dirty_partitions").fetchone() == (1,)


def test_the_mart_rebuild_clears_the_dirty_list_whatever_the_pipeline_sql_does(warehouse):
    with open_warehouse(warehouse) as connection:
        connection.execute("insert into meta.dirty_partitions values ('sales', date '2026-10-01')")
        assert refresh_marts(connection, "sales") == 1
        assert connection.execute("select count(*) from meta.dirty_partitions").fetchone() == (0,)


def test_the_write_lock_makes_a_second_writer_wait_and_say_so(warehouse, caplog):
    caplog.set_level(logging.INFO, logger="prefect.batchyard.warehouse")
    order = []
    holding = threading.Event()

    def first_writer():
        with warehouse_lock(warehouse):
            holding.set()
            time.sleep(0.3)
            order.append("first done")

    def second_writer():
        holding.wait()
        with warehouse_lock(warehouse):
            order.append("second in")

    threads = [threading.Thread(target=first_writer), threading.Thread(target=second_writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["first done", "second in"]
    assert [record.getMessage() for record in caplog.records if record.name == "prefect.batchyard.warehouse"] == [
        f"waiting for the warehouse {warehouse}: another run is writing or reading it"
    ]


def test_an_unwritable_warehouse_path_is_reported_clearly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WarehouseUnavailable, match="cannot write the warehouse at"):
        prepare_warehouse(blocker / "warehouse.duckdb")


@pytest.mark.parametrize(
    "schema",
    ['quo"te', 'meta"."batches"; drop table meta.rejects; --', "logs"],
    ids=["quote-in-name", "injection", "plain"],
)
def test_the_warehouse_overview_quotes_the_names_it_is_given(warehouse, schema):
    with open_warehouse(warehouse) as connection:
        connection.execute('create schema if not exists "quo""te"')
        connection.execute('create table if not exists "quo""te"."t""x" (n integer)')
        connection.execute('insert into "quo""te"."t""x" values (1), (2)')

    overview = describe_warehouse(warehouse, schema, "access_logs")

    tables = query(
        warehouse, "select table_schema, table_name from information_schema.tables where table_schema = 'meta'"
    )
    assert ("meta", "rejects") in tables
    if schema == 'quo"te':
        assert '  quo"te.t"x: 2 rows' in overview.splitlines()


def test_someone_elses_duckdb_file_is_refused_and_left_byte_for_byte_as_it_was(tmp_path):
    foreign = tmp_path / "analytics.duckdb"
    with duckdb.connect(str(foreign)) as connection:
        connection.execute("create schema meta")  # even with a schema of ours' name
        connection.execute("create table meta.batches (id integer)")
        connection.execute("insert into meta.batches values (1)")
    before = foreign.read_bytes()

    with pytest.raises(
        ForeignDatabase,
        match=r"analytics.duckdb is a DuckDB database but not a batchyard warehouse \(it holds meta.batches\)",
    ):
        prepare_warehouse(foreign)

    assert foreign.read_bytes() == before
    assert not foreign.with_name("analytics.duckdb.wal").exists()


def test_an_empty_duckdb_database_becomes_a_warehouse(tmp_path):
    empty = tmp_path / "new.duckdb"
    duckdb.connect(str(empty)).close()

    prepare_warehouse(empty)

    assert ("meta", "batches") in query(empty, "select table_schema, table_name from information_schema.tables")


@pytest.mark.parametrize(
    "name", ["sales.duckdb", "Meta.duckdb", "logs.v2.duckdb", "wordcount", "BILLING.db", "migrate.duckdb"]
)
def test_a_warehouse_named_like_one_of_its_schemas_is_refused_before_anything_is_written(tmp_path, name):
    warehouse = tmp_path / "new" / name

    with pytest.raises(
        WarehouseNameTaken, match=rf"the warehouse cannot be called {re.escape(name)}: .*choose another"
    ):
        prepare_warehouse(warehouse)

    assert not (tmp_path / "new").exists()


def test_a_migration_target_schema_named_like_the_warehouse_is_refused(tmp_path):
    with pytest.raises(WarehouseNameTaken, match="clash with the warehouse's schema shop"):
        check_warehouse_name(tmp_path / "shop.duckdb", ("Shop",))


def test_a_warehouse_whose_name_only_contains_a_schema_name_works(tmp_path):
    warehouse = tmp_path / "sales-warehouse.duckdb"

    prepare_warehouse(warehouse)

    assert ("sales", "stg_orders") in query(warehouse, "select table_schema, table_name from information_schema.tables")


def test_the_sales_command_refuses_a_warehouse_named_sales_with_one_line_and_exit_2(tmp_path, capsys):
    from flows.sales import main

    warehouse = tmp_path / "sales.duckdb"

    assert main(["--source", "data/sample_sales", "--warehouse", str(warehouse)]) == 2

    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "the warehouse cannot be called sales.duckdb" in error
    assert not warehouse.exists() and not list(tmp_path.iterdir())


def test_the_migrate_command_refuses_a_warehouse_named_like_its_target_schema(tmp_path, capsys):
    from flows.migrate import main

    warehouse = tmp_path / "raw.duckdb"

    assert main(["--warehouse", str(warehouse)]) == 2  # the bundled sample, into the default schema `raw`

    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "the warehouse cannot be called raw.duckdb" in error
    assert not list(tmp_path.iterdir())


def test_a_fact_table_marks_the_days_its_partition_expression_gives(warehouse):
    readings = FactTable(pipeline="sensors", table="readings", partition_day="cast(reading_ts as date)")
    with open_warehouse(warehouse) as connection:
        connection.execute("create temp table readings (batch_id varchar, reading_ts timestamp, export_date date)")
        connection.execute(
            "insert into readings values ('b1', '2026-10-01 23:59:00', '2026-10-05'), "
            "('b1', '2026-10-02 00:01:00', '2026-10-05'), ('b2', '2026-10-03 12:00:00', '2026-10-05')"
        )
        _mark_dirty_partitions(connection, readings, "batch_id = ?", "b1")
        marked = connection.execute("select pipeline, partition_day from meta.dirty_partitions order by all").fetchall()
    assert marked == [("sensors", date(2026, 10, 1)), ("sensors", date(2026, 10, 2))]


def test_a_script_statement_naming_bucket_runs_once_per_bucket(tmp_path):
    script = tmp_path / "buckets.sql"
    script.write_text(
        "create table numbers as select range as n from range(10);\n"
        "create table picked (bucket integer, n integer);\n"
        "insert into picked select $bucket, n from numbers where n % $buckets = $bucket;\n"
        "select bucket, list(n order by n) from picked group by bucket order by bucket;\n"
    )
    connection = duckdb.connect()

    rows = execute_script(connection, script, {"buckets": 3}).fetchall()

    assert rows == [(0, [0, 3, 6, 9]), (1, [1, 4, 7]), (2, [2, 5, 8])]
    again = duckdb.connect()
    assert execute_script(again, script, {}).fetchall() == [(0, list(range(10)))]  # one bucket when not given


def test_a_load_closed_without_a_checkpoint_is_kept_in_the_log_until_the_next_connection_checkpoints(
    tmp_path, warehouse
):
    path = tmp_path / "access.log"
    write_log(path, FIRST_VERSION)
    staged = stage(path, warehouse)
    wal = warehouse.with_name(warehouse.name + ".wal")

    with open_warehouse(warehouse, checkpoint=False) as connection:
        load_staged_batch(connection, staged, REQUESTS, flow_run_id=None)

    assert wal.is_file() and wal.stat().st_size  # committed, not yet written into the database file
    assert query(warehouse, "select count(*) from logs.requests") == [(3,)]  # a reader replays the log
    with open_warehouse(warehouse):
        pass
    assert not wal.exists()
    assert query(warehouse, "select count(*) from logs.requests") == [(3,)]


def test_commits_leave_row_groups_as_they_are_until_a_table_holds_a_quarter_of_deleted_rows(warehouse):
    """DuckDB's vacuum (merging small row groups, leaving deleted rows out) is off for commits: it cost more than the
    loads it followed. A table holding a quarter or more of deleted rows gets them rewritten at the next checkpoint
    that writes it."""

    def row_groups_stored_counted(connection):
        return connection.execute(
            "select (select count(distinct row_group_id) from pragma_storage_info('numbers')),"
            " (select estimated_size from duckdb_tables() where table_name = 'numbers'),"
            " (select count(*) from numbers)"
        ).fetchone()

    with open_warehouse(warehouse) as connection:
        connection.execute(f"create table numbers as select range as n from range(4 * {ROW_GROUP_ROWS})")
    for _ in range(2):  # two small loads, each its own row group: with the vacuum the second merged into the first
        with open_warehouse(warehouse) as connection:
            assert connection.execute("select current_setting('max_vacuum_tasks')").fetchone() == (0,)
            connection.execute("insert into numbers select range from range(50_000)")
    with open_warehouse(warehouse) as connection:
        assert row_groups_stored_counted(connection) == (6, 591_520, 591_520)
        connection.execute(f"delete from numbers where n % 2 = 0 and n >= {ROW_GROUP_ROWS}")  # 184,320: 31%
    with open_warehouse(warehouse) as connection:
        assert row_groups_stored_counted(connection) == (6, 591_520, 407_200)  # the deleted rows are still stored
        assert connection.execute("select current_setting('max_vacuum_tasks')").fetchone() == (100,)
        connection.execute(f"delete from numbers where n = {2 * ROW_GROUP_ROWS + 1}")
    with open_warehouse(warehouse) as connection:
        groups, stored, counted = row_groups_stored_counted(connection)
        assert stored == counted == 407_199 and groups < 6
        assert connection.execute("select current_setting('max_vacuum_tasks')").fetchone() == (0,)


def lock_is_free(warehouse: Path) -> bool:
    with lock_path(warehouse).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def two_staged_logs(tmp_path: Path, warehouse: Path) -> list:
    write_log(tmp_path / "first.log", FIRST_VERSION)
    write_log(tmp_path / "second.log", [log_line(client="203.0.113.9", request="GET /second HTTP/1.1")])
    return [stage(tmp_path / name, warehouse) for name in ("first.log", "second.log")]


def test_loads_held_in_turn_share_one_connection_while_the_next_is_ready_and_release_the_lock_after(
    tmp_path, warehouse
):
    first, second = two_staged_logs(tmp_path, warehouse)
    held = HeldForLoads(warehouse)

    with held.connection(lambda: True) as connection:
        load_staged_batch(connection, first, REQUESTS, flow_run_id=None)
    assert not lock_is_free(warehouse)  # kept for the next load
    with held.connection(lambda: False) as again:
        assert again is connection
        load_staged_batch(again, second, REQUESTS, flow_run_id=None)
    assert lock_is_free(warehouse)  # the next load was not ready: closed

    held.close()  # closing twice does nothing
    assert query(warehouse, "select count(*) from meta.batches where status = 'loaded'") == [(2,)]


def test_loads_held_in_turn_close_when_the_hold_is_up_or_a_load_fails(tmp_path, warehouse):
    first, second = two_staged_logs(tmp_path, warehouse)
    no_time_to_hold = HeldForLoads(warehouse, hold_seconds=0)
    with no_time_to_hold.connection(lambda: True) as connection:
        load_staged_batch(connection, first, REQUESTS, flow_run_id=None)
    assert lock_is_free(warehouse)  # readers get their turn, however many loads are ready

    held = HeldForLoads(warehouse)
    miscounted = dataclasses.replace(second, rows_in=second.rows_in + 1)
    with pytest.raises(AccountingError), held.connection(lambda: True) as connection:
        load_staged_batch(connection, miscounted, REQUESTS, flow_run_id=None)
    assert lock_is_free(warehouse)
    assert query(warehouse, "select regexp_extract(source, '[^/]+$') from meta.batches") == [("first.log",)]


def test_loads_insert_on_all_cores_and_each_row_keeps_its_line(tmp_path, warehouse):
    lines = 130_000  # more than a row group (122,880 rows), staged in ~13 parts of 1 MiB
    write_log(
        tmp_path / "big.log", [log_line(request=f"GET /page/{number} HTTP/1.1") for number in range(1, lines + 1)]
    )
    staged = stage(tmp_path / "big.log", warehouse)
    held = HeldForLoads(warehouse)

    with held.connection(lambda: False) as connection:
        (keeps_order,) = connection.execute("select current_setting('preserve_insertion_order')").fetchone()
        load_staged_batch(connection, staged, REQUESTS, flow_run_id=None)

    assert keeps_order is False
    mismatched = "select count(*) from logs.requests where path <> '/page/' || line_number"
    assert query(warehouse, "select count(*), count(distinct line_number), max(line_number) from logs.requests") == [
        (lines, lines, lines)
    ]
    assert query(warehouse, mismatched) == [(0,)]


CRASH_WHILE_HELD = """
import os, pickle, sys
from pathlib import Path
from tasks.warehouse.connection import HeldForLoads
from tasks.warehouse.loads import FactTable, load_staged_batch
staged = pickle.loads(Path(sys.argv[1]).read_bytes())
held = HeldForLoads(Path(sys.argv[2]))
with held.connection(lambda: True) as connection:
    load_staged_batch(connection, staged, FactTable("access_logs", "logs.requests", "day"), None)
os._exit(9)  # killed between two loads, the warehouse still open for the next
"""


def test_a_process_killed_between_two_loads_sharing_a_connection_reruns_to_the_same_warehouse(tmp_path, warehouse):
    clean = tmp_path / "clean" / "warehouse.duckdb"
    prepare_warehouse(clean)
    for staged in two_staged_logs(tmp_path, clean):
        load(staged, clean)
    first, second = two_staged_logs(tmp_path, warehouse)
    pickled = tmp_path / "first.pickle"
    pickled.write_bytes(pickle.dumps(first))

    killed = subprocess.run(
        [sys.executable, "-c", CRASH_WHILE_HELD, str(pickled), str(warehouse)], cwd=PROJECT_ROOT, check=False
    )

    assert killed.returncode == 9
    assert query(warehouse, "select regexp_extract(source, '[^/]+$') from meta.batches") == [("first.log",)]
    for staged in (first, second):  # the re-run: its discovery would find the first loaded; loading it again is a no-op
        load(staged, warehouse)
    assert snapshot(warehouse) == snapshot(clean)
