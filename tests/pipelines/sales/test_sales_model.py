"""The sales star schema's rules on hand-built exports, with hand-computed expectations: SCD2 versions, inferred
customers, late and repeated order versions, line corrections, DECIMAL money and FX, and arrival order."""

import hashlib
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from sales_exports import customer, load_exports, mixed_exports, money_exports, write_export
from warehouse_snapshot import query, snapshot

BEGINNING = datetime(1900, 1, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def key(customer_id: str, version: int) -> str:
    return hashlib.md5(f"{customer_id}#{version}".encode()).hexdigest()


def dim_customer(warehouse: Path) -> list[tuple]:
    return query(
        warehouse,
        "select customer_key, customer_id, version, name, country, valid_from, valid_to, is_current, is_inferred, "
        "updated_at from sales.dim_customer order by customer_id, version",
    )


def test_a_changed_attribute_opens_a_version_and_an_identical_redelivery_does_not(tmp_path):
    exports = tmp_path / "exports"
    files = [
        write_export(exports, "customers_2026-10-01.csv", [customer("C1", "DE", "2026-10-01T00:00:00Z")]),
        # the same state again, later: nothing opens
        write_export(exports, "customers_2026-10-02.csv", [customer("C1", "de", "2026-10-02T00:00:00+00:00")]),
        write_export(exports, "customers_2026-10-03.csv", [customer("C1", "AT", "2026-10-03T02:00:00+02:00")]),
        # back to the first state: a change like any other
        write_export(exports, "customers_2026-10-04.csv", [customer("C1", "DE", "2026-10-04T00:00:00Z")]),
        # an older state delivered late slots in between the versions it falls between
        write_export(exports, "customers_2026-10-05.csv", [customer("C1", "FR", "2026-10-02T12:00:00Z")]),
    ]
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports(files, warehouse)

    assert dim_customer(warehouse) == [
        (
            key("C1", 1),
            "C1",
            1,
            "Alice",
            "DE",
            BEGINNING,
            utc("2026-10-02T12:00:00Z"),
            False,
            False,
            utc("2026-10-01T00:00:00Z"),
        ),
        (
            key("C1", 2),
            "C1",
            2,
            "Alice",
            "FR",
            utc("2026-10-02T12:00:00Z"),
            utc("2026-10-03T00:00:00Z"),
            False,
            False,
            utc("2026-10-02T12:00:00Z"),
        ),
        (
            key("C1", 3),
            "C1",
            3,
            "Alice",
            "AT",
            utc("2026-10-03T00:00:00Z"),
            utc("2026-10-04T00:00:00Z"),
            False,
            False,
            utc("2026-10-03T00:00:00Z"),
        ),
        (
            key("C1", 4),
            "C1",
            4,
            "Alice",
            "DE",
            utc("2026-10-04T00:00:00Z"),
            None,
            True,
            False,
            utc("2026-10-04T00:00:00Z"),
        ),
    ]


def test_orders_link_to_the_customer_version_valid_when_they_were_placed(tmp_path):
    exports = tmp_path / "exports"
    files = [
        write_export(exports, "customers_2026-10-01.csv", [customer("C1", "DE", "2026-10-01T00:00:00Z")]),
        write_export(exports, "customers_2026-10-03.csv", [customer("C1", "AT", "2026-10-03T00:00:00Z")]),
        write_export(
            exports,
            "orders_2026-10-03.csv",
            [
                ["before-any-state", "C1", "2026-09-15T12:00:00Z", "completed", "EUR", "2026-09-15T12:00:00Z"],
                ["while-de", "C1", "2026-10-02T23:59:59Z", "completed", "EUR", "2026-10-02T23:59:59Z"],
                # 01:00 at +02:00 is 23:00 UTC the day before: still the German version
                ["at-the-switch", "C1", "2026-10-03T02:00:00+02:00", "completed", "EUR", "2026-10-03T00:00:00Z"],
                ["while-at", "C1", "2026-10-03T00:00:01Z", "completed", "EUR", "2026-10-03T00:00:01Z"],
            ],
        ),
    ]
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports(files, warehouse)

    assert query(warehouse, "select order_id, customer_key, order_day from sales.fact_orders order by order_ts") == [
        ("before-any-state", key("C1", 1), date(2026, 9, 15)),
        ("while-de", key("C1", 1), date(2026, 10, 2)),
        ("at-the-switch", key("C1", 2), date(2026, 10, 3)),
        ("while-at", key("C1", 2), date(2026, 10, 3)),
    ]


def test_an_order_before_its_customer_gets_an_inferred_member_that_the_customer_completes(tmp_path):
    exports = tmp_path / "exports"
    orders = write_export(
        exports, "orders_2026-10-01.csv", [["O1", "C7", "2026-10-01T10:00:00Z", "paid", "USD", "2026-10-01T10:00:00Z"]]
    )
    customers = write_export(exports, "customers_2026-10-02.csv", [customer("C7", "GB", "2026-10-02T00:00:00Z", "Zoë")])
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports([orders], warehouse)
    inferred = dim_customer(warehouse)
    load_exports([customers], warehouse)

    assert inferred == [(key("C7", 1), "C7", 1, None, None, BEGINNING, None, True, True, None)]
    assert dim_customer(warehouse) == [
        (key("C7", 1), "C7", 1, "Zoë", "GB", BEGINNING, None, True, False, utc("2026-10-02T00:00:00Z"))
    ]
    assert query(warehouse, "select order_id, customer_key from sales.fact_orders") == [("O1", key("C7", 1))]


def test_the_newest_order_version_wins_and_a_late_older_one_never_overwrites_it(tmp_path):
    exports = tmp_path / "exports"
    files = [
        write_export(
            exports,
            "orders_2026-10-01.csv",
            [
                ["O1", "C1", "2026-10-01T10:00:00Z", "placed", "EUR", "2026-10-01T10:00:00Z"],
                ["O2", "C1", "2026-10-01T11:00:00Z", "placed", "EUR", "2026-10-01T11:00:00Z"],
            ],
        ),
        write_export(
            exports,
            "orders_2026-10-03.csv",
            [
                ["O1", "C1", "2026-10-01T10:00:00Z", "completed", "EUR", "2026-10-03T09:00:00Z"],
                ["O2", "C1", "2026-10-01T11:00:00Z", "shipped", "EUR", "2026-10-03T09:00:00Z"],
            ],
        ),
        write_export(
            exports,
            "orders_2026-10-05.csv",
            [
                # older than the version loaded before it: ignored
                ["O1", "C1", "2026-10-01T10:00:00Z", "paid", "EUR", "2026-10-02T09:00:00Z"],
                # the same updated_at as the 10-03 version: the later export wins the tie
                ["O2", "C1", "2026-10-01T11:00:00Z", "cancelled", "EUR", "2026-10-03T09:00:00Z"],
            ],
        ),
    ]
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports(files, warehouse)

    assert query(warehouse, "select order_id, status, updated_at from sales.fact_orders order by order_id") == [
        ("O1", "completed", utc("2026-10-03T09:00:00Z")),
        ("O2", "cancelled", utc("2026-10-03T09:00:00Z")),
    ]


def test_a_later_delivery_of_an_orders_lines_replaces_the_whole_set(tmp_path):
    exports = tmp_path / "exports"
    files = [
        write_export(
            exports,
            "orders_2026-10-01.csv",
            [["O1", "C1", "2026-10-01T10:00:00Z", "completed", "USD", "2026-10-01T10:00:00Z"]],
        ),
        write_export(
            exports,
            "order_lines_2026-10-01.csv",
            [["O1", "1", "A", "2", "10.00"], ["O1", "2", "B", "1", "5.50"], ["O2", "1", "C", "1", "1"]],
        ),
        # O1 corrected: line 1's quantity changes and line 2 is gone; O2's lines stay as first delivered
        write_export(exports, "order_lines_2026-10-02.csv", [["O1", "1", "A", "3", "10.00"]]),
    ]
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports(files, warehouse)

    assert query(
        warehouse, "select order_id, line_no, quantity, amount, order_day from sales.fact_order_lines order by all"
    ) == [("O1", 1, 3, Decimal("30.0000"), date(2026, 10, 1)), ("O2", 1, 1, Decimal("1.0000"), None)]
    assert query(warehouse, "select lines, items, amount, amount_usd from sales.fact_orders") == [
        (1, 3, Decimal("30.0000"), Decimal("30.00"))
    ]
    assert query(warehouse, "select lines_waiting_for_their_order from (" + MODEL_SUMMARY + ")") == [(1,)]


MODEL_SUMMARY = (Path(__file__).resolve().parents[3] / "tasks/pipelines/sales/sql/model_summary.sql").read_text()


def test_money_is_exact_decimal_converted_per_order_and_rounded_half_away_from_zero(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    load_exports(money_exports(tmp_path / "exports"), warehouse)

    assert query(warehouse, "select * from sales.daily_revenue order by day, currency") == [
        (date(2026, 10, 2), "EUR", 2, 4, Decimal("10.9999"), Decimal("1.0125"), Decimal("11.14")),
        (date(2026, 10, 3), "USD", 2, 2, Decimal("0.0100"), Decimal("1"), Decimal("0.02")),
        (date(2026, 10, 4), "EUR", 1, 2, Decimal("9.0000"), None, None),
    ]
    assert query(warehouse, "select * from sales.customer_lifetime order by customer_id") == [
        ("C1", date(2026, 10, 2), date(2026, 10, 2), 2, Decimal("11.14"), 0),
        ("C2", date(2026, 10, 3), date(2026, 10, 4), 3, None, 1),
    ]
    assert query(warehouse, "select * from sales.missing_fx_rates") == [
        (date(2026, 10, 4), "EUR", 1, Decimal("9.0000"))
    ]
    assert query(warehouse, "select typeof(revenue), typeof(revenue_usd) from sales.daily_revenue limit 1") == [
        ("DECIMAL(38,4)", "DECIMAL(38,2)")
    ]


def test_a_rate_arriving_later_fills_in_the_missing_usd_revenue(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(money_exports(tmp_path / "exports"), warehouse)

    late_rate = write_export(tmp_path / "exports", "fx_rates_2026-10-05.csv", [["2026-10-04", "EUR", "1.1"]])
    load_exports([late_rate], warehouse)

    assert query(warehouse, "select revenue_usd from sales.daily_revenue where day = '2026-10-04'") == [
        (Decimal("9.90"),)
    ]
    assert query(
        warehouse,
        "select lifetime_revenue_usd, orders_without_rate from sales.customer_lifetime where customer_id = 'C2'",
    ) == [(Decimal("9.92"), 0)]
    assert query(warehouse, "select count(*) from sales.missing_fx_rates") == [(0,)]


def test_the_order_in_which_files_arrive_does_not_change_the_warehouse(tmp_path):
    files = mixed_exports(tmp_path / "exports")
    all_at_once = tmp_path / "all-at-once.duckdb"
    load_exports(files, all_at_once)
    expected = snapshot(all_at_once, schemas=("sales",))
    orders = [list(reversed(files)), *(random.Random(seed).sample(files, len(files)) for seed in range(4))]

    for number, order in enumerate(orders):
        warehouse = tmp_path / f"one-by-one-{number}.duckdb"
        for path in order:
            load_exports([path], warehouse)
        assert snapshot(warehouse, schemas=("sales",)) == expected, [path.name for path in order]

    # and the expectations themselves, by hand: O1's newest version with the 10-03 lines, at 10-05's EUR rate
    assert query(
        all_at_once,
        "select order_id, customer_key, status, amount, amount_usd from sales.fact_orders order by order_id",
    ) == [
        ("O1", key("C1", 2), "completed", Decimal("4.4900"), Decimal("4.85")),  # 4.49 at 1.0805 = 4.851445
        ("O2", key("C3", 1), "shipped", Decimal("1200.0000"), Decimal("8.04")),  # the 3rd in UTC; 1200 at 0.0067
        ("O3", key("C4", 1), "completed", Decimal("1.0000"), Decimal("1.00")),
    ]
    assert query(
        all_at_once, "select customer_id, is_inferred from sales.dim_customer where version = 1 order by 1"
    ) == [("C1", False), ("C2", False), ("C3", False), ("C4", True)]


def test_loading_the_same_files_again_changes_nothing_and_a_corrected_file_replaces_its_rows(tmp_path):
    exports = tmp_path / "exports"
    files = mixed_exports(exports)
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(files, warehouse)
    first = snapshot(warehouse, schemas=("sales", "meta"))

    load_exports(files, warehouse)
    assert snapshot(warehouse, schemas=("sales", "meta")) == first

    write_export(
        exports,
        "orders_2026-10-04.csv",
        [["O3", "C4", "2026-10-02T12:00:00Z", "refunded", "USD", "2026-10-04T00:00:00Z"]],
    )
    load_exports([exports / "orders_2026-10-04.csv"], warehouse)

    assert query(warehouse, "select order_id, status from sales.fact_orders order by 1") == [
        ("O1", "completed"),
        ("O2", "shipped"),
        ("O3", "refunded"),
    ]
    assert query(warehouse, "select count(*) from sales.stg_orders where source like '%orders_2026-10-04.csv'") == [
        (1,)
    ]
