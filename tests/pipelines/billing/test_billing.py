"""Billing by hand: invoices computed on paper for tiers, proration on a plan change, minor units and half-way
rounding, zero usage, duplicate events and exceptions; and the file-level rules with their reasons."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
from sales_exports import load_exports, write_export
from warehouse_snapshot import query

from tasks.core.batches import make_batch
from tasks.core.staging import stage_batch
from tasks.pipelines.billing.invoicing import issue_invoices, parse_period
from tasks.pipelines.billing.source import BILLING_EXPORTS, PIPELINE
from tasks.warehouse.connection import open_warehouse

PLANS = ["plan_id", "currency", "base_fee", "metric", "included", "up_to", "unit_price"]
SUBSCRIPTIONS = ["customer_id", "plan_id", "start_date", "end_date"]
USAGE = ["event_id", "customer_id", "metric", "quantity", "ts"]


def hand_built_month(folder: Path) -> list[Path]:
    return [
        write_export(
            folder,
            "plans_2026-09-01.csv",
            [
                ["pro", "USD", "31.00", "api_calls", "1000", "10000", "0.01"],
                ["pro", "USD", "31.00", "api_calls", "1000", "", "0.005"],
                ["basic", "USD", "10.00", "", "", "", ""],
                ["jp", "JPY", "3100", "api_calls", "0", "", "0.5"],
                ["kw", "KWD", "0.0465", "", "", "", ""],
            ],
            header=PLANS,
        ),
        write_export(
            folder,
            "subscriptions_2026-10-01.csv",
            [
                ["c1", "pro", "2026-01-01", ""],
                ["c2", "basic", "2026-01-01", "2026-10-14"],  # then pro from the 15th: both prorated
                ["c2", "pro", "2026-10-15", ""],
                ["c3", "jp", "2026-10-10", ""],
                ["c4", "kw", "2026-10-01", "2026-10-01"],  # one day, no usage
            ],
            header=SUBSCRIPTIONS,
        ),
        write_export(
            folder,
            "usage_2026-10-31.csv",
            [
                ["e1", "c1", "api_calls", "15000", "2026-10-05T10:00:00Z"],
                ["e1", "c1", "api_calls", "15000", "2026-10-05T10:00:00Z"],  # delivered twice: counts once
                ["e2", "c2", "api_calls", "500", "2026-10-20T10:00:00Z"],
                ["e3", "c3", "api_calls", "3", "2026-10-20T10:00:00+09:00"],
                ["e4", "c9", "api_calls", "3", "2026-10-20T10:00:00Z"],  # no subscription
                ["e5", "c1", "storage_gb", "3", "2026-10-20T10:00:00Z"],  # a metric pro does not price
                ["e6", "c2", "api_calls", "100", "2026-10-01T01:00:00+03:00"],  # 30 September in UTC: not October
            ],
            header=USAGE,
        ),
    ]


def test_invoices_computed_by_hand(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(hand_built_month(tmp_path / "landing"), warehouse, family=BILLING_EXPORTS)

    with open_warehouse(warehouse) as connection:
        invoicing = issue_invoices(connection, parse_period("2026-10"), datetime.now(UTC), None)

    assert [(invoice.invoice_id, invoice.customer_id, invoice.total) for invoice in invoicing.issued] == [
        ("INV-202610-000001", "c1", Decimal("151.000")),  # 31 + 9000 × 0.01 ... see the lines
        ("INV-202610-000002", "c2", Decimal("21.520")),
        ("INV-202610-000003", "c3", Decimal("2202.000")),
        ("INV-202610-000004", "c4", Decimal("0.002")),
    ]
    assert query(
        warehouse,
        "select invoice_id, line_no, kind, description, quantity, unit_price, amount from billing.invoice_lines "
        "order by invoice_id, line_no",
    ) == [
        # 15000 used, 1000 included: 14000 billable, 10000 in tier 1 and 4000 in tier 2
        (
            "INV-202610-000001",
            1,
            "base_fee",
            "base fee, plan pro, 2026-10-01 to 2026-10-31 (31/31 days)",
            None,
            Decimal("31"),
            Decimal("31"),
        ),
        (
            "INV-202610-000001",
            2,
            "usage",
            "api_calls, plan pro, tier 1 (0 to 10000)",
            Decimal("10000"),
            Decimal("0.01"),
            Decimal("100"),
        ),
        (
            "INV-202610-000001",
            3,
            "usage",
            "api_calls, plan pro, tier 2 (over 10000)",
            Decimal("4000"),
            Decimal("0.005"),
            Decimal("20"),
        ),
        # 10.00 × 14/31 = 4.516... → 4.52; 31.00 × 17/31 = 17.00; 500 calls within the 1000 included
        (
            "INV-202610-000002",
            1,
            "base_fee",
            "base fee, plan basic, 2026-10-01 to 2026-10-14 (14/31 days)",
            None,
            Decimal("10"),
            Decimal("4.52"),
        ),
        (
            "INV-202610-000002",
            2,
            "base_fee",
            "base fee, plan pro, 2026-10-15 to 2026-10-31 (17/31 days)",
            None,
            Decimal("31"),
            Decimal("17"),
        ),
        ("INV-202610-000002", 3, "usage", "api_calls included in plan pro", Decimal("500"), None, Decimal("0")),
        # JPY has no minor unit: 3100 × 22/31 = 2200; 3 × 0.5 = 1.5 → 2 (half away from zero)
        (
            "INV-202610-000003",
            1,
            "base_fee",
            "base fee, plan jp, 2026-10-10 to 2026-10-31 (22/31 days)",
            None,
            Decimal("3100"),
            Decimal("2200"),
        ),
        (
            "INV-202610-000003",
            2,
            "usage",
            "api_calls, plan jp, tier 1 (over 0)",
            Decimal("3"),
            Decimal("0.5"),
            Decimal("2"),
        ),
        # KWD has three decimals: 0.0465 × 1/31 = 0.0015 → 0.002; no usage, still the base fee
        (
            "INV-202610-000004",
            1,
            "base_fee",
            "base fee, plan kw, 2026-10-01 to 2026-10-01 (1/31 days)",
            None,
            Decimal("0.0465"),
            Decimal("0.002"),
        ),
    ]
    assert query(warehouse, "select customer_id, event_id, reason from billing.exceptions order by all") == [
        ("c1", "e5", "plan pro does not price storage_gb"),
        ("c9", "e4", "no active subscription on 2026-10-20"),
    ]
    assert query(warehouse, "select line_number, reason from meta.rejects") == [(3, "event_id 'e1' already on line 2")]


def stage(path: Path, tmp_path: Path) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    batch = make_batch(PIPELINE, path)
    staged = stage_batch(
        batch, BILLING_EXPORTS.formats[BILLING_EXPORTS.kind_of(path).name], tmp_path / "staging", 1 << 20
    )
    rejects = pl.read_parquet(staged.reject_files).sort("line_number")
    return pl.read_parquet(staged.row_files), [(row["line_number"], row["reason"]) for row in rejects.to_dicts()]


def test_a_plan_is_loaded_whole_or_not_at_all(tmp_path):
    path = write_export(
        tmp_path,
        "plans_2026-10-01.csv",
        [
            ["ok", "EUR", "10", "calls", "0", "100", "0.1"],
            ["ok", "EUR", "10", "calls", "0", "", "0.05"],
            ["bad_price", "EUR", "10", "calls", "0", "100", "-1"],
            ["bad_price", "EUR", "10", "calls", "0", "", "0.05"],
            ["two_open", "EUR", "10", "calls", "0", "", "0.1"],
            ["two_open", "EUR", "10", "calls", "0", "", "0.05"],
            ["falling", "EUR", "10", "calls", "0", "100", "0.1"],
            ["falling", "EUR", "10", "calls", "0", "50", "0.05"],
            ["falling", "EUR", "10", "calls", "0", "", "0.01"],
            ["two_fees", "EUR", "10", "", "", "", ""],
            ["two_fees", "EUR", "12", "", "", "", ""],
        ],
        header=PLANS,
    )

    rows, rejects = stage(path, tmp_path)

    assert rows.get_column("plan_id").unique().to_list() == ["ok"]
    assert rejects == [
        (4, "unit_price: '-1' must not be negative"),
        (5, "plan_id 'bad_price' has a rejected row (line 4): none of its rows load"),
        (6, "plan 'two_open' needs exactly one open-ended tier (empty up_to) for calls"),
        (7, "plan 'two_open' needs exactly one open-ended tier (empty up_to) for calls"),
        (8, "plan 'falling' needs rising up_to bounds, the open-ended tier last, for calls"),
        (9, "plan 'falling' needs rising up_to bounds, the open-ended tier last, for calls"),
        (10, "plan 'falling' needs rising up_to bounds, the open-ended tier last, for calls"),
        (11, "plan 'two_fees' has more than one base_fee; has more than one row without a metric"),
        (12, "plan 'two_fees' has more than one base_fee; has more than one row without a metric"),
    ]


def test_a_customer_with_overlapping_subscriptions_is_rejected_whole(tmp_path):
    path = write_export(
        tmp_path,
        "subscriptions_2026-10-01.csv",
        [
            ["a", "pro", "2026-01-01", "2026-10-15"],
            ["a", "basic", "2026-10-15", ""],  # starts on the day the other ends: both active on the 15th
            ["b", "pro", "2026-01-01", "2026-10-14"],
            ["b", "basic", "2026-10-15", ""],
            ["c", "pro", "2026-10-20", "2026-10-19"],
        ],
        header=SUBSCRIPTIONS,
    )

    rows, rejects = stage(path, tmp_path)

    assert rows.get_column("customer_id").to_list() == ["b", "b"]
    assert rejects == [
        (2, "customer 'a' has overlapping subscriptions (lines 2, 3)"),
        (3, "customer 'a' has overlapping subscriptions (lines 2, 3)"),
        (6, "end_date '2026-10-19' is before start_date '2026-10-20'"),
    ]
