"""The star schema is refreshed for the keys the loads touched (tasks/pipelines/sales/sql/refresh_marts.sql), and
must come out as a rebuild from scratch would: after every refresh of a warehouse loaded in pieces (files in any
order, in several runs, re-delivered changed or emptied, loads whose refresh never ran), the sales tables equal those
that tests/support/sales_model_from_scratch.sql computes from the same staging rows, and at the end those of the
independent computation over the folder."""

import random
import shutil
from pathlib import Path

import duckdb
import pytest
from independent_sales import assert_sales_match_independent_computation
from sales_exports import HEADERS, customer, load_exports, mixed_exports, write_export
from warehouse_snapshot import query, snapshot

from tasks.core.batches import make_batch
from tasks.core.settings import staging_root_for
from tasks.core.staging import stage_batch
from tasks.pipelines.sales.source import SALES_EXPORTS
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import load_staged_batch

FROM_SCRATCH = Path(__file__).resolve().parents[2] / "support" / "sales_model_from_scratch.sql"
DERIVED = ("dim_customer", "fact_orders", "fact_order_lines", "fx_rates", "daily_revenue", "customer_lifetime")


def derived_tables(warehouse: Path) -> dict[str, list[tuple]]:
    tables = snapshot(warehouse, schemas=("sales",))
    return {name: rows for name, rows in tables.items() if name.split(".")[-1] in DERIVED}


def rebuilt_from_scratch(warehouse: Path, scratch: Path) -> dict[str, list[tuple]]:
    """The derived tables of a copy of `warehouse` rebuilt whole from its staging rows."""
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as connection:
        connection.execute(FROM_SCRATCH.read_text())
    return derived_tables(copy)


def assert_equals_a_rebuild_from_scratch(warehouse: Path, scratch: Path) -> None:
    refreshed, rebuilt = derived_tables(warehouse), rebuilt_from_scratch(warehouse, scratch)
    for table, rows in rebuilt.items():
        assert refreshed[table] == rows, table


def load_without_refresh(paths: list[Path], warehouse: Path) -> None:
    """Stage and load, but stop before the refresh: as a run killed between its loads and its refresh."""
    plan = SALES_EXPORTS.plan([make_batch(SALES_EXPORTS.pipeline, path) for path in paths])
    for batch, source_format, table in zip(plan.batches, plan.formats, plan.tables, strict=True):
        staged = stage_batch(batch, source_format, staging_root_for(warehouse), 1 << 20)
        with open_warehouse(warehouse) as connection:
            load_staged_batch(connection, staged, table, flow_run_id=None)


def dirty_days(warehouse: Path) -> int:
    return query(warehouse, "select count(*) from meta.dirty_partitions where pipeline = 'sales'")[0][0]


def test_files_loaded_one_run_at_a_time_in_any_order_equal_a_rebuild_after_every_run(tmp_path):
    files = mixed_exports(tmp_path / "exports")
    for seed in range(3):
        warehouse = tmp_path / f"order-{seed}" / "warehouse.duckdb"
        for step, path in enumerate(random.Random(seed).sample(files, len(files))):
            load_exports([path], warehouse)
            assert dirty_days(warehouse) == 0
            assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / f"scratch-{seed}-{step}")
        assert_sales_match_independent_computation(tmp_path / "exports", warehouse)


