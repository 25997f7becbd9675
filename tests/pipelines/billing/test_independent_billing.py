"""Checks of the independent billing reference (tests/support/independent_billing.py) on hand-written landing folders, and
of the billing data generator (data/generate_billing.py).

Every expected invoice below was worked out by hand from the files and the spec (the arithmetic is in the comments),
not by running the code.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

try:
    import independent_billing as reference
except ImportError:  # tests/ became a package
    from tests import independent_billing as reference

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE = PROJECT_ROOT / "data" / "sample_billing"
PLANS = "plan_id,currency,base_fee,metric,included,up_to,unit_price"
SUBSCRIPTIONS = "customer_id,plan_id,start_date,end_date"
USAGE = "event_id,customer_id,metric,quantity,ts"
D = Decimal


def write(folder: Path, name: str, *lines: str) -> Path:
    """A CSV file from its lines (header first); gzipped for .gz names."""
    folder.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode()
    path = folder / name
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


def lines_of(expected: dict, invoice_id: str) -> list[tuple]:
    """An invoice's lines without the invoice_id, in line_no order."""
    return [row[1:] for row in expected["invoice_lines"] if row[0] == invoice_id]


def invoice(expected: dict, invoice_id: str) -> tuple:
    return next(row for row in expected["invoices"] if row[0] == invoice_id)


def reasons_of(folder: Path, name: str) -> list[tuple[int, str]]:
    return [(line, reason) for line, reason, _ in reference.read_billing_file(folder / name).rejects]


def base(plan: str, start: str, end: str, days: int, month: int, fee: str, amount: str, period="2026-10") -> tuple:
    description = f"base fee, plan {plan}, {start} to {end} ({days}/{month} days)"
    return ("base_fee", None, description, None, D(fee), D(amount), period)


def tier(metric, plan, number, bounds, quantity, price, amount, period="2026-10") -> tuple:
    description = f"{metric}, plan {plan}, tier {number} ({bounds})"
    return ("usage", metric, description, D(quantity), D(price), D(amount), period)


def included(metric: str, plan: str, quantity: str, period="2026-10") -> tuple:
    return ("usage", metric, f"{metric} included in plan {plan}", D(quantity), None, D(0), period)


# ---------------------------------------------------------------------------------------------- invoices


def test_graduated_tiers_apply_to_the_quantity_above_the_included_one(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS,
          "pro,USD,49,api_calls,1000,10000,0.01",
          "pro,USD,49,api_calls,1000,,0.005",
          "pro,USD,49,storage_gb,,100,0.1",
          "pro,USD,49,storage_gb,,200,0.05",
          "pro,USD,49,storage_gb,,,0.02")  # fmt: skip
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS, "C1,pro,2026-01-01,", "C2,pro,2026-01-01,")
    write(tmp_path, "usage_2026-10-05.csv", USAGE,
          "e1,C1,api_calls,9000,2026-10-05T10:00:00Z",
          "e2,C1,api_calls,6000,2026-10-06T10:00:00Z",
          "e3,C1,storage_gb,250.5,2026-10-07T10:00:00Z",
          "e4,C2,api_calls,799.5,2026-10-07T10:00:00Z",
          "e5,C2,api_calls,0.5,2026-10-08T10:00:00Z")  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    # api_calls: Q = 15000, B = 15000 - 1000 = 14000 -> 10000 × 0.01 = 100.00 and 4000 × 0.005 = 20.00.
    # storage_gb: B = 250.5 -> 100 × 0.1 = 10.00, 100 × 0.05 = 5.00, 50.5 × 0.02 = 1.01.
    assert lines_of(expected, "INV-202610-000001") == [
        (1, *base("pro", "2026-10-01", "2026-10-31", 31, 31, "49", "49.00")),
        (2, *tier("api_calls", "pro", 1, "0 to 10000", "10000", "0.01", "100.00")),
        (3, *tier("api_calls", "pro", 2, "over 10000", "4000", "0.005", "20.00")),
        (4, *tier("storage_gb", "pro", 1, "0 to 100", "100", "0.1", "10.00")),
        (5, *tier("storage_gb", "pro", 2, "100 to 200", "100", "0.05", "5.00")),
        (6, *tier("storage_gb", "pro", 3, "over 200", "50.5", "0.02", "1.01")),
    ]
    assert invoice(expected, "INV-202610-000001") == (
        "INV-202610-000001",
        "C1",
        "2026-10",
        "USD",
        D("185.01"),
        D("185.01"),
    )
    # C2: Q = 800, all within the 1000 included: one line of amount 0.
    assert lines_of(expected, "INV-202610-000002") == [
        (1, *base("pro", "2026-10-01", "2026-10-31", 31, 31, "49", "49.00")),
        (2, *included("api_calls", "pro", "800")),
    ]


