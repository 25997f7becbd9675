"""The migrate flow end to end, under the session's Prefect test server: the bundled SQLite sample (rejects and
their accounting, a re-run changing nothing), PostgreSQL's types copied faithfully, the password appearing
nowhere, the command line's refusals, and a run killed mid-table resuming where it stopped."""

import json
import sqlite3
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path

import duckdb
import psutil
import pytest
from flow_process import run_flow_process, start_flow
from postgres_server import PASSWORD, postgres  # noqa: F401 - the session's PostgreSQL server, a fixture
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler
from run_records import assert_run_matches_ledger
from warehouse_snapshot import query, snapshot

from flows.migrate import main, migrate
from tasks.observability.audit import run_checks, warehouse_checks
from tasks.warehouse.connection import warehouse_lock

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_SHOP = PROJECT_ROOT / "data" / "sample_shop.sqlite"
SCHEMAS = ("raw", "meta", "migrate")

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_migration(source: str, warehouse: Path, **parameters):
    # The tables here are a few rows with one bad value each (1 of 4 rows: 25%), over the default 5% reject-rate
    # guard; these tests are about the copy, so any rate goes (the guard has its own tests in test_monitoring.py).
    parameters.setdefault("max_reject_rate", 1.0)
    state = migrate(source=source, warehouse=warehouse, return_state=True, **parameters)
    return state, state.result(raise_on_failure=False)


def sqlite_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute(f"select count(*) from {table}").fetchone()
    connection.close()
    return count


# ---- The bundled sample -----------------------------------------------------------------------------------------------


def test_the_flow_s_default_source_is_the_sample_in_the_project_folder_wherever_it_runs(tmp_path, monkeypatch):
    """The UI's form shows the default relative (not the deploying machine's path); a run takes it in the project
    folder of the machine that runs it, whatever its working directory."""
    assert migrate.parameters.properties["source"]["default"] == "data/sample_shop.sqlite"
    monkeypatch.chdir(tmp_path)

    state = migrate(warehouse=tmp_path / "warehouse.duckdb", key=["page_views=session_id,seq"], return_state=True)

    assert state.is_completed(), state.message
    assert state.result().source == f"sqlite:///{SAMPLE_SHOP}"


def test_the_sample_migrates_rejecting_what_breaks_its_type_and_a_rerun_changes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_migration(str(SAMPLE_SHOP), warehouse, key=["page_views=session_id,seq"], max_reject_rate=0.05)

    assert state.is_completed(), state.message  # the sample's worst table rejects 2%
    assert_run_matches_ledger(warehouse, state, "completed")
    # data/generate_operational_db.py's BAD_VALUES, by table and key
    expected_rejects = {
        ("customers", 5): "signed_up: '2024-04-31' is not a valid DATE (no such day)",
        ("customers", 6): "active: 2 is not a valid BOOLEAN (booleans are 0 or 1)",
        ("customers", 7): "external_id: 'not-a-uuid' is not a valid UUID",
        ("customers", 8): "preferences: '{broken' is not a valid JSON",
        ("orders", 11): "total: 'n/a' is not a valid DECIMAL(12,4) (not a number)",
        ("orders", 12): "total: 12.34567 is not a valid DECIMAL(12,4) (more than 4 decimal places)",
        ("orders", 13): "placed_at: '2024-03-01 10:00:00' is not a valid TIMESTAMPTZ",
        ("order_lines", 7): "quantity: 'abc' is not a valid BIGINT (not an integer)",
    }
    rejects = query(warehouse, "select regexp_extract(source, '#(.*)$', 1), raw, reason, line_number from meta.rejects")
    found = {
        (table, json.loads(raw).get("id") or json.loads(raw)["order_id"]): reason for table, raw, reason, _ in rejects
    }
    assert {key: reason for key, reason in found.items()} == {
        (table, str(key)): found[(table, str(key))] for table, key in expected_rejects
    }
    for (table, key), reason in expected_rejects.items():
        assert found[(table, str(key))].startswith(reason)
    # positions: the row's place in key order; the ids of customers and orders start at 1 and have no gaps
    assert sorted(line for table, _, _, line in rejects if table != "order_lines") == [5, 6, 7, 8, 11, 12, 13]

    ledger = query(
        warehouse,
        "select regexp_extract(source, '#(.*)$', 1), status, rows_in, rows_loaded, rows_rejected from meta.batches "
        "where pipeline = 'migrate' order by 1",
    )
    rejected = {"customers": 4, "order_lines": 1, "orders": 3, "page_views": 0}
    assert ledger == [
        (
            table,
            "loaded",
            sqlite_count(SAMPLE_SHOP, table),
            sqlite_count(SAMPLE_SHOP, table) - rejected[table],
            rejected[table],
        )
        for table in ("customers", "order_lines", "orders", "page_views")
    ]
    for table in rejected:
        assert query(warehouse, f"select count(*) from raw.{table}") == [
            (sqlite_count(SAMPLE_SHOP, table) - rejected[table],)
        ]
    assert query(warehouse, "select count(*) from information_schema.tables where table_name like '%__copying'") == [
        (0,)
    ]
    assert all(result.passed for result in run_checks_on(warehouse)), run_checks_on(warehouse)
    first = snapshot(warehouse, SCHEMAS)

    state, summary = run_migration(str(SAMPLE_SHOP), warehouse, key=["page_views=session_id,seq"])

    assert state.is_completed(), state.message
    assert summary.already_loaded == 4 and summary.batches == []
    assert snapshot(warehouse, SCHEMAS) == first