def test_a_late_customer_state_moves_orders_loaded_before_to_the_new_version(tmp_path):
    exports = tmp_path / "exports"
    warehouse = tmp_path / "warehouse.duckdb"
    orders = [
        ["O1", "C1", "2026-10-01T12:00:00Z", "completed", "USD", "2026-10-01T12:00:00Z"],
        ["O2", "C1", "2026-10-03T12:00:00Z", "completed", "USD", "2026-10-03T12:00:00Z"],
        ["O3", "C2", "2026-10-03T12:00:00Z", "completed", "USD", "2026-10-03T12:00:00Z"],
    ]
    load_exports(
        [
            write_export(exports, "customers_2026-10-01.csv", [customer("C1", "DE", "2026-10-01T00:00:00Z")]),
            write_export(exports, "orders_2026-10-03.csv", orders),
            write_export(exports, "order_lines_2026-10-03.csv", [["O1", "1", "A", "1", "2.00"]]),
        ],
        warehouse,
    )
    keys_before = query(warehouse, "select order_id, customer_key from sales.fact_orders order by 1")

    # a later export brings C1's move on 10-02 (O2 now belongs to version 2) and C2, inferred until now
    load_exports(
        [
            write_export(
                exports,
                "customers_2026-10-05.csv",
                [customer("C1", "AT", "2026-10-02T00:00:00Z"), customer("C2", "FR", "2026-09-01T00:00:00Z")],
            )
        ],
        warehouse,
    )

    keys_after = query(warehouse, "select order_id, customer_key from sales.fact_orders order by 1")
    assert keys_after[0] == keys_before[0] and keys_after[1] != keys_before[1]
    assert query(warehouse, "select customer_id, version, is_inferred from sales.dim_customer order by 1, 2") == [
        ("C1", 1, False),
        ("C1", 2, False),
        ("C2", 1, False),
    ]
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch")
    assert_sales_match_independent_computation(exports, warehouse)


def test_a_redelivered_file_that_drops_rows_takes_them_out_of_the_star_schema(tmp_path):
    exports = tmp_path / "exports"
    warehouse = tmp_path / "warehouse.duckdb"
    files = mixed_exports(exports)
    load_exports(files, warehouse)

    # C1's 10-03 state goes; C3 and the O2 lines of 10-02 go; the EUR rate of 10-02 from fx_rates_2026-10-05 goes
    write_export(exports, "customers_2026-10-03.csv", [customer("C9", "JP", "2026-10-03T00:00:00Z")])
    write_export(exports, "order_lines_2026-10-02.csv", [["O3", "1", "C", "4", "0.25"]])
    write_export(exports, "fx_rates_2026-10-05.csv", [])
    # O3 (the only order of inferred C4) goes with a header-only orders file: C4 goes too
    write_export(
        exports,
        "orders_2026-10-02.csv",
        [
            ["O1", "C1", "2026-10-02T10:00:00Z", "placed", "EUR", "2026-10-02T10:00:00Z"],
            ["O2", "C3", "2026-10-02T23:30:00-02:00", "paid", "JPY", "2026-10-02T10:00:00Z"],
        ],
    )
    for name in ("customers_2026-10-03.csv", "order_lines_2026-10-02.csv", "fx_rates_2026-10-05.csv"):
        load_exports([exports / name], warehouse)
        assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / f"scratch-{name}")
    load_exports([exports / "orders_2026-10-02.csv"], warehouse)

    assert query(warehouse, "select order_id from sales.fact_orders order by 1") == [("O1",), ("O2",)]
    assert query(warehouse, "select count(*) from sales.dim_customer where customer_id = 'C4'") == [(0,)]
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch")
    assert_sales_match_independent_computation(exports, warehouse)


def test_a_removed_state_uncovers_another_of_the_same_instant_from_another_export_day(tmp_path):
    exports = tmp_path / "exports"
    warehouse = tmp_path / "warehouse.duckdb"
    first = customer("C1", "DE", "2026-10-01T00:00:00Z")
    # the same instant in two files: the later export wins, and as it equals the state before, opens nothing
    load_exports(
        [
            write_export(exports, "customers_2026-10-01.csv", [first]),
            write_export(exports, "customers_2026-10-02.csv", [customer("C1", "AT", "2026-10-02T00:00:00Z")]),
            write_export(exports, "customers_2026-10-05.csv", [customer("C1", "DE", "2026-10-02T00:00:00Z")]),
        ],
        warehouse,
    )
    assert query(warehouse, "select count(*) from sales.dim_customer") == [(1,)]

    load_exports([write_export(exports, "customers_2026-10-05.csv", [])], warehouse)

    assert query(warehouse, "select country from sales.dim_customer order by version") == [("DE",), ("AT",)]
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch")