def test_a_plan_change_mid_month_prorates_both_base_fees_and_splits_usage_by_utc_day(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS,
          "basic,USD,49.00,api_calls,,,0.01",
          "plus,USD,99.00,api_calls,1000,,0.005")  # fmt: skip
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS,
          "C1,basic,2026-05-01,2026-10-14",
          "C1,plus,2026-10-15,")  # fmt: skip
    write(tmp_path, "usage_2026-10-15.csv", USAGE,
          "e1,C1,api_calls,100,2026-10-10T10:00:00Z",
          "e2,C1,api_calls,50,2026-10-15T01:00:00+02:00",  # 2026-10-14 23:00Z: still basic
          "e3,C1,api_calls,500,2026-10-20T10:00:00Z")  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    # 49 × 14/31 = 22.129... -> 22.13; 99 × 17/31 = 54.290... -> 54.29; basic 150 × 0.01 = 1.50; plus 500 included.
    assert lines_of(expected, "INV-202610-000001") == [
        (1, *base("basic", "2026-10-01", "2026-10-14", 14, 31, "49.00", "22.13")),
        (2, *base("plus", "2026-10-15", "2026-10-31", 17, 31, "99.00", "54.29")),
        (3, *tier("api_calls", "basic", 1, "over 0", "150", "0.01", "1.50")),
        (4, *included("api_calls", "plus", "500")),
    ]
    assert expected["invoices"] == [("INV-202610-000001", "C1", "2026-10", "USD", D("77.92"), D("77.92"))]


def test_an_event_counts_once_the_first_delivery_wins(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS, "meter,USD,0,api_calls,,,1")
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS, "C1,meter,2026-01-01,")
    ts = "2026-10-05T10:00:00Z"
    write(tmp_path, "usage_20261001.csv", USAGE, f"e3,C1,api_calls,7,{ts}")  # earliest export date: wins
    write(tmp_path, "usage_2026-10-02.csv", USAGE,
          f"e1,C1,api_calls,10,{ts}",  # 2
          f"e2,C1,api_calls,20,{ts}",  # 3
          f"e1,C1,api_calls,99,{ts}",  # 4: a repeat, rejected
          f"e4,C1,api_calls,-1,{ts}",  # 5: rejected, so not a delivery
          f"e4,C1,api_calls,2,{ts}")  # 6: e4's first valid line  # fmt: skip
    write(tmp_path, "usage_2026-10-03.csv.gz", USAGE,
          f"e2,C1,api_calls,500,{ts}",  # a later delivery: ignored, whatever its quantity
          f"e3,C1,api_calls,1,{ts}")  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    assert reasons_of(tmp_path, "usage_2026-10-02.csv") == [
        (4, "event_id 'e1' already on line 2"),
        (5, "quantity '-1' is negative"),
    ]
    # 10 + 20 + 7 + 2 = 39 at 1.
    assert lines_of(expected, "INV-202610-000001")[1] == (
        2,
        *tier("api_calls", "meter", 1, "over 0", "39", "1", "39.00"),
    )
    assert expected["usage_daily"] == [(date(2026, 10, 5), "C1", "api_calls", D(39))]
    assert expected["rejects"] == [
        (str(tmp_path / "usage_2026-10-02.csv"), 4),
        (str(tmp_path / "usage_2026-10-02.csv"), 5),
    ]


