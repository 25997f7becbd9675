"""Every default batchyard uses, in one place; environment variables override the deployment-wide ones."""

import hashlib
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"

DEFAULT_WAREHOUSE = Path(os.environ.get("BATCHYARD_WAREHOUSE", DATA_DIR / "warehouse.duckdb"))
SAMPLE_ACCESS_LOGS = DATA_DIR / "sample_logs"
SAMPLE_CORPUS = DATA_DIR / "sample_corpus"
SAMPLE_SALES = DATA_DIR / "sample_sales"
SAMPLE_BILLING = DATA_DIR / "sample_billing"
INVOICES = Path(os.environ.get("BATCHYARD_INVOICES", DATA_DIR / "invoices"))
REPORTS = Path(os.environ.get("BATCHYARD_REPORTS", DATA_DIR / "reports"))
LANDING = Path(os.environ.get("BATCHYARD_LANDING", DATA_DIR / "landing"))

# The Prefect global concurrency limit (of one slot) that runs queue on for their load phase when a Prefect server
# is configured; created on first use; empty: none. The file lock beside the database applies underneath it.
WAREHOUSE_WRITE_LIMIT = os.environ.get("BATCHYARD_WAREHOUSE_WRITE_LIMIT", "batchyard-warehouse-writes")

# Bytes of input text parsed at once. Peak memory is a small multiple of this (the text, its lines as a column,
# the parsed columns) per worker thread, and does not depend on the size of the input file.
CHUNK_BYTES = int(os.environ.get("BATCHYARD_CHUNK_BYTES", 16 * 1024 * 1024))

# A line longer than this is not held in memory: it becomes one reject (its position, its start and a reason), so
# memory stays bounded by CHUNK_BYTES whatever a file holds. Well below CHUNK_BYTES; longer than any sane log line.
MAX_LINE_BYTES = int(os.environ.get("BATCHYARD_MAX_LINE_BYTES", 1024 * 1024))

# A client's requests belong to one session while no gap between two of them is longer than this.
SESSION_GAP_MINUTES = int(os.environ.get("BATCHYARD_SESSION_GAP_MINUTES", 30))
# Values the marts' SQL may name as $parameters; a run can override them (e.g. the access-logs flow's session gap).
MART_SETTINGS = {"session_gap_minutes": SESSION_GAP_MINUTES}

# A batch rejecting more than this share of its rows (rejected / in) still loads, with its rejects quarantined, but
# fails its run and raises an alert event; each flow takes it as its `max_reject_rate` parameter.
MAX_REJECT_RATE = float(os.environ.get("BATCHYARD_MAX_REJECT_RATE", 0.05))

# DuckDB's own default is 80% of RAM, which a bulk insert happily fills; loads stream from Parquet and need little.
WAREHOUSE_MEMORY_LIMIT = os.environ.get("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "384MB")

# Chunks parsed at once in a process, whatever their batches: parsing is CPU-bound and each chunk holds memory.
PARSE_WORKERS = int(os.environ.get("BATCHYARD_PARSE_WORKERS", os.cpu_count() or 2))

# Task threads of a flow. More than PARSE_WORKERS so that a load waiting for the warehouse lock, or a batch
# waiting for a parse slot, never keeps another batch from starting; capped because Prefect's default is not.
TASK_THREADS = int(os.environ.get("BATCHYARD_TASK_THREADS", 2 * PARSE_WORKERS))


# Input splits of one map task in a MapReduce job: the unit of parallel work (files larger than this are cut at
# line boundaries), and the work one retry redoes. Memory per map is bounded by CHUNK_BYTES, not this.
SPLIT_BYTES = int(os.environ.get("BATCHYARD_SPLIT_BYTES", 64 * 1024 * 1024))
# Reduce partitions (and tasks) of a MapReduce job.
REDUCERS = int(os.environ.get("BATCHYARD_REDUCERS", 4))

# Where staging, spill and reduce files go; by default beside the warehouse. On a Dask cluster of several machines,
# a folder every worker reaches at the same path.
STAGING = os.environ.get("BATCHYARD_STAGING")

# Tasks run on a Dask cluster: at this scheduler address, or else on a local cluster of this many worker processes;
# with neither, on threads in the flow's process.
DASK_ADDRESS = os.environ.get("BATCHYARD_DASK_ADDRESS") or None
DASK_WORKERS = int(os.environ.get("BATCHYARD_DASK_WORKERS", 0))


def staging_root_for(warehouse: Path) -> Path:
    """Staging lives beside the warehouse it feeds, so two warehouses never share checkpoints, unless BATCHYARD_STAGING
    names a shared folder (then one folder per warehouse inside it)."""
    if STAGING:
        return Path(STAGING) / hashlib.sha256(str(warehouse.resolve()).encode()).hexdigest()[:12]
    return warehouse.parent / "staging"


# Migration (flows/migrate.py): the bundled operational database it copies by default, and the rows read from the
# source, converted and committed with their checkpoint at once. Memory is a small multiple of one batch; a killed
# run redoes at most one batch per table.
SAMPLE_SHOP = DATA_DIR / "sample_shop.sqlite"
MIGRATION_BATCH_ROWS = int(os.environ.get("BATCHYARD_MIGRATION_BATCH_ROWS", 50_000))
