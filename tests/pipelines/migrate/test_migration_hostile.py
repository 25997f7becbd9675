"""The migration against hostile input (issue 15, items 6 and 10 and the sweep's tests): passwords with every
URL-special character, typed as they are or percent-encoded, never shown and never in the flow run's parameters;
hostile names in every option and in the source's catalogue; values Python cannot hold (24:00:00, BC dates,
infinity) copied exactly; and `--key TABLE=COL` meaning the table in the default schema."""

import logging
import sqlite3
from datetime import date
from datetime import time as time_of_day
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres_server import postgres  # noqa: F401 - the session's PostgreSQL server, a fixture
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.sorting import FlowRunSort
from warehouse_snapshot import query

from flows.migrate import main
from tasks.pipelines.migrate.migration import (
    MigrationRefused,
    WideTemporal,
    arrow_column_values,
    canonical_row,
    connected,
    inspect_source,
    mask_url,
    parse_postgres_url,
    read_pages,
    redact,
    url_without_password,
)
from tasks.pipelines.migrate.table_copy import copy_table_in_batches, verify_and_swap_in

URL_SPECIAL = "#/?@:%&=+ []!$'()*,;~\"<>\\^`{|}"
HOSTILE_PASSWORD = "Pw#/?@:&=+ []!$'()*,;~\"<>\\^`{|}é"  # every URL-special character but %, typed as it is


# ---- URLs: parsing and masking, for arbitrary passwords ---------------------------------------------------------------

passwords = st.text(alphabet=st.sampled_from(URL_SPECIAL + "abcXYZ019-._é🌟"), min_size=1, max_size=24).map(
    lambda text: "Sx" + text
)  # "Sx": nothing else in these URLs holds it, so finding it means a leak
users = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
hosts = st.sampled_from(["db.internal", "127.0.0.1", "[::1]", "localhost", "pg-1.example.com"])
ports = st.integers(min_value=1, max_value=65535)
databases = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(password=passwords, user=users, host=hosts, port=ports, database=databases)
def test_an_encoded_password_round_trips_and_is_never_shown(password, user, host, port, database):
    url = f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/{database}?sslmode=require"

    parsed = parse_postgres_url(url)
    clean, moved = url_without_password(url)

    assert (parsed.user, parsed.password, parsed.hosts, parsed.database) == (
        user,
        password,
        (f"{host}:{port}",),
        database,
    )
    assert moved == password
    assert mask_url(url) == f"postgresql://{user}:***@{host}:{port}/{database}"
    assert clean == f"postgresql://{user}@{host}:{port}/{database}?sslmode=require"
    message = redact(f"failed: {url} said {password!r} / {quote(password, safe='')}", url)
    for shown in (mask_url(url), clean, message):
        assert "Sx" not in shown


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(password=passwords.filter(lambda password: "%" not in password), user=users, host=hosts, port=ports)
def test_a_password_typed_as_it_is_is_read_exactly_or_refused_without_showing_it(password, user, host, port):
    url = f"postgresql://{user}:{password}@{host}:{port}/shop"

    try:
        parsed = parse_postgres_url(url)
    except MigrationRefused as refused:
        assert "Sx" not in str(refused) and "percent-encode the password (# is %23" in str(refused)
        assert "Sx" not in redact(f"{refused}: {url}", url)
        return
    assert (parsed.user, parsed.password, parsed.hosts, parsed.database) == (
        user,
        password,
        (f"{host}:{port}",),
        "shop",
    )
    assert "Sx" not in mask_url(url)
    assert "Sx" not in url_without_password(url)[0]
    assert "Sx" not in redact(f"could not connect to {url} with password {password}", url)