def write_late_usage_folder(folder: Path) -> None:
    write(folder, "plans_2026-09-01.csv", PLANS, "pro,USD,10,api_calls,100,,0.05")
    write(folder, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS, "C1,pro,2026-01-01,", "C2,pro,2026-01-01,2026-10-31")
    write(folder, "usage_2026-10-06.csv", USAGE,
          "e1,C1,api_calls,150,2026-10-05T10:00:00Z",
          "e2,C2,api_calls,100,2026-10-06T10:00:00Z")  # fmt: skip


def test_late_usage_becomes_an_adjustment_line_on_the_next_invoice(tmp_path):
    write_late_usage_folder(tmp_path)
    october = reference.expected_billing(tmp_path, ["2026-10"])
    before = reference.landing_files(tmp_path)
    write(tmp_path, "usage_2026-11-02.csv", USAGE,
          "e3,C1,api_calls,41,2026-11-01T00:30:00+01:00",  # 2026-10-31 23:30Z: October, late
          "e4,C1,api_calls,10,2026-11-01T10:00:00Z",
          "e5,C2,api_calls,1,2026-10-20T10:00:00Z",  # October, late, for a customer gone in November
          "e1,C1,api_calls,150,2026-10-05T10:00:00Z")  # a re-delivery: ignored  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10", "2026-11", "2026-12"], files_at={"2026-10": before})

    # October as issued, from the files present then: C1 B = 150 - 100 = 50 × 0.05 = 2.50; C2 100 included.
    assert (
        [row for row in expected["invoices"] if row[2] == "2026-10"]
        == october["invoices"]
        == [
            ("INV-202610-000001", "C1", "2026-10", "USD", D("12.50"), D("12.50")),
            ("INV-202610-000002", "C2", "2026-10", "USD", D("10.00"), D("10.00")),
        ]
    )
    # November: October recomputed: C1 B = 191 - 100 = 91 × 0.05 = 4.55, billed 2.50 -> +2.05;
    # C2 B = 101 - 100 = 1 × 0.05 = 0.05, billed 0 -> +0.05 on an invoice of its own.
    assert lines_of(expected, "INV-202611-000001") == [
        (1, *base("pro", "2026-11-01", "2026-11-30", 30, 30, "10", "10.00", "2026-11")),
        (2, *included("api_calls", "pro", "10", "2026-11")),
        (3, "adjustment", "api_calls", "usage adjustment for 2026-10: api_calls", None, None, D("2.05"), "2026-10"),
    ]
    assert lines_of(expected, "INV-202611-000002") == [
        (1, "adjustment", "api_calls", "usage adjustment for 2026-10: api_calls", None, None, D("0.05"), "2026-10"),
    ]
    # December: October and November were billed in full, adjustments included: nothing to adjust.
    assert [row for row in expected["invoices"] if row[2] != "2026-10"] == [
        ("INV-202611-000001", "C1", "2026-11", "USD", D("12.05"), D("12.05")),
        ("INV-202611-000002", "C2", "2026-11", "USD", D("0.05"), D("0.05")),
        ("INV-202612-000001", "C1", "2026-12", "USD", D("10.00"), D("10.00")),
    ]
    # Invoicing a complete period again changes nothing.
    again = reference.expected_billing(tmp_path, ["2026-10", "2026-11", "2026-10"], files_at={"2026-10": before})
    assert again["invoices"] == [row for row in expected["invoices"] if row[2] != "2026-12"]