def run_checks_on(warehouse: Path):
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return run_checks(connection, warehouse_checks())


def test_a_changed_source_table_is_copied_again_and_replaces_its_rows(tmp_path):
    source = tmp_path / "shop.sqlite"
    source.write_bytes(SAMPLE_SHOP.read_bytes())
    warehouse = tmp_path / "warehouse.duckdb"
    run_migration(str(source), warehouse, tables=["orders", "order_lines"])
    with sqlite3.connect(source) as connection:
        connection.execute("update orders set total = '5' where id = 11")  # the 'n/a' reject is fixed at the source
        connection.execute("delete from order_lines where order_id = 1")
    connection.close()

    state, summary = run_migration(str(source), warehouse, tables=["orders", "order_lines"], batch_rows=7)

    assert state.is_completed(), state.message
    assert query(warehouse, "select total from raw.orders where id = 11") == [(Decimal("5.0000"),)]
    assert query(warehouse, "select count(*) from raw.order_lines where order_id = 1") == [(0,)]
    assert query(warehouse, "select count(*) from meta.rejects where source like '%#orders'") == [(2,)]
    assert query(warehouse, "select status, count(*) from meta.batches group by 1 order by 1") == [
        ("loaded", 2),
        ("replaced", 2),
    ]
    assert all(result.passed for result in run_checks_on(warehouse))


# ---- The command line -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "migrate: table page_views has no primary key, so it cannot be copied in resumable key order: give one"),
        (["--tables", "orders,nope"], "migrate: table 'nope' is not in sqlite:///"),
        (["--tables", "page_views", "--key", "page_views=path"], "key (path) is not unique"),
        (["--source", "mysql://u:hunter2@h/db"], "migrate: source URL scheme 'mysql' is not supported"),
        (["--source", "/nonexistent/shop.sqlite"], "migrate: source database /nonexistent/shop.sqlite does not exist"),
    ],
    ids=["keyless-table", "unknown-table", "key-not-unique", "bad-scheme", "missing-file"],
)
def test_bad_input_exits_2_with_one_line(arguments, message, tmp_path, capsys):
    code = main(["--warehouse", str(tmp_path / "warehouse.duckdb"), *arguments])

    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert len(error.strip().splitlines()) == 1, error
    assert "hunter2" not in error
    assert not (tmp_path / "warehouse.duckdb").exists()


# ---- PostgreSQL -------------------------------------------------------------------------------------------------------

