"""Reading a whole warehouse back as plain values, to compare two warehouses or a warehouse with expectations. Reads
take the warehouse's lock like every other reader, so a test waits for a run still writing (an audit or a report
that a completed load triggered) instead of failing on DuckDB's file lock."""

from pathlib import Path

import duckdb
import polars as pl
import pytest
from independent_access_logs import compute_expected
from independent_sessions import read_requests, sessions, sessions_daily
from polars.testing import assert_frame_equal

from tasks.warehouse.connection import read_warehouse

# Timings and run ids differ between runs by nature (a migration checkpoint's last_batch_at too), and so do the sizes
# of compressed spill files (their rows come out of parallel group-bys in any order); everything else must be
# identical.
RUN_SPECIFIC_COLUMNS = {"started_at", "finished_at", "flow_run_id", "loaded_at", "spilled_bytes", "last_batch_at"}
# meta.runs is the log of runs: every run adds its row (a re-run that loads nothing too), with its timings and
# memory, so two warehouses with the same data differ there by design. tests/observability/test_monitoring.py checks it.
RUN_LOG_TABLES = ["runs"]


def snapshot(
    warehouse: Path, schemas: tuple[str, ...] = ("logs", "meta"), also_run_specific: frozenset[str] = frozenset()
) -> dict[str, list[tuple]]:
    """Every table of the `schemas`, sorted, without the run-specific ledger columns (nor `also_run_specific` ones,
    such as the time an invoice was issued, when two runs are compared)."""
    with read_warehouse(warehouse) as connection:
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where list_contains(?, table_schema) and table_name <> 'schema_versions' "
            "and not (table_schema = 'meta' and list_contains(?, table_name)) order by all",
            [list(schemas), RUN_LOG_TABLES],
        ).fetchall()
        result = {}
        for schema, table in tables:
            columns = [
                name
                for (name,) in connection.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                if name not in RUN_SPECIFIC_COLUMNS | also_run_specific
            ]
            column_list = ", ".join(f'"{name}"' for name in columns)
            result[f"{schema}.{table}"] = sorted(
                connection.execute(f'select {column_list} from "{schema}"."{table}"').fetchall(), key=repr
            )
    return result


def query(warehouse: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with read_warehouse(warehouse) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def marts(warehouse: Path) -> dict[str, pl.DataFrame]:
    with read_warehouse(warehouse) as connection:
        return {
            "hourly": connection.sql("select * from logs.hourly order by hour").pl(),
            "daily": connection.sql("select * from logs.daily order by day").pl(),
            "top_paths": connection.sql("select * from logs.top_paths order by day, rank").pl(),
        }


def assert_matches_independent_computation(source: Path, warehouse: Path) -> None:
    """The warehouse's marts and ledger equal the independent computation over the files in `source`."""
    expected = compute_expected(source)
    actual = marts(warehouse)
    for mart in ("hourly", "daily", "top_paths"):
        assert_frame_equal(actual[mart], expected[mart], check_dtypes=False, check_column_order=False)
    ledger = pl.DataFrame(
        query(
            warehouse,
            "select regexp_extract(source, '[^/]+$'), rows_in, rows_loaded, rows_rejected "
            "from meta.batches where status = 'loaded' order by 1",
        ),
        schema=["file", "lines", "well_formed", "rejected"],
        orient="row",
    )
    per_file = expected["per_file"].rename({expected["per_file"].columns[0]: "file"}).sort("file")
    assert_frame_equal(ledger, per_file.select(ledger.columns), check_dtypes=False)
    assert_sessions_match_independent_computation(source, warehouse)


SESSION_COLUMNS = "session_id, client, user_agent, start_utc, end_utc, requests, pages, bounced, entry_path, exit_path"


def assert_sessions_match_independent_computation(source: Path, warehouse: Path, gap_minutes: int = 30) -> None:
    """logs.sessions and logs.sessions_daily equal tests/support/independent_sessions.py's over the files in `source`."""
    expected = sessions(read_requests(source), gap_minutes)
    actual = query(warehouse, f"select {SESSION_COLUMNS} from logs.sessions order by client, user_agent, start_utc")
    assert actual == expected
    daily = query(warehouse, "select * from logs.sessions_daily order by day")
    assert daily == [pytest.approx(row) for row in sessions_daily(expected)]


def foreign_database(path: Path) -> None:
    """Someone else's DuckDB file: a database with a table of its own and no batchyard ledger."""
    connection = duckdb.connect(str(path))
    connection.execute("create table orders (id integer)")
    connection.close()