def test_each_line_rounds_half_away_from_zero_to_its_currencys_minor_unit(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS,
          "eu,EUR,0,api_calls,,,0.0025",
          "eu,EUR,0,storage_gb,,,0.0025",
          "jp,JPY,1000,api_calls,,,0.5",
          "kw,KWD,15.250,api_calls,,,0.0125")  # fmt: skip
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS,
          "C1,eu,2026-01-01,", "C2,jp,2026-10-17,", "C3,kw,2026-01-01,")  # fmt: skip
    write(tmp_path, "usage_2026-10-20.csv", USAGE,
          "e1,C1,api_calls,2,2026-10-20T10:00:00Z",
          "e2,C1,storage_gb,6,2026-10-20T10:00:00Z",
          "e3,C2,api_calls,3,2026-10-20T10:00:00Z",
          "e4,C3,api_calls,1,2026-10-20T10:00:00Z")  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    assert lines_of(expected, "INV-202610-000001") == [
        (1, *base("eu", "2026-10-01", "2026-10-31", 31, 31, "0", "0.00")),
        (2, *tier("api_calls", "eu", 1, "over 0", "2", "0.0025", "0.01")),  # 0.005 -> 0.01
        (3, *tier("storage_gb", "eu", 1, "over 0", "6", "0.0025", "0.02")),  # 0.015 -> 0.02
    ]
    assert lines_of(expected, "INV-202610-000002") == [
        (1, *base("jp", "2026-10-17", "2026-10-31", 15, 31, "1000", "484")),  # 483.87... -> 484
        (2, *tier("api_calls", "jp", 1, "over 0", "3", "0.5", "2")),  # 1.5 -> 2
    ]
    assert lines_of(expected, "INV-202610-000003") == [
        (1, *base("kw", "2026-10-01", "2026-10-31", 31, 31, "15.250", "15.250")),
        (2, *tier("api_calls", "kw", 1, "over 0", "1", "0.0125", "0.013")),  # 0.0125 -> 0.013
    ]
    totals = {row[0]: (row[3], row[4]) for row in expected["invoices"]}
    assert totals == {
        "INV-202610-000001": ("EUR", D("0.03")),
        "INV-202610-000002": ("JPY", D(486)),
        "INV-202610-000003": ("KWD", D("15.263")),
    }
    assert [str(row[4]) for row in expected["invoices"]] == ["0.03", "486", "15.263"]


def test_a_customer_without_usage_gets_the_base_fee_and_one_invoice_per_currency(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS,
          "flat,GBP,25,,,,",
          "starter,EUR,9.99,api_calls,1000,,0.01",
          "pro,USD,49,api_calls,,,0.01")  # fmt: skip
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS,
          "C1,flat,2026-01-01,",
          "C2,starter,2026-01-01,2026-10-09",
          "C2,pro,2026-10-10,")  # fmt: skip
    write(tmp_path, "usage_2026-10-12.csv", USAGE, "e1,C2,api_calls,100,2026-10-12T10:00:00Z")

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    # 9.99 × 9/31 = 2.9003... -> 2.90; 49 × 22/31 = 34.774... -> 34.77; 100 × 0.01 = 1.00.
    assert expected["invoices"] == [
        ("INV-202610-000001", "C1", "2026-10", "GBP", D("25.00"), D("25.00")),
        ("INV-202610-000002", "C2", "2026-10", "EUR", D("2.90"), D("2.90")),
        ("INV-202610-000003", "C2", "2026-10", "USD", D("35.77"), D("35.77")),
    ]
    assert lines_of(expected, "INV-202610-000001") == [
        (1, *base("flat", "2026-10-01", "2026-10-31", 31, 31, "25", "25.00"))
    ]
    assert lines_of(expected, "INV-202610-000002") == [
        (1, *base("starter", "2026-10-01", "2026-10-09", 9, 31, "9.99", "2.90"))
    ]


def test_usage_without_an_active_priced_plan_is_an_exception_and_never_billed(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS, "pro,USD,49,api_calls,,,0.01", "gone,USD,5,api_calls,,,0.01")
    write(tmp_path, "plans_2026-10-10.csv", PLANS, "pro,USD,49,api_calls,,,0.01")  # October's catalogue: no 'gone'
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS,
          "C1,pro,2026-10-10,", "C2,gone,2026-01-01,")  # fmt: skip
    write(tmp_path, "usage_2026-10-12.csv", USAGE,
          "e1,C1,api_calls,5,2026-10-09T23:59:59Z",  # before the start
          "e2,C1,storage_gb,5,2026-10-12T10:00:00Z",  # not priced by pro
          "e3,C2,api_calls,7,2026-10-12T10:00:00Z",  # plan not in the catalogue
          "e4,C9,api_calls,1,2026-10-12T10:00:00Z",  # no subscription at all
          "e5,C1,api_calls,2,2026-10-12T10:00:00Z",
          "e6,C9,api_calls,1,2026-09-30T23:00:00Z")  # September: not October's business  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    at = datetime(2026, 10, 12, 10, tzinfo=UTC)
    assert [(*row[:6], reference.reason_category(row[6])) for row in expected["exceptions"]] == [
        ("2026-10", "C1", "e1", "api_calls", D(5), datetime(2026, 10, 9, 23, 59, 59, tzinfo=UTC), "subscription"),
        ("2026-10", "C1", "e2", "storage_gb", D(5), at, "price"),
        ("2026-10", "C2", "e3", "api_calls", D(7), at, "catalogue"),
        ("2026-10", "C2", None, None, None, None, "catalogue"),  # its base fee cannot be billed either
        ("2026-10", "C9", "e4", "api_calls", D(1), at, "subscription"),
    ]
    # 49 × 22/31 = 34.774... -> 34.77; 2 × 0.01 = 0.02.
    assert expected["invoices"] == [("INV-202610-000001", "C1", "2026-10", "USD", D("34.79"), D("34.79"))]
    assert len(expected["usage_daily"]) == 6  # every valid event, exceptions and September's included


