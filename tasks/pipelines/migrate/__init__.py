"""Migrate: copy the tables of another database (SQLite, PostgreSQL, DuckDB) into the warehouse, resumable and
verified."""
