"""The one way an identifier reaches SQL (tests/test_sql_identifiers.py searches the code for any other)."""


def quote_identifier(name: str) -> str:
    """An identifier for SQL (SQLite, PostgreSQL and DuckDB agree): double-quoted, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'