def test_invoices_are_numbered_without_gaps_in_customer_id_order(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS, "flat,EUR,10,,,,", "flat_usd,USD,10,,,,")
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS,
          "D,flat,2026-01-01,", "C2,flat,2026-01-01,", "C10,flat,2026-01-01,", "C15,flat,2026-11-01,",
          "C1,flat_usd,2026-01-01,", "C1,flat,2025-01-01,2025-12-31")  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10", "2026-11"])

    # Code point order: C1 < C10 < C2 < D; C15 has no subscription in October, so no number.
    assert [row[:2] for row in expected["invoices"]] == [
        ("INV-202610-000001", "C1"), ("INV-202610-000002", "C10"), ("INV-202610-000003", "C2"), ("INV-202610-000004", "D"),
        ("INV-202611-000001", "C1"), ("INV-202611-000002", "C10"), ("INV-202611-000003", "C15"), ("INV-202611-000004", "C2"),
        ("INV-202611-000005", "D"),
    ]  # fmt: skip


def test_the_catalogue_is_the_latest_on_or_before_the_last_day_and_the_latest_subscriptions_win(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS, "pro,USD,10,,,,", "basic,USD,1,,,,")
    write(tmp_path, "plans_2026-10-20.csv", PLANS, "pro,USD,12,,,,", "basic,USD,2,,,,")
    write(tmp_path, "plans_2026-11-01.csv", PLANS, "pro,USD,15,,,,", "basic,USD,3,,,,")
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS, "C1,pro,2026-01-01,")
    write(tmp_path, "subscriptions_20261005.csv", SUBSCRIPTIONS, "C1,basic,2026-01-01,")  # the truth

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    assert expected["invoices"] == [("INV-202610-000001", "C1", "2026-10", "USD", D("2.00"), D("2.00"))]


# ---------------------------------------------------------------------------------------------- bad input


def test_bad_usage_rows_are_rejected_with_a_reason(tmp_path):
    write(tmp_path, "usage_2026-10-01.csv", USAGE,
          "e1,C1,api_calls,1.123456,2026-10-01 10:00+0200",  # 2 ok
          "e2,C1,api_calls,1,2026-10-01T10:00:00",  # 3 no offset
          "e3,C1,api_calls,1,2026-10-32T10:00:00Z",  # 4 no such day
          "e4,C1,api_calls,1.1234567,2026-10-01T10:00:00Z",  # 5 seven decimals
          "e5,C1,API_Calls,1,2026-10-01T10:00:00Z",  # 6 metric
          ",C1,api_calls,1,2026-10-01T10:00:00Z",  # 7 missing event_id
          "e7,C1,api_calls,1",  # 8 four fields
          "e8,C1,api_calls,1234567890123,2026-10-01T10:00:00Z")  # 9 13 integer digits  # fmt: skip

    reasons = dict(reasons_of(tmp_path, "usage_2026-10-01.csv"))

    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9]
    assert "has no UTC offset" in reasons[3] and "is not a real date and time" in reasons[4]
    assert "more than 6 decimal places" in reasons[5] and "is not a metric name" in reasons[6]
    assert reasons[7] == "event_id is missing" and reasons[8] == "has 4 fields, the header has 5"
    assert "more than 12 integer digits" in reasons[9]


