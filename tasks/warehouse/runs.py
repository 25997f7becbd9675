"""Run records: the audit's results and each run's row in meta.runs, and a terminal overview of a schema."""

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tasks.core.quoting import quote_identifier
from tasks.warehouse.connection import open_warehouse, transaction


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