TYPES_TABLE = """
create table every_type (
    id int4 primary key,
    small int2,
    big int8,
    amount numeric(12, 4),
    free numeric,
    ratio real,
    score double precision,
    flag boolean,
    name text,
    code char(3),
    label varchar(10),
    payload bytea,
    day date,
    at timestamp,
    instant timestamptz,
    clock time,
    ident uuid,
    doc jsonb,
    span interval
)
"""
TYPE_ROWS = [
    "(1, 32767, 9223372036854775807, 12345678.1234, 1.5, 0.1, 1e-300, true, 'Zoë 🌟 ünïcode', 'ab', 'x',"
    " '\\x00ff41', '2024-02-29', '2024-01-01 12:00:00.123456', '2024-03-01 10:00:00.654321+05:30',"
    " '23:59:59.999999', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": 2, \"a\": [1, 2]}', '1 day 02:00:00')",
    "(2, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null)",
    "(3, -32768, -9223372036854775808, -0.0001, -123.456, -2.5, '-0', false, '', 'xyz', '', '\\x', '0001-01-01',"
    " '1999-12-31 23:59:59', '2024-03-01 10:00:00-09:30', '00:00:00', '00000000-0000-0000-0000-000000000000',"
    " '[]', '-1 mons')",
    # PostgreSQL's timestamps go 32 years beyond DuckDB's (294247-01-10): a reject
    "(4, 1, 1, 1, 1, 1, 1, true, 'too late', 'a', 'a', '\\x01', '2024-01-01', '294270-01-01 00:00:00', null, null,"
    " null, null, null)",
]
EXPECTED_TYPES = [
    ("id", "INTEGER"),
    ("small", "SMALLINT"),
    ("big", "BIGINT"),
    ("amount", "DECIMAL(12,4)"),
    ("free", "DECIMAL(38,3)"),  # unconstrained: the widest scale among its values is 3 (-123.456)
    ("ratio", "FLOAT"),
    ("score", "DOUBLE"),
    ("flag", "BOOLEAN"),
    ("name", "VARCHAR"),
    ("code", "VARCHAR"),
    ("label", "VARCHAR"),
    ("payload", "BLOB"),
    ("day", "DATE"),
    ("at", "TIMESTAMP"),
    ("instant", "TIMESTAMP WITH TIME ZONE"),
    ("clock", "TIME"),
    ("ident", "UUID"),
    ("doc", "JSON"),
    ("span", "VARCHAR"),
]
EXPECTED_ROWS = [
    (
        1,
        32767,
        9223372036854775807,
        Decimal("12345678.1234"),
        Decimal("1.500"),
        0.10000000149011612,  # 0.1 as a 4-byte float
        1e-300,
        True,
        "Zoë 🌟 ünïcode",
        "ab ",  # char(3) is blank-padded
        "x",
        b"\x00\xffA",
        date(2024, 2, 29),
        datetime(2024, 1, 1, 12, 0, 0, 123456),
        datetime(2024, 3, 1, 4, 30, 0, 654321, tzinfo=UTC),  # 10:00 at +05:30
        time_of_day(23, 59, 59, 999999),
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        '{"a": [1, 2], "b": 2}',  # jsonb's own text form: keys sorted
        "1 day 02:00:00",
    ),
    (2, *[None] * 18),
    (
        3,
        -32768,
        -9223372036854775808,
        Decimal("-0.0001"),
        Decimal("-123.456"),
        -2.5,
        -0.0,
        False,
        "",
        "xyz",
        "",
        b"",
        date(1, 1, 1),
        datetime(1999, 12, 31, 23, 59, 59),
        datetime(2024, 3, 1, 19, 30, tzinfo=UTC),  # 10:00 at -09:30
        time_of_day(0, 0),
        uuid.UUID(int=0),
        "[]",
        "-1 mons",
    ),
]


@pytest.fixture(scope="module")
def postgres_migration(postgres, prefect_server, tmp_path_factory):  # noqa: F811
    """One migration of a PostgreSQL table with every mapped type, with the password in the URL."""
    url = postgres.fresh_database("types")
    with postgres.connect("types") as connection:
        connection.execute(TYPES_TABLE)
        connection.execute("insert into every_type values " + ", ".join(TYPE_ROWS))
    warehouse = tmp_path_factory.mktemp("postgres") / "warehouse.duckdb"
    state, summary = run_migration(url, warehouse, batch_rows=2)
    APILogHandler().flush()  # logs reach the server in the background: wait for them
    return url, warehouse, state, summary


def test_postgres_types_are_copied_faithfully(postgres_migration):
    _, warehouse, state, _ = postgres_migration

    assert state.is_completed(), state.message
    columns = query(
        warehouse,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'raw' and table_name = 'every_type' order by ordinal_position",
    )
    assert columns == EXPECTED_TYPES
    rows = query(warehouse, "select * from raw.every_type order by id")
    assert rows == EXPECTED_ROWS
    for actual, expected in zip(rows, EXPECTED_ROWS, strict=True):  # equal and of the same types (-0.0 == 0.0 too)
        assert [repr(value) for value in actual[5:7]] == [repr(value) for value in expected[5:7]]
    ((reason, raw, line),) = query(warehouse, "select reason, raw, line_number from meta.rejects")
    assert reason == (
        "at: '294270-01-01 00:00:00' is not a valid TIMESTAMP (outside DuckDB's range, 290309 BC to "
        "294247-01-10 04:00:54.775806)"
    )
    assert json.loads(raw)["at"] == "294270-01-01 00:00:00" and line == 4
    assert query(warehouse, "select rows_in, rows_loaded, rows_rejected from meta.batches") == [(4, 3, 1)]