def test_a_plan_breaking_a_plan_level_rule_is_rejected_whole_and_the_others_load(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS,
          "ok,USD,10,api_calls,,100,0.1",  # 2
          "two_open,USD,10,api_calls,,,0.1",  # 3
          "two_open,USD,10,api_calls,,,0.2",  # 4
          "order,USD,10,api_calls,,500,0.1",  # 5
          "order,USD,10,api_calls,,200,0.1",  # 6
          "order,USD,10,api_calls,,,0.1",  # 7
          "ok,USD,10,api_calls,,,0.05",  # 8
          "fees,USD,10,,,,",  # 9
          "fees,EUR,12,,,,",  # 10
          "part,USD,10,api_calls,,100,0.1",  # 11
          "part,USD,10,api_calls,,,-0.1")  # 12 a row rule: the plan goes with it  # fmt: skip

    billing_file = reference.read_billing_file(tmp_path / "plans_2026-09-01.csv")
    reasons = dict((line, reason) for line, reason, _ in billing_file.rejects)

    assert [line for line, _ in billing_file.loaded] == [2, 8]
    assert reasons[3] == reasons[4] == "plan 'two_open': api_calls: 2 open-ended tiers (exactly one needed)"
    assert reasons[5] == reasons[6] == reasons[7] == "plan 'order': api_calls: up_to 200 on line 6 is not above 500"
    assert "more than one currency (EUR, USD)" in reasons[9] and "more than one base_fee (10, 12)" in reasons[10]
    # Without line 12, 'part' has no open-ended tier either.
    assert reasons[11] == "plan 'part': rejected row on line 12; api_calls: 0 open-ended tiers (exactly one needed)"
    assert reasons[12] == "unit_price '-0.1' is negative"


def test_overlapping_and_reversed_subscriptions_are_rejected(tmp_path):
    write(tmp_path, "subscriptions_2026-10-01.csv", SUBSCRIPTIONS,
          "C1,pro,2026-01-01,2026-10-15",  # 2
          "C1,basic,2026-10-15,",  # 3 overlaps on the 15th
          "C2,pro,2026-10-20,2026-10-10",  # 4 ends before it starts
          "C3,pro,2026-01-01,2026-10-14",  # 5 ok
          "C3,basic,2026-10-15,")  # 6 ok  # fmt: skip

    reasons = reasons_of(tmp_path, "subscriptions_2026-10-01.csv")

    assert reasons == [
        (2, "customer 'C1' has overlapping subscriptions (lines 2 and 3)"),
        (3, "customer 'C1' has overlapping subscriptions (lines 2 and 3)"),
        (4, "end_date 2026-10-10 is before start_date 2026-10-20"),
    ]


def test_parquet_usage_is_read_like_csv(tmp_path):
    write(tmp_path, "plans_2026-09-01.csv", PLANS, "meter,JPY,0,api_calls,,,1")
    write(tmp_path, "subscriptions_2026-09-01.csv", SUBSCRIPTIONS, "C1,meter,2026-01-01,")
    pq.write_table(
        pa.table({"event_id": ["e1", "e2"], "customer_id": ["C1", "C1"], "metric": ["api_calls"] * 2,
                  "quantity": ["12", None], "ts": ["2026-10-05T10:00:00Z"] * 2}),
        tmp_path / "usage_2026-10-05.parquet",
    )  # fmt: skip

    expected = reference.expected_billing(tmp_path, ["2026-10"])

    assert expected["rejects"] == [(str(tmp_path / "usage_2026-10-05.parquet"), 2)]
    assert invoice(expected, "INV-202610-000001")[4] == D(12)


# ------------------------------------------------------------------------------------ the warehouse check