def test_loads_whose_refresh_never_ran_are_caught_up_by_the_next_refresh(tmp_path):
    exports = tmp_path / "exports"
    files = mixed_exports(exports)
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(files[:3], warehouse)

    load_without_refresh(files[3:7], warehouse)  # killed before its refresh
    assert dirty_days(warehouse) > 0
    load_exports(files[7:], warehouse)

    assert dirty_days(warehouse) == 0
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch")
    assert_sales_match_independent_computation(exports, warehouse)


CUSTOMERS = ("C1", "C2", "C3", "C4")
ORDERS = ("O1", "O2", "O3", "O4", "O5", "O6")
DAYS = ("2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04")


def random_rows(kind: str, rng: random.Random) -> list[list[str]]:
    """A few rows of `kind` over a handful of keys and instants, so that deliveries collide often."""
    moments = [f"{day}T{hour}:00:00Z" for day in DAYS for hour in ("06", "18")]
    if kind == "customers":
        chosen = rng.sample(CUSTOMERS, rng.randint(0, 3))
        return [customer(c, rng.choice(("DE", "AT")), rng.choice(moments), rng.choice(("Al", "Bo"))) for c in chosen]
    if kind == "orders":
        chosen = rng.sample(ORDERS, rng.randint(0, 4))
        return [
            [
                order,
                rng.choice(CUSTOMERS),
                rng.choice(moments),
                rng.choice(("paid", "completed", "shipped")),
                rng.choice(("EUR", "USD")),
                rng.choice(moments),
            ]
            for order in chosen
        ]
    if kind == "order_lines":
        chosen = rng.sample(ORDERS, rng.randint(0, 3))
        return [
            [order, str(line), "SKU", str(rng.randint(1, 3)), f"{rng.randint(1, 999) / 100:.2f}"]
            for order in chosen
            for line in range(1, rng.randint(1, 3) + 1)
        ]
    days = rng.sample(DAYS, rng.randint(0, 3))
    return [[day, "EUR", f"1.{rng.randint(0, 99):02d}"] for day in days]


@pytest.mark.parametrize("seed", range(4), ids=lambda seed: f"seed-{seed}")
def test_random_deliveries_redeliveries_and_interrupted_runs_equal_a_rebuild_after_every_refresh(tmp_path, seed):
    rng = random.Random(seed)
    exports = tmp_path / "exports"
    warehouse = tmp_path / "warehouse.duckdb"
    for step in range(14):
        # a new file or a changed re-delivery of one loaded before: a kind and an export day, new rows
        kind, day = rng.choice(sorted(HEADERS)), rng.choice(DAYS)
        path = write_export(exports, f"{kind}_{day}.csv", random_rows(kind, rng))
        if rng.random() < 0.25:
            load_without_refresh([path], warehouse)
            continue
        load_exports([path], warehouse)
        assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / f"scratch-{step}")
    load_exports(sorted(exports.iterdir()), warehouse)  # whatever is pending, and a refresh
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch-end")
    assert_sales_match_independent_computation(exports, warehouse)


def test_a_warehouse_from_before_the_incremental_refresh_is_migrated_and_rebuilt_whole(tmp_path):
    exports = tmp_path / "exports"
    files = mixed_exports(exports)
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(files[:6], warehouse)
    # back to the schema before migration 002: no export days on the facts, no customer deliveries
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("alter table sales.fact_orders drop column export_date")
        connection.execute("alter table sales.fact_order_lines drop column export_date")
        connection.execute("drop table sales.customer_deliveries")
        connection.execute("delete from meta.schema_versions where component = 'sales' and version = 2")

    load_exports(files[6:], warehouse)

    assert query(warehouse, "select count(*) from sales.fact_orders where export_date is null") == [(0,)]
    assert_equals_a_rebuild_from_scratch(warehouse, tmp_path / "scratch")
    assert_sales_match_independent_computation(exports, warehouse)
