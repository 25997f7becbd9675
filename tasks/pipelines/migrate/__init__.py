"""Migrate: copy the tables of another database (SQLite, PostgreSQL, DuckDB) into the warehouse, resumable and
verified."""

from tasks.core.settings import DATA_DIR

SAMPLE = DATA_DIR / "sample_shop.sqlite"  # the bundled sample database: the flow's default source