def warehouse_from(expected: dict, path: Path) -> Path:
    """A warehouse holding exactly the expected rows."""
    types = {
        "invoices": "invoice_id varchar, customer_id varchar, period varchar, currency varchar, "
        "subtotal decimal(18,4), total decimal(18,4), status varchar, issued_at timestamptz, flow_run_id varchar",
        "invoice_lines": "invoice_id varchar, line_no integer, kind varchar, metric varchar, description varchar, "
        "quantity decimal(18,6), unit_price decimal(18,6), amount decimal(18,4), for_period varchar",
        "usage_daily": "day date, customer_id varchar, metric varchar, quantity decimal(38,6)",
        "exceptions": "period varchar, customer_id varchar, event_id varchar, metric varchar, "
        "quantity decimal(18,6), ts timestamptz, reason varchar",
    }
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema billing; create schema meta")
        connection.execute("create table meta.rejects (pipeline varchar, source varchar, line_number bigint)")
        for table, columns in types.items():
            connection.execute(f"create table billing.{table} ({columns})")
            names = reference.TABLES[table][0]
            for row in expected[table]:
                connection.execute(
                    f"insert into billing.{table} ({', '.join(names)}) values ({', '.join('?' for _ in names)})",
                    list(row),
                )
        connection.execute("update billing.invoices set status = 'issued', issued_at = now(), flow_run_id = 'x'")
        for source, line in expected["rejects"]:
            connection.execute("insert into meta.rejects values ('billing', ?, ?)", [source, line])
    return path


def test_the_warehouse_check_passes_on_the_expected_rows_and_names_a_difference(tmp_path):
    source = tmp_path / "landing"
    write_late_usage_folder(source)
    write(source, "usage_2026-10-07.csv", USAGE, "e9,C7,api_calls,1,2026-10-07T10:00:00Z", "bad")
    warehouse = warehouse_from(reference.expected_billing(source, ["2026-10"]), tmp_path / "warehouse.duckdb")

    reference.assert_billing_matches_independent_computation(source, warehouse, ["2026-10"])

    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "update billing.invoice_lines set amount = 2.49 where invoice_id = 'INV-202610-000001' and line_no = 2"
        )
        connection.execute("update billing.exceptions set reason = 'no plan priced this'")
        connection.execute("delete from meta.rejects")
    with pytest.raises(
        AssertionError, match=r"(?s)invoice_lines.*'INV-202610-000001'.*amount.*2\.5.*2\.49.*exceptions.*meta\.rejects"
    ):
        reference.assert_billing_matches_independent_computation(source, warehouse, ["2026-10"])


# ------------------------------------------------------------------------------------------- the generator


def generate(out: Path, *arguments: str) -> Path:
    command = [sys.executable, "data/generate_billing.py", "--out", str(out), *arguments]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, capture_output=True)
    return out


SMALL = ("--customers", "40", "--events-per-customer", "30", "--period", "2026-10", "--bad-share", "0.02", "--seed")


def test_the_generator_writes_the_same_bytes_for_the_same_seed(tmp_path):
    first = generate(tmp_path / "a", *SMALL, "7")
    second = generate(tmp_path / "b", *SMALL, "7")
    other = generate(tmp_path / "c", *SMALL, "8")

    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in second.iterdir())
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in names)
    assert any(
        not (other / name).exists() or (other / name).read_bytes() != (first / name).read_bytes() for name in names
    )
    assert {name.split(".", 1)[1] for name in names} == {"csv", "csv.gz", "parquet"}
    assert sum(name.startswith("usage_") for name in names) == 31 + 3


# How the reference's reject reasons show each kind of bad input the generator makes.
REJECT_KINDS = {
    "malformed ts": r"^ts '.*' (is not an ISO 8601 timestamp|is not a real date)",
    "offset-less ts": r"^ts '.*' has no UTC offset",
    "negative quantity": r"^quantity '-.*' is negative",
    "too many decimals": r"^quantity '.*' has more than 6 decimal places",
    "bad metric": r"^metric '.*' is not a metric name",
    "missing value": r"(event_id|customer_id|quantity) is missing",
    "repeat in a file": r"^event_id '.*' already on line \d+$",
    "two open-ended tiers": r"^plan 'broken_open': api_calls: 2 open-ended tiers",
    "up_to not increasing": r"^plan 'broken_order': api_calls: up_to .* is not above",
    "overlapping subscriptions": r"has overlapping subscriptions",
    "end before start": r"^end_date .* is before start_date",
}


