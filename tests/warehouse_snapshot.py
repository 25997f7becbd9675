"""Reading a whole warehouse back as plain values, to compare two warehouses or a warehouse with expectations."""

from pathlib import Path

import duckdb

# The ledger's timings and run ids differ between runs by nature; everything else must be identical.
RUN_SPECIFIC_COLUMNS = {"started_at", "finished_at", "flow_run_id"}


def snapshot(warehouse: Path) -> dict[str, list[tuple]]:
    """Every table of the logs and meta schemas, sorted, without the run-specific ledger columns."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        tables = connection.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('logs', 'meta') and table_name <> 'schema_versions' order by all"
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
                if name not in RUN_SPECIFIC_COLUMNS
            ]
            column_list = ", ".join(f'"{name}"' for name in columns)
            result[f"{schema}.{table}"] = sorted(
                connection.execute(f'select {column_list} from "{schema}"."{table}"').fetchall(), key=repr
            )
    return result


def query(warehouse: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()