def test_the_issues_password_with_a_hash_is_read_and_masked():
    url = "postgresql://app:Secr3tPart#x@127.0.0.1:5499/shop?sslmode=disable&application_name=X"

    assert url_without_password(url) == (
        "postgresql://app@127.0.0.1:5499/shop?sslmode=disable&application_name=X",
        "Secr3tPart#x",
    )
    assert mask_url(url) == "postgresql://app:***@127.0.0.1:5499/shop"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:pw@h/db?application_name=me@b", "does not read as postgresql://USER:PASSWORD@HOST"),
        ("postgresql://u:Sxpw@h:port/db", "does not read as"),
        ("postgresql://u:Sxpw@h/db?nonsense=1", "does not read as"),
        ("postgresql://u:Sxpw@h:99999/db", "port 99999 is not a port"),
        ("postgresql://u:Sxpw@h/db?sslpassword=Sxkey", "sets sslpassword, which would be stored with the flow run"),
        ("postgresql://u:Sxpw@h/db?password=Sxother", "two different passwords"),
    ],
    ids=["two-readings", "bad-port", "unknown-parameter", "port-out-of-range", "sslpassword", "two-passwords"],
)
def test_urls_that_cannot_be_read_one_way_are_refused_without_their_secrets(url, message):
    with pytest.raises(MigrationRefused, match=message.replace("?", r"\?")) as refused:
        url_without_password(url)
    assert "Sx" not in str(refused.value)
    assert "Sx" not in redact(str(refused.value), url) and "Sx" not in mask_url(url)


# ---- The command line against PostgreSQL, with a hostile password --------------------------------------------------


@pytest.fixture
def hostile_role(postgres):  # noqa: F811
    """A database `hostile` owned by a role `hostile` whose password holds every URL-special character."""
    postgres.fresh_database("hostile")
    with postgres.connect() as connection:
        connection.execute("drop role if exists hostile")
        connection.execute("create role hostile login password " + "'" + HOSTILE_PASSWORD.replace("'", "''") + "'")
        connection.execute("alter database hostile owner to hostile")
    with postgres.connect("hostile") as connection:
        connection.execute("alter schema public owner to hostile")
        connection.execute("create table public.orders (id int primary key, total numeric(8, 2))")
        connection.execute("insert into public.orders values (1, 9.99), (2, 0.01)")
        connection.execute("alter table public.orders owner to hostile")
    return postgres


def latest_flow_run_parameters() -> dict:
    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["migrate"])), sort=FlowRunSort.START_TIME_DESC, limit=1
        )
    return run.parameters


@pytest.mark.parametrize("spelling", ["as-typed", "percent-encoded"])
def test_a_hostile_password_copies_and_reaches_no_output_parameter_or_warehouse(
    hostile_role, spelling, tmp_path, capsys, monkeypatch, prefect_server
):
    monkeypatch.delenv("PGPASSWORD", raising=False)  # main() sets it; the test leaves the environment as it was
    secret = HOSTILE_PASSWORD if spelling == "as-typed" else quote(HOSTILE_PASSWORD, safe="")
    url = f"postgresql://hostile:{secret}@127.0.0.1:{hostile_role.port}/hostile?sslmode=disable&application_name=X"
    warehouse = tmp_path / "warehouse.duckdb"

    code = main(["--source", url, "--warehouse", str(warehouse)])

    output = capsys.readouterr()
    assert code == 0, output.err[-2000:]
    assert query(warehouse, "select id, total::varchar from raw.orders order by id") == [(1, "9.99"), (2, "0.01")]
    parameters = latest_flow_run_parameters()
    assert parameters["source"] == (
        f"postgresql://hostile@127.0.0.1:{hostile_role.port}/hostile?sslmode=disable&application_name=X"
    )
    for spelled in {HOSTILE_PASSWORD, quote(HOSTILE_PASSWORD, safe=""), "Pw#/?@"}:
        assert spelled not in output.out + output.err
        assert spelled not in repr(parameters)
        assert spelled.encode() not in warehouse.read_bytes()


def test_the_issues_url_to_a_closed_port_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = "postgresql://app:Secr3tPart#x@127.0.0.1:1/shop?sslmode=disable"

    code = main(["--source", url, "--warehouse", str(tmp_path / "warehouse.duckdb")])

    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("migrate: cannot connect to postgresql://app:***@127.0.0.1:1/shop")
    assert len(error.strip().splitlines()) == 1, error
    assert "Secr3tPart" not in error
    assert not (tmp_path / "warehouse.duckdb").exists()