def edge_cases_found(folder: Path, period: str) -> set[str]:
    """The edge cases a folder shows, named as in REJECT_KINDS and below."""
    first, last = reference.period_bounds(period)
    found = set()
    files = reference.read_folder(folder)
    deliveries: dict[str, set[str]] = defaultdict(set)
    for name, billing_file in files.items():
        for _, reason, _ in billing_file.rejects:
            found.update(kind for kind, pattern in REJECT_KINDS.items() if re.search(pattern, reason))
        for _, row in billing_file.loaded if billing_file.kind == "usage" else []:
            deliveries[row["event_id"]].add(name)
            in_period = first <= row["ts"].date() <= last
            if in_period and billing_file.export_date > last:
                found.add("late usage")
            if not in_period and billing_file.export_date > last and row["ts"].date() > last:
                found.add("next month's usage")
            if row["quantity"].as_tuple().exponent == -6:
                found.add("6 decimals")
    if any(len(names) > 1 for names in deliveries.values()):
        found.add("delivered twice")
    if len([name for name in files if name.startswith("plans_")]) == 2:
        found.add("two catalogues")

    expected = reference.expected_billing(folder, [period])
    found.update(f"exception: {reference.reason_category(row[6])}" for row in expected["exceptions"])
    lines_by_invoice = defaultdict(list)
    for row in expected["invoice_lines"]:
        lines_by_invoice[row[0]].append(row)
    currencies_of = defaultdict(list)
    for invoice_id, customer_id, _, currency, _, _ in expected["invoices"]:
        currencies_of[customer_id].append(currency)
        lines = lines_by_invoice[invoice_id]
        kinds = [row[2] for row in lines]
        if kinds.count("base_fee") > 1:
            found.add("two segments on one invoice")
        if kinds == ["base_fee"]:
            found.add("base fee only")
        found.add(f"currency {currency}")
    found.update(
        "prorated"
        for row in expected["invoice_lines"]
        if row[2] == "base_fee" and "/31 days" in row[4] and "(31/31" not in row[4]
    )
    found.update(f"tier {row[4].split('tier ')[1][0]}" for row in expected["invoice_lines"] if " tier " in row[4])
    found.update("included" for row in expected["invoice_lines"] if "included" in row[4])
    if any(len(currencies) > 1 for currencies in currencies_of.values()):
        found.add("two currencies for one customer")
    for row in expected["invoice_lines"]:
        if row[5] is not None and row[6] is not None:
            exact = row[5] * row[6]
            if exact != row[7] and (exact - row[7]).copy_abs() * 2 == D(1).scaleb(row[7].as_tuple().exponent):
                found.add("half-way amount")
    return found


EDGE_CASES = {
    *REJECT_KINDS, "late usage", "next month's usage", "6 decimals", "delivered twice", "two catalogues",
    "exception: subscription", "exception: price", "exception: catalogue", "two segments on one invoice",
    "base fee only", "currency EUR", "currency USD", "currency JPY", "currency KWD", "currency GBP", "prorated",
    "tier 1", "tier 2", "tier 3", "included", "two currencies for one customer", "half-way amount",
}  # fmt: skip


def test_a_generated_folder_holds_every_edge_case(tmp_path):
    folder = generate(tmp_path / "billing", *SMALL, "7")

    assert edge_cases_found(folder, "2026-10") == EDGE_CASES
    # Invoicing October before the next month's files arrive, then November, gives adjustment lines.
    before = {name for name in reference.landing_files(folder) if reference.export_date_of(name) <= date(2026, 10, 31)}
    expected = reference.expected_billing(folder, ["2026-10", "2026-11"], files_at={"2026-10": before})
    assert any(row[2] == "adjustment" and row[8] == "2026-10" for row in expected["invoice_lines"])


def test_the_bundled_sample_is_small_and_holds_every_edge_case():
    files = sorted(SAMPLE.iterdir())
    assert sum(path.stat().st_size for path in files) < 400_000
    assert edge_cases_found(SAMPLE, "2026-10") == EDGE_CASES