def test_the_password_appears_in_no_log_artifact_or_warehouse_table(postgres_migration):
    url, warehouse, state, summary = postgres_migration
    assert PASSWORD not in url and url.count(":") == 3  # it is in the URL, URL-encoded
    secrets = [PASSWORD, url.split(":")[2].split("@")[0]]  # as typed, and as the URL encodes it

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    log_text = "\n".join(log.message for log in logs)
    artifact_text = "\n".join(f"{artifact.description} {artifact.data}" for artifact in artifacts)
    assert "every_type" in log_text and "postgresql://batchyard:***@127.0.0.1" in log_text
    assert {artifact.type for artifact in artifacts} >= {"table", "progress"}
    tables = snapshot(warehouse, SCHEMAS)
    assert any("postgresql://batchyard:***@127.0.0.1" in repr(rows) for rows in tables.values())
    for secret in secrets:
        assert secret not in log_text
        assert secret not in artifact_text
        assert secret not in repr(tables)
        assert secret not in repr(summary)
        assert secret.encode() not in warehouse.read_bytes()


# ---- Killed mid-table -------------------------------------------------------------------------------------------------


def read_checkpoint(warehouse: Path) -> tuple | None:
    """The checkpoint as the running copy left it between two batches: read under the warehouse's file lock."""
    if not warehouse.exists():
        return None
    with warehouse_lock(warehouse):
        try:
            with duckdb.connect(str(warehouse), read_only=True) as connection:
                rows = connection.execute(
                    "select rows_copied, rows_rejected, status, started_at from migrate.checkpoints"
                ).fetchall()
        except duckdb.CatalogException:  # not created yet
            return None
    return rows[0] if rows else None


@pytest.mark.slow
def test_a_run_killed_mid_table_resumes_where_it_stopped(postgres, tmp_path):  # noqa: F811
    url = postgres.fresh_database("big")
    with postgres.connect("big") as connection:
        connection.execute(
            "create table big as select id::int8 as id, md5(id::text) as label, (id % 9973) / 100.0::numeric(12, 2)"
            " as amount, timestamptz '2024-01-01 00:00:00+00' + id * interval '1 second 7 microseconds' as at,"
            " id % 3 = 0 as flag from generate_series(1, 200000) as id"
        )
        connection.execute("alter table big add primary key (id)")
        connection.execute("alter table big alter column amount type numeric(12, 2)")
    warehouse = tmp_path / "killed" / "warehouse.duckdb"
    arguments = ("--tables", "big", "--batch-rows", "5000")

    process = start_flow(url, warehouse, *arguments, flow="migrate")
    deadline = time.time() + 120
    checkpoint = None
    while time.time() < deadline and process.poll() is None:
        checkpoint = read_checkpoint(warehouse)
        if checkpoint and checkpoint[0] >= 20_000:
            break
        time.sleep(0.05)
    tree = psutil.Process(process.pid).children(recursive=True)
    process.kill()
    for child in tree:
        child.kill()
    process.wait()
    stopped = read_checkpoint(warehouse)
    assert stopped is not None and stopped[2] == "copying", f"the run was not killed mid-table: {stopped}"
    rows_before = stopped[0]
    assert 20_000 <= rows_before < 200_000 and rows_before % 5000 == 0

    finished = run_flow_process(url, warehouse, *arguments, flow="migrate")

    assert finished.returncode == 0, finished.stderr[-3000:]
    assert f"resuming after {rows_before:,} rows copied by an earlier run" in finished.stderr
    resumed = read_checkpoint(warehouse)
    assert resumed[:3] == (200_000, 0, "done")
    assert resumed[3] == stopped[3]  # the copy that started before the kill is the one that finished
    with postgres.connect("big") as connection:
        in_source = connection.execute("select id, label, amount, at, flag from big order by id").fetchall()
    assert query(warehouse, 'select id, label, amount, "at", flag from raw.big order by id') == in_source
    assert query(warehouse, "select status, rows_in, rows_loaded, rows_rejected from meta.batches") == [
        ("loaded", 200_000, 200_000, 0)
    ]