# ---- --key without a schema -------------------------------------------------------------------------------------------


@pytest.fixture
def keyless_postgres(postgres):  # noqa: F811
    url = postgres.fresh_database("keyless_tables")
    with postgres.connect("keyless_tables") as connection:
        connection.execute("create table public.nopk_dupe (a int, b text)")
        connection.execute("insert into public.nopk_dupe values (1, 'x'), (2, 'y'), (3, 'x')")
        connection.execute("create schema other")
        connection.execute("create table other.nopk_dupe (a int, b text)")
        connection.execute("create table public.with_pk (id int primary key)")
    return url


def test_a_key_without_a_schema_names_the_table_in_public(keyless_postgres):
    plan = inspect_source(keyless_postgres, ["nopk_dupe"], "raw", ["nopk_dupe=a"]).tables[0]
    assert (plan.source_table, plan.key, plan.key_declared) == ("public.nopk_dupe", ("a",), False)

    plan = inspect_source(keyless_postgres, ["public.nopk_dupe"], "raw", ["nopk_dupe=a"]).tables[0]
    assert plan.key == ("a",)

    with pytest.raises(MigrationRefused, match=r"table public.nopk_dupe cannot be paged by its key: key \(b\) is not"):
        inspect_source(keyless_postgres, ["nopk_dupe"], "raw", ["nopk_dupe=b"])


@pytest.mark.parametrize(
    ("tables", "keys", "message"),
    [
        (["nopk_dupe"], ["nope=a"], "--key nope=a: table 'nope' is not in postgresql://"),
        (["nopk_dupe"], ["nopk_dupe=a", "with_pk=id"], "--key public.with_pk=id names a table this run does not copy"),
        (["nopk_dupe"], ["nopk_dupe=a", "public.nopk_dupe=b"], "table public.nopk_dupe has a key already"),
        (["nopk_dupe"], ["nopk_dupe=a", "nopk_dupe=b"], "is given twice"),
    ],
    ids=["unknown-table", "table-not-copied", "same-table-twice", "same-option-twice"],
)
def test_a_key_that_matches_no_copied_table_is_refused_in_one_line(keyless_postgres, tables, keys, message):
    with pytest.raises(MigrationRefused, match=message) as refused:
        inspect_source(keyless_postgres, tables, "raw", keys)
    assert "\n" not in str(refused.value)


def test_a_sqlite_key_may_name_the_main_schema(tmp_path):
    path = tmp_path / "app.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("create table log (at text, message text)")
        connection.execute("insert into log values ('2024-01-01', 'a')")
    connection.close()
    assert inspect_source(str(path), None, "raw", ["main.log=at"]).tables[0].key == ("at",)


# ---- Hostile names ----------------------------------------------------------------------------------------------------

HOSTILE_NAMES = ['quo"te', "a;drop table meta.rejects;--", "Ünïcode 表", "with space", "dot.ted", "'single'"]


@pytest.fixture
def hostile_sqlite(tmp_path) -> Path:
    path = tmp_path / "hostile.sqlite"
    with sqlite3.connect(path) as connection:
        for index, name in enumerate(HOSTILE_NAMES):
            quoted = '"' + name.replace('"', '""') + '"'
            connection.execute(f'create table {quoted} ({quoted} integer primary key, {quoted[:-1]}2" text)')
            connection.execute(f"insert into {quoted} values (?, ?)", [index, name])
    connection.close()
    return path


