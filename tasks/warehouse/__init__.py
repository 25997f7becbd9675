"""The warehouse layer: the DuckDB file, its lock and schema (connection), loads and the ledger (loads), and run
records (runs). It imports core and no pipeline: pipelines' SQL folders are found on disk."""
