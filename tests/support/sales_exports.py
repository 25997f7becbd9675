"""Writing tiny export files, and loading them the way the flows do but without a Prefect server."""

import csv
from pathlib import Path

from tasks.core.batches import make_batch
from tasks.core.settings import staging_root_for
from tasks.core.staging import stage_batch
from tasks.kit.exports import ExportFamily
from tasks.pipelines.sales.source import SALES_EXPORTS
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import load_staged_batch, refresh_marts

HEADERS = {
    "customers": ["customer_id", "name", "email", "country", "segment", "updated_at"],
    "orders": ["order_id", "customer_id", "order_ts", "status", "currency", "updated_at"],
    "order_lines": ["order_id", "line_no", "sku", "quantity", "unit_price"],
    "fx_rates": ["day", "currency", "rate_to_usd"],
}


def write_export(folder: Path, name: str, rows: list[list[str]], header: list[str] | None = None) -> Path:
    """An export file `name` with `header`, by default the header of the sales kind its name starts with."""
    if header is None:
        header = next(HEADERS[kind] for kind in sorted(HEADERS, key=len, reverse=True) if name.startswith(f"{kind}_"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def load_exports(
    paths: list[Path], warehouse: Path, chunk_bytes: int = 1 << 20, family: ExportFamily = SALES_EXPORTS
) -> None:
    """Stage and load `paths` in this order, each in its own transaction, then rebuild the pipeline's marts (the
    sales star schema, billing's usage_daily): what one flow run does, without Prefect."""
    plan = family.plan([make_batch(family.pipeline, path) for path in paths])
    staging_root = staging_root_for(warehouse)
    for batch, source_format, table in zip(plan.batches, plan.formats, plan.tables, strict=True):
        staged = stage_batch(batch, source_format, staging_root, chunk_bytes)
        assert staged.error is None, staged.error
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, table, flow_run_id=None)
    with open_warehouse(warehouse) as connection:
        refresh_marts(connection, family.pipeline)


def customer(customer_id: str, country: str, updated_at: str, name: str = "Alice") -> list[str]:
    return [customer_id, name, f"{customer_id.lower()}@example.com", country, "consumer", updated_at]


def mixed_exports(folder: Path) -> list[Path]:
    """Files whose outcome depends on the rules, not on when each arrived."""
    return [
        write_export(
            folder,
            "customers_2026-10-01.csv",
            [customer("C1", "DE", "2026-10-01T00:00:00Z"), customer("C2", "US", "2026-10-01T00:00:00Z")],
        ),
        write_export(
            folder,
            "customers_2026-10-03.csv",
            [customer("C1", "AT", "2026-10-03T00:00:00Z"), customer("C3", "JP", "2026-10-03T00:00:00Z")],
        ),
        write_export(folder, "customers_2026-10-04.csv", [customer("C1", "FR", "2026-10-02T00:00:00Z")]),
        write_export(
            folder,
            "orders_2026-10-02.csv",
            [
                ["O1", "C1", "2026-10-02T10:00:00Z", "placed", "EUR", "2026-10-02T10:00:00Z"],
                ["O2", "C3", "2026-10-02T23:30:00-02:00", "paid", "JPY", "2026-10-02T10:00:00Z"],
                ["O3", "C4", "2026-10-02T12:00:00Z", "completed", "USD", "2026-10-02T12:00:00Z"],
            ],
        ),
        write_export(
            folder,
            "orders_2026-10-03.csv",
            [
                ["O1", "C1", "2026-10-02T10:00:00Z", "completed", "EUR", "2026-10-03T10:00:00Z"],
                ["O2", "C3", "2026-10-02T23:30:00-02:00", "shipped", "JPY", "2026-10-03T10:00:00Z"],
            ],
        ),
        write_export(
            folder,
            "orders_2026-10-04.csv",
            [["O1", "C1", "2026-10-02T10:00:00Z", "paid", "EUR", "2026-10-02T11:00:00Z"]],
        ),
        write_export(
            folder,
            "order_lines_2026-10-02.csv",
            [["O1", "1", "A", "2", "3.50"], ["O2", "1", "B", "1", "1200"], ["O3", "1", "C", "4", "0.25"]],
        ),
        write_export(
            folder, "order_lines_2026-10-03.csv", [["O1", "1", "A", "1", "3.50"], ["O1", "2", "B", "1", "0.99"]]
        ),
        write_export(
            folder, "fx_rates_2026-10-02.csv", [["2026-10-02", "EUR", "1.08"], ["2026-10-03", "JPY", "0.0067"]]
        ),
        write_export(folder, "fx_rates_2026-10-05.csv", [["2026-10-02", "EUR", "1.0805"]]),
    ]


def money_exports(folder: Path) -> list[Path]:
    """Orders whose USD amounts hit the half-way cases, a day without a EUR rate, and statuses without revenue."""
    return [
        write_export(
            folder,
            "orders_2026-10-02.csv",
            [
                ["E1", "C1", "2026-10-02T09:00:00Z", "completed", "EUR", "2026-10-02T09:00:00Z"],
                ["E2", "C1", "2026-10-02T10:00:00Z", "shipped", "EUR", "2026-10-02T10:00:00Z"],
                ["E3", "C2", "2026-10-02T11:00:00Z", "cancelled", "EUR", "2026-10-02T11:00:00Z"],
                ["U1", "C2", "2026-10-03T09:00:00Z", "completed", "USD", "2026-10-03T09:00:00Z"],
                ["U2", "C2", "2026-10-03T10:00:00Z", "completed", "usd", "2026-10-03T10:00:00Z"],
                ["U3", "C2", "2026-10-03T11:00:00Z", "placed", "USD", "2026-10-03T11:00:00Z"],
                ["E4", "C2", "2026-10-04T11:00:00Z", "completed", "EUR", "2026-10-04T11:00:00Z"],
            ],
        ),
        write_export(
            folder,
            "order_lines_2026-10-02.csv",
            [
                ["E1", "1", "A", "1", "10.00"],  # 10.00 at 1.0125 = 10.125 -> 10.13 (half away from zero)
                ["E2", "1", "B", "3", "0.3333"],  # 0.9999 at 1.0125 = 1.01239875 -> 1.01
                ["E3", "1", "C", "1", "99"],
                ["U1", "1", "D", "1", "0.0050"],  # 0.005 -> 0.01: each order is rounded, then summed
                ["U2", "1", "D", "1", "0.0050"],
                ["U3", "1", "E", "7", "1"],
                ["E4", "1", "F", "2", "4.5"],
            ],
        ),
        write_export(folder, "fx_rates_2026-10-02.csv", [["2026-10-02", "EUR", "1.0125"], ["2026-10-03", "USD", "1"]]),
    ]