def test_hostile_table_and_column_names_copy_exactly_into_a_hostile_schema(hostile_sqlite, tmp_path, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    schema = 'meta"."batches"; drop table meta.rejects; --'

    code = main(["--source", str(hostile_sqlite), "--warehouse", str(warehouse), "--schema", schema])

    output = capsys.readouterr()
    assert code == 0, output.err[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
        ).fetchall()
        assert sorted(name for (name,) in tables) == sorted(HOSTILE_NAMES)
        for index, name in enumerate(HOSTILE_NAMES):
            quoted_schema = '"' + schema.replace('"', '""') + '"'
            quoted = '"' + name.replace('"', '""') + '"'
            rows = connection.execute(f"select * from {quoted_schema}.{quoted}").fetchall()
            columns = [column[0] for column in connection.description]
            assert (rows, columns) == ([(index, name)], [name, name + "2"])
        assert connection.execute("select count(*) from meta.rejects").fetchall() == [(0,)]
        assert connection.execute("select count(*) from meta.batches where status = 'loaded'").fetchall() == [
            (len(HOSTILE_NAMES),)
        ]
    for name in HOSTILE_NAMES:
        assert f"{schema}.{name}: 1 rows" in output.out


def sqlite_with(tmp_path: Path, script: str) -> str:
    path = tmp_path / "refused.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(script)
    connection.close()
    return str(path)


@pytest.mark.parametrize(
    ("script", "arguments", "message"),
    [
        ('create table t ("" integer primary key);', [], "table t has a column with an empty name"),
        ("create table t__copying (id integer primary key);", [], "a name ending in __copying"),
        (
            'create table "Ä" (id integer primary key); create table "ä" (id integer primary key);',
            ["--tables", "Ä,ä"],
            None,
        ),
        ("create table t (id integer primary key);", ["--schema", "  "], "the target schema is empty"),
        ("create table batches (id integer primary key);", ["--schema", "META"], "is the warehouse's own"),
        (
            "create table t (id integer primary key);",
            ["--tables", "t", "--key", "x=id"],
            "--key x=id: table 'x' is not",
        ),
    ],
    ids=[
        "empty-column",
        "copy-suffix",
        "non-ascii-case-is-distinct",
        "blank-schema",
        "warehouse-schema",
        "key-table",
    ],
)
def test_names_duckdb_cannot_take_are_refused_in_one_line(tmp_path, capsys, script, arguments, message):
    source = sqlite_with(tmp_path, script)
    warehouse = tmp_path / "warehouse.duckdb"

    code = main(["--source", source, "--warehouse", str(warehouse), *arguments])

    error = capsys.readouterr().err
    if message is None:  # DuckDB tells Ä from ä: both copy
        assert code == 0, error
        return
    assert code == 2 and message in error, error
    assert len(error.strip().splitlines()) == 1, error
    assert not warehouse.exists()


def test_postgres_tables_that_differ_only_in_case_are_refused(postgres):  # noqa: F811
    url = postgres.fresh_database("cases")
    with postgres.connect("cases") as connection:
        connection.execute('create table "Orders" (id int primary key)')
        connection.execute("create table orders (id int primary key)")
        connection.execute('create table "dot.ted" (id int primary key)')
        connection.execute('create table columns (id int primary key, "Name" text, name text)')
    with pytest.raises(MigrationRefused, match="two tables would be copied to the same warehouse table"):
        inspect_source(url, ["Orders", "orders"], "raw")
    with pytest.raises(MigrationRefused, match="table public.columns has columns 'Name' and 'name', which DuckDB"):
        inspect_source(url, ["columns"], "raw")
    assert inspect_source(url, ["dot.ted"], "raw").tables[0].source_table == "public.dot.ted"
    assert inspect_source(url, ["public.dot.ted"], "raw").tables[0].target_table == "raw.dot.ted"


# ---- Values Python cannot hold ----------------------------------------------------------------------------------------

WIDE_TABLE = """
create table wide (
    day date primary key,
    clock time,
    at timestamp,
    instant timestamptz
)
"""
WIDE_ROWS = [
    ("'0044-03-15 BC'", "'24:00:00'", "'0044-03-15 10:00:00 BC'", "'0044-03-15 10:00:00+00 BC'"),
    ("'4713-01-01 BC'", "'00:00:00'", "'infinity'", "'-infinity'"),
    ("'infinity'", "'23:59:59.999999'", "'294000-01-01 00:00:00'", "'2024-01-01 00:00:00+00'"),
    ("'-infinity'", "null", "null", "null"),
    ("'5874897-12-31'", "'24:00:00'", "'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999+00'"),
    ("'2024-02-29'", "'12:00:00'", "'294270-01-01 00:00:00'", "null"),  # beyond DuckDB's TIMESTAMP: a reject
]
# what DuckDB prints for each copied value, written by hand from PostgreSQL's values
WIDE_IN_DUCKDB = [
    ("-infinity", None, None, None),
    ("4713-01-01 (BC)", "00:00:00", "infinity", "-infinity"),
    ("0044-03-15 (BC)", "24:00:00", "0044-03-15 (BC) 10:00:00", "0044-03-15 (BC) 10:00:00+00"),
    ("5874897-12-31", "24:00:00", "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999+00"),
    ("infinity", "23:59:59.999999", "294000-01-01 00:00:00", "2024-01-01 00:00:00+00"),
]


@pytest.fixture
def wide_postgres(postgres):  # noqa: F811
    url = postgres.fresh_database("wide")
    with postgres.connect("wide") as connection:
        connection.execute(WIDE_TABLE)
        connection.execute("insert into wide values " + ", ".join(f"({', '.join(row)})" for row in WIDE_ROWS))
    return url


def test_values_python_cannot_hold_are_read_as_duckdb_holds_them_and_page_by_them(wide_postgres):
    plan = inspect_source(wide_postgres, ["wide"], "raw").tables[0]

    with connected(wide_postgres) as source:
        pages = list(read_pages(source, plan, None, 1, 0))  # one row a page: every key is a page's bound

    rows = [row for page in pages for row in page.rows]
    rejects = [reject for page in pages for reject in page.rejects]
    assert len(rows) == 5 and len(pages) == 6
    assert [reject.reason for reject in rejects] == [
        "at: '294270-01-01 00:00:00' is not a valid TIMESTAMP (outside DuckDB's range, 290309 BC to "
        "294247-01-10 04:00:54.775806)"
    ]
    assert rows[2][:2] == (WideTemporal("date", -735160), WideTemporal("time", 86_400_000_000))  # 44 BC; 24:00

    # the copy as DuckDB stores it: insert the pages' Arrow tables, print every value
    with duckdb.connect() as connection:
        connection.execute('create table wide (day date, clock time, "at" timestamp, instant timestamptz)')
        connection.execute("set timezone = 'UTC'")
        for page in pages:
            batch = page.arrow_table(plan)
            connection.register("batch", batch)
            connection.execute("insert into wide by name select * from batch")
            connection.unregister("batch")
        printed = connection.execute(
            'select day::varchar, clock::varchar, "at"::varchar, instant::varchar from wide order by day'
        ).fetchall()
        assert printed == WIDE_IN_DUCKDB
        # verification's side: read back through Arrow, the rows read as the source's did
        table = connection.sql("select * from wide").to_arrow_table()
        read_back = list(zip(*(arrow_column_values(column) for column in table.columns), strict=True))
    assert sorted(map(canonical_row, read_back)) == sorted(map(canonical_row, rows))
    assert (date(2024, 2, 29), time_of_day(12)) not in [row[:2] for row in rows]  # the reject's row is not copied


def test_values_python_cannot_hold_are_copied_and_verified(wide_postgres, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    plan = inspect_source(wide_postgres, ["wide"], "raw").tables[0]

    copied = copy_table_in_batches(wide_postgres, plan, warehouse, 2, None, logging.getLogger(__name__))
    outcome = verify_and_swap_in(copied, wide_postgres, plan, warehouse, 2, None)

    assert (outcome.verdict, outcome.rows_in, outcome.rows_loaded, outcome.rows_rejected) == ("copied", 6, 5, 1)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        connection.execute("set timezone = 'UTC'")
        printed = connection.execute(
            'select day::varchar, clock::varchar, "at"::varchar, instant::varchar from raw.wide order by day'
        ).fetchall()
    assert printed == WIDE_IN_DUCKDB
