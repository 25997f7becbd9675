"""Writing tiny sales export files, and loading them the way the flow does but without a Prefect server."""

import csv
from pathlib import Path

from tasks.batches import make_batch
from tasks.sales import PIPELINE, plan_exports
from tasks.settings import staging_root_for
from tasks.staging import stage_batch
from tasks.warehouse import load_staged_batch, open_warehouse, refresh_marts

HEADERS = {
    "customers": ["customer_id", "name", "email", "country", "segment", "updated_at"],
    "orders": ["order_id", "customer_id", "order_ts", "status", "currency", "updated_at"],
    "order_lines": ["order_id", "line_no", "sku", "quantity", "unit_price"],
    "fx_rates": ["day", "currency", "rate_to_usd"],
}


def write_export(folder: Path, name: str, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """An export file `name` (its kind from the name) with the kind's header, or `header`."""
    kind = next(kind for kind in sorted(HEADERS, key=len, reverse=True) if name.startswith(f"{kind}_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header or HEADERS[kind])
        writer.writerows(rows)
    return path


def load_exports(paths: list[Path], warehouse: Path, chunk_bytes: int = 1 << 20) -> None:
    """Stage and load `paths` in this order, each in its own transaction, then rebuild the star schema: what one
    flow run does, without Prefect."""
    plan = plan_exports([make_batch(PIPELINE, path) for path in paths])
    staging_root = staging_root_for(warehouse)
    for batch, source_format, table in zip(plan.batches, plan.formats, plan.tables, strict=True):
        staged = stage_batch(batch, source_format, staging_root, chunk_bytes)
        assert staged.error is None, staged.error
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, table, flow_run_id=None)
    with open_warehouse(warehouse) as connection:
        refresh_marts(connection, PIPELINE)
