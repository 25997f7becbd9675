"""Checks of the independent sales reference (tests/support/independent_sales.py) on hand-written export folders, and of
the sales data generator (data/generate_sales.py).

Every expected row below was worked out by hand from the files and the spec, not by running the code; only the
customer keys are computed, with hashlib, because the spec defines them as an md5.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

try:
    import independent_sales as reference
except ImportError:  # tests/ became a package
    from tests import independent_sales as reference

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE = PROJECT_ROOT / "data" / "sample_sales"
SAMPLE_DRIFT = PROJECT_ROOT / "data" / "sample_sales_drift"
CUSTOMER_HEADER = "customer_id,name,email,country,segment,updated_at"
ORDER_HEADER = "order_id,customer_id,order_ts,status,currency,updated_at"
LINE_HEADER = "order_id,line_no,sku,quantity,unit_price"
FX_HEADER = "day,currency,rate_to_usd"
HISTORY = datetime(1900, 1, 1, tzinfo=UTC)


def key(customer_id: str, version: int) -> str:
    return hashlib.md5(f"{customer_id}#{version}".encode()).hexdigest()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def write(folder: Path, name: str, *lines: str, line_end: str = "\n") -> Path:
    """A CSV export file from its lines (header first), each ended by line_end; gzipped for .gz names."""
    folder.mkdir(parents=True, exist_ok=True)
    data = "".join(line + line_end for line in lines).encode()
    path = folder / name
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path


def rejects_of(folder: Path, name: str) -> list[tuple[int, str]]:
    export = reference.read_export_file(folder / name)
    return [(line, reason) for line, reason, _ in export.rejects]


# ------------------------------------------------------------------------------------------------ dim_customer


def test_scd2_change_identical_redelivery_change_back_and_an_older_version_delivered_late(tmp_path):
    write(tmp_path, "customers_2026-10-01.csv", CUSTOMER_HEADER,
          "C1,Anna,anna@example.com,de,consumer,2026-10-01T10:00:00+02:00",  # 08:00Z: version 1
          "C2,Bob,bob@example.com,US,consumer,2026-10-01T12:00:00Z")  # fmt: skip
    write(tmp_path, "customers_2026-10-02.csv", CUSTOMER_HEADER,
          "C1,Anna,anna@example.com,DE,enterprise,2026-10-02T09:00:00Z")  # a change  # fmt: skip
    write(tmp_path, "customers_2026-10-03.csv", CUSTOMER_HEADER,
          "C1, Anna ,anna@example.com,DE,enterprise,2026-10-03 09:00Z",  # identical, newer: collapses
          "C2,Bobby,bob@example.com,US,consumer,2026-10-01T14:00:00+02:00")  # same instant as 12:00Z: corrects it  # fmt: skip
    write(tmp_path, "customers_2026-10-04.csv", CUSTOMER_HEADER,
          "C1,Anna,anna@example.com,DE,consumer,2026-10-04T09:00:00Z")  # back to consumer  # fmt: skip
    write(tmp_path, "customers_2026-10-05.csv", CUSTOMER_HEADER,
          "C1,Anna,anna@other.com,DE,enterprise,2026-10-01T20:00:00Z")  # older, delivered last: slots in  # fmt: skip
    write(tmp_path, "orders_2026-10-05.csv", ORDER_HEADER,
          "O1,C1,2026-09-01T00:00:00Z,placed,USD,2026-10-05T00:00:00Z",  # before anything: version 1
          "O2,C1,2026-10-01T21:00:00Z,placed,USD,2026-10-05T00:00:00Z",  # version 2 (from 20:00Z)
          "O3,C1,2026-10-02T11:00:00+02:00,placed,USD,2026-10-05T00:00:00Z",  # exactly 09:00Z: version 3
          "O4,C1,2026-10-04T09:00:00.000001Z,placed,USD,2026-10-05T00:00:00Z")  # version 4  # fmt: skip

    expected = reference.expected_sales(tmp_path)

    anna = ("Anna", "anna@example.com", "DE")
    assert expected["dim_customer"] == sorted(
        [
            (key("C1", 1), "C1", 1, *anna, "consumer", HISTORY, utc(2026, 10, 1, 20), False, False, utc(2026, 10, 1, 8)),
            (key("C1", 2), "C1", 2, "Anna", "anna@other.com", "DE", "enterprise", utc(2026, 10, 1, 20),
             utc(2026, 10, 2, 9), False, False, utc(2026, 10, 1, 20)),
            (key("C1", 3), "C1", 3, *anna, "enterprise", utc(2026, 10, 2, 9), utc(2026, 10, 4, 9), False, False,
             utc(2026, 10, 2, 9)),
            (key("C1", 4), "C1", 4, *anna, "consumer", utc(2026, 10, 4, 9), None, True, False, utc(2026, 10, 4, 9)),
            (key("C2", 1), "C2", 1, "Bobby", "bob@example.com", "US", "consumer", HISTORY, None, True, False,
             utc(2026, 10, 1, 12)),
        ]
    )  # fmt: skip
    assert {row[0]: row[2] for row in expected["fact_orders"]} == {
        "O1": key("C1", 1),
        "O2": key("C1", 2),
        "O3": key("C1", 3),
        "O4": key("C1", 4),
    }


def test_an_inferred_member_is_completed_by_its_customer_arriving_later(tmp_path):
    write(tmp_path, "orders_2026-10-01.csv", ORDER_HEADER,
          "O1,C9,2026-10-01T10:00:00Z,placed,USD,2026-10-01T10:00:00Z",
          "O2,C5,2026-10-01T11:00:00Z,placed,USD,2026-10-01T11:00:00Z")  # fmt: skip
    inferred = (None, None, None, None, HISTORY, None, True, True, None)

    before = reference.expected_sales(tmp_path)
    assert before["dim_customer"] == sorted([(key("C5", 1), "C5", 1, *inferred), (key("C9", 1), "C9", 1, *inferred)])

    write(tmp_path, "customers_2026-10-02.csv", CUSTOMER_HEADER,
          "C5,Ewa Nowak,ewa@example.pl,PL,consumer,2026-10-02T00:00:00Z")  # fmt: skip
    after = reference.expected_sales(tmp_path)
    assert after["dim_customer"] == sorted(
        [
            (key("C5", 1), "C5", 1, "Ewa Nowak", "ewa@example.pl", "PL", "consumer", HISTORY, None, True, False,
             utc(2026, 10, 2)),
            (key("C9", 1), "C9", 1, *inferred),
        ]
    )  # fmt: skip
    assert [(row[0], row[2]) for row in after["fact_orders"]] == [("O1", key("C9", 1)), ("O2", key("C5", 1))]


# -------------------------------------------------------------------------------------------------- facts


def test_the_newest_order_version_wins_whatever_file_brings_it(tmp_path):
    write(tmp_path, "orders_2026-10-01.csv", ORDER_HEADER,
          "O1,C1,2026-10-01T10:00:00Z,placed,EUR,2026-10-01T10:05:00Z",
          "O2,C1,2026-10-01T10:00:00Z,placed,USD,2026-10-01T11:00:00Z")  # fmt: skip
    write(tmp_path, "orders_2026-10-02.csv", ORDER_HEADER,
          "O1,C1,2026-10-01T10:00:00Z, PAID ,eur,2026-10-02T08:00:00Z",
          "O2,C1,2026-10-01T10:00:00Z,cancelled,USD,2026-10-01T13:00:00+02:00")  # same instant: later file wins  # fmt: skip
    write(tmp_path, "orders_2026-10-03.csv", ORDER_HEADER,
          "O1,C1,2026-10-01T10:00:00Z,placed,EUR,2026-10-01T10:05:00Z")  # older version, later file: loses  # fmt: skip

    orders = reference.expected_sales(tmp_path)["fact_orders"]

    ten = utc(2026, 10, 1, 10)
    zero = Decimal("0.0000")
    assert orders == [
        ("O1", "C1", key("C1", 1), ten, date(2026, 10, 1), "paid", "EUR", utc(2026, 10, 2, 8), 0, 0, zero, None, None),
        ("O2", "C1", key("C1", 1), ten, date(2026, 10, 1), "cancelled", "USD", utc(2026, 10, 1, 11), 0, 0, zero,
         Decimal("1.0000000000"), Decimal("0.00")),
    ]  # fmt: skip


def test_a_later_file_replaces_an_orders_whole_set_of_lines(tmp_path):
    write(tmp_path, "orders_2026-10-01.csv", ORDER_HEADER,
          "O1,C1,2026-10-01T23:30:00-01:00,placed,USD,2026-10-01T10:00:00Z",  # UTC day 10-02
          "O2,C1,2026-10-01T10:00:00Z,placed,USD,2026-10-01T10:00:00Z")  # fmt: skip
    write(tmp_path, "order_lines_2026-10-01.csv", LINE_HEADER,
          "O1,1,SKU-1,2,10.5", "O1,2,SKU-2,1,3.25", "O2,1,SKU-3,1,5", "O3,1,SKU-4,2,1.1")  # fmt: skip
    write(tmp_path, "order_lines_2026-10-02.csv.gz", LINE_HEADER, "O1,1,SKU-1,3,10.5")  # line 2 removed
    write(tmp_path, "order_lines_2026-10-03.csv", LINE_HEADER, "O2,1,SKU-3,0,5")  # rejected: not a delivery

    expected = reference.expected_sales(tmp_path)

    day2, day1 = date(2026, 10, 2), date(2026, 10, 1)
    assert expected["fact_order_lines"] == [
        ("O1", 1, "SKU-1", 3, Decimal("10.5000"), Decimal("31.5000"), key("C1", 1), day2),
        ("O2", 1, "SKU-3", 1, Decimal("5.0000"), Decimal("5.0000"), key("C1", 1), day1),
        ("O3", 1, "SKU-4", 2, Decimal("1.1000"), Decimal("2.2000"), None, None),  # its order never arrives
    ]
    assert [(row[0], row[4], row[8], row[9], row[10], row[12]) for row in expected["fact_orders"]] == [
        ("O1", day2, 1, 3, Decimal("31.5000"), Decimal("31.50")),
        ("O2", day1, 1, 1, Decimal("5.0000"), Decimal("5.00")),
    ]


def write_fx_folder(folder: Path) -> None:
    """Orders in four currencies, one crossing UTC midnight, with rates for some (day, currency) only."""
    write(folder, "fx_rates_2026-10-01.csv", FX_HEADER,
          "2026-10-01,EUR,1.0125", "2026-10-01,gbp,1.085", "2026-10-01,CHF,0.9")  # fmt: skip
    write(folder, "fx_rates_20261002.csv", FX_HEADER, "2026-10-01,CHF,0.95")  # a corrected rate
    write(folder, "orders_2026-10-01.csv", ORDER_HEADER,
          "O1,C1,2026-10-01T12:00:00Z,completed,EUR,2026-10-01T12:00:00Z",
          "O2,C1,2026-10-01T12:00:00Z,shipped,GBP,2026-10-01T12:00:00Z",
          "O3,C1,2026-10-01T12:00:00Z,shipped,JPY,2026-10-01T12:00:00Z",  # no JPY rate
          "O4,C2,2026-10-01T12:00:00Z,completed,USD,2026-10-01T12:00:00Z",
          "O5,C2,2026-10-01T23:30:00-01:00,completed,EUR,2026-10-01T12:00:00Z",  # UTC day 10-02: no rate
          "O6,C1,2026-10-01T12:00:00Z,placed,USD,2026-10-01T12:00:00Z",  # not revenue
          "O7,C3,2026-10-03T12:00:00Z,completed,USD,2026-10-03T12:00:00Z")  # fmt: skip
    write(folder, "order_lines_2026-10-01.csv", LINE_HEADER,
          "O1,1,A,1,10.00", "O2,1,B,3,0.3333", "O3,1,C,2,1500", "O4,1,D,1,0.0050", "O5,1,E,1,20", "O6,1,F,1,9.99",
          "O7,1,G,2,1.25")  # fmt: skip


def test_usd_amounts_round_half_away_from_zero_after_fx_and_missing_rates_stay_null(tmp_path):
    write_fx_folder(tmp_path)

    expected = reference.expected_sales(tmp_path)

    rates = {row[0]: (row[10], row[11], row[12]) for row in expected["fact_orders"]}
    assert rates == {
        "O1": (Decimal("10.0000"), Decimal("1.0125000000"), Decimal("10.13")),  # 10.125 -> 10.13
        "O2": (Decimal("0.9999"), Decimal("1.0850000000"), Decimal("1.08")),  # 1.0848915 -> 1.08
        "O3": (Decimal("3000.0000"), None, None),
        "O4": (Decimal("0.0050"), Decimal("1.0000000000"), Decimal("0.01")),  # 0.005 -> 0.01
        "O5": (Decimal("20.0000"), None, None),
        "O6": (Decimal("9.9900"), Decimal("1.0000000000"), Decimal("9.99")),
        "O7": (Decimal("2.5000"), Decimal("1.0000000000"), Decimal("2.50")),
    }
    assert expected["fx_rates"] == [
        (date(2026, 10, 1), "CHF", Decimal("0.9500000000")),
        (date(2026, 10, 1), "EUR", Decimal("1.0125000000")),
        (date(2026, 10, 1), "GBP", Decimal("1.0850000000")),
    ]
    one, two, three = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    assert expected["daily_revenue"] == [
        (one, "EUR", 1, 1, Decimal("10.0000"), Decimal("1.0125000000"), Decimal("10.13")),
        (one, "GBP", 1, 3, Decimal("0.9999"), Decimal("1.0850000000"), Decimal("1.08")),
        (one, "JPY", 1, 2, Decimal("3000.0000"), None, None),
        (one, "USD", 1, 1, Decimal("0.0050"), Decimal("1.0000000000"), Decimal("0.01")),
        (two, "EUR", 1, 1, Decimal("20.0000"), None, None),
        (three, "USD", 1, 2, Decimal("2.5000"), Decimal("1.0000000000"), Decimal("2.50")),
    ]
    assert expected["customer_lifetime"] == [
        ("C1", one, one, 3, None, 1),
        ("C2", one, two, 2, None, 1),
        ("C3", three, three, 1, Decimal("2.50"), 0),
    ]


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-10-01T10:00:00Z", utc(2026, 10, 1, 10)),
        ("2026-10-01 10:00+02:00", utc(2026, 10, 1, 8)),
        ("2026-10-01T10:00:00.5-0500", datetime(2026, 10, 1, 15, 0, 0, 500_000, tzinfo=UTC)),
        ("2026-10-01T00:30:00.123456+05:30", datetime(2026, 9, 30, 19, 0, 0, 123_456, tzinfo=UTC)),
        ("2026-10-01T23:59+09", utc(2026, 10, 1, 14, 59)),
        ("2028-02-29T00:00:00-14:59", utc(2028, 2, 29, 14, 59)),
    ],
    ids=["z", "space-no-seconds", "fraction-hhmm", "micro-half-hour", "hh-offset", "leap-day"],
)
def test_timestamps_in_every_allowed_shape_become_utc_instants(text, instant):
    reasons = []
    assert reference.check_timestamp("order_ts", text, reasons) == instant
    assert reasons == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-10-01T10:00:00", "has no UTC offset"),
        ("2026-10-01 10:00", "has no UTC offset"),
        ("2026-02-30T10:00:00Z", "is not a real date and time"),
        ("2026-10-01T24:00:00Z", "is not a real date and time"),
        ("2026-10-01T10:00:00+2", "is not an ISO 8601 timestamp"),
        ("2026-10-01T10:00.5Z", "is not an ISO 8601 timestamp"),
        ("2026-10-01T10:00:00.1234567Z", "is not an ISO 8601 timestamp"),
        ("01/10/2026 10:00Z", "is not an ISO 8601 timestamp"),
        ("1899-12-31T23:59:59Z", "outside 1900-2199"),
        ("2026-10-01T10:00:00+15:00", "impossible UTC offset"),
    ],
    ids=["no-offset", "no-offset-no-seconds", "feb-30", "hour-24", "one-digit-offset", "fraction-without-seconds",
         "seven-digits", "slashes", "year-1899", "offset-15h"],
)  # fmt: skip
def test_malformed_timestamps_are_rejected_with_a_reason(text, reason):
    reasons = []
    assert reference.check_timestamp("order_ts", text, reasons) is None
    assert len(reasons) == 1 and reasons[0].startswith(f"order_ts '{text}'") and reason in reasons[0]


def test_bad_customer_rows_are_rejected_at_their_line_and_duplicates_take_every_occurrence(tmp_path):
    good = "DE,consumer,2026-10-01T10:00:00Z"
    write(tmp_path, "customers_2026-10-01.csv", CUSTOMER_HEADER,
          f"C1,Anna,anna@example.com,{good}",  # 2 ok
          "C2,Bob,bob.example.com,DE,consumer,2026-10-01T10:00:00Z",  # 3 email
          "C3,Cem,cem@example.com,XX,consumer,2026-10-01T10:00:00Z",  # 4 country
          "C4,Dora,dora@example.com,DE,consumer,2026-10-01T10:00:00",  # 5 no offset
          "C5,Emil,emil@example.com,DE,consumer,yesterday",  # 6 malformed
          "C6,Finn,finn@example.com,DE,consumer,2026-02-30T10:00:00Z",  # 7 invalid date
          "",  # 8 blank
          "   ",  # 9 blank
          "C7,Gert,gert@example.com,DE,consumer",  # 10 five fields
          f"C8,Hans,hans@example.com,{good}",  # 11 conflicting duplicate
          f"C9,Ida,ida@example.com,{good}",  # 12 ok
          "C8,Hans,hans@example.com,DE,enterprise,2026-10-01T10:00:00Z",  # 13 conflicting duplicate
          f"C10,Jan,jan@example.com,{good}",  # 14 identical duplicate
          f"C10,Jan,jan@example.com,{good}",  # 15 identical duplicate
          f"C11,,kai@example.com,{good}",  # 16 no name
          f"{'C' * 65},Lea,lea@example.com,{good}",  # 17 id too long
          "C12,Mia,mia@@example.com,ZZ,consumer,2026-10-01T10:00:00Z",  # 18 two reasons
          f"C9,Ida,not-an-email,{good}",  # 19 rejected itself, so C9 at 12 is no duplicate
          f"c1,Anna,anna@example.com,{good}")  # 20 ok: ids are case-sensitive  # fmt: skip

    rejects = rejects_of(tmp_path, "customers_2026-10-01.csv")

    assert [line for line, _ in rejects] == [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19]
    reasons = dict(rejects)
    assert reasons[3] == "email 'bob.example.com' is not shaped like x@y.z"
    assert reasons[4].startswith("country 'XX'")
    assert reasons[5].startswith("updated_at '2026-10-01T10:00:00' has no UTC offset")
    assert "not an ISO 8601 timestamp" in reasons[6] and "not a real date" in reasons[7]
    assert reasons[8] == reasons[9] == "blank line"
    assert reasons[10] == "has 5 fields, the header has 6"
    assert reasons[11] == reasons[13] == "customer_id 'C8' occurs 2 times in this file (lines 11, 13)"
    assert reasons[14] == reasons[15] == "customer_id 'C10' occurs 2 times in this file (lines 14, 15)"
    assert reasons[16] == "name is missing"
    assert reasons[17].startswith("customer_id 'CCC") and "longer than 64" in reasons[17]
    assert reasons[18].startswith("email 'mia@@example.com'") and "; country 'ZZ'" in reasons[18]
    export = reference.read_export_file(tmp_path / "customers_2026-10-01.csv")
    assert [row["customer_id"] for _, row in export.loaded] == ["C1", "C9", "c1"]
    assert (export.rows_in, len(export.loaded), len(export.rejects)) == (19, 3, 16)


def test_bad_orders_lines_and_rates_are_rejected_at_their_line(tmp_path):
    ok = "2026-10-01T10:00:00Z"
    write(tmp_path, "orders_2026-10-01.csv", ORDER_HEADER,
          f"O1,C1,{ok},placed,XYZ,{ok}",  # 2 unknown currency
          f"O2,C1,{ok},placed,DEM,{ok}",  # 3 withdrawn currency
          f"O3,C1,{ok},shipping,USD,{ok}",  # 4 unknown status
          f"O4,C1,{ok},Shipped,chf,{ok}",  # 5 ok
          f"O5,C1,{ok},placed,USD,2026-10-01 10:00",  # 6 no offset
          f"O6,,{ok},placed,USD,{ok}")  # 7 no customer  # fmt: skip
    write(tmp_path, "order_lines_2026-10-01.csv", LINE_HEADER,
          "O1,1,A,0,1.00",  # 2 zero
          "O1,2,A,-2,1.00",  # 3 negative
          "O1,3,A,1,1.23456",  # 4 five decimals
          "O1,4,A,1,-1.00",  # 5 negative price
          "O1,0,A,1,1.00",  # 6 line_no 0
          "O1,5,A,1.5,1.00",  # 7 not whole
          "O1,6,A,1,123456789012345",  # 8 fifteen integer digits
          "O1,7,A,+1,1.00",  # 9 sign
          "O1,8,A,2,0",  # 10 ok: free
          "O1,08,A,1,1.00")  # 11 line_no 8 again: duplicate of line 10  # fmt: skip
    write(tmp_path, "fx_rates_2026-10-01.csv", FX_HEADER,
          "2026-02-30,EUR,1.08",  # 2 invalid date
          "2026-10-01,EUR,1.12345678901",  # 3 eleven decimals
          "2026-10-01,USD,1.01",  # 4 USD other than 1
          "2026-10-01,GBP,0",  # 5 zero rate
          "2026-10-01,DEM,0.5",  # 6 unknown currency
          "2026-10-01,USD,1.000",  # 7 ok
          "2026-10-01,eur,1.08",  # 8 duplicate of 9 (currency compared upper-case)
          "2026-10-01,EUR,1.09")  # 9  # fmt: skip

    orders = dict(rejects_of(tmp_path, "orders_2026-10-01.csv"))
    assert sorted(orders) == [2, 3, 4, 6, 7]
    assert orders[2] == "currency 'XYZ' is not an active ISO 4217 code" and orders[3].startswith("currency 'DEM'")
    assert orders[4].startswith("status 'shipping'") and "has no UTC offset" in orders[6]
    assert orders[7] == "customer_id is missing"
    lines = dict(rejects_of(tmp_path, "order_lines_2026-10-01.csv"))
    assert sorted(lines) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert lines[2] == "quantity '0' must be at least 1" and lines[3] == "quantity '-2' must be at least 1"
    assert "more than 4 decimal places" in lines[4] and "negative" in lines[5]
    assert lines[6] == "line_no '0' must be at least 1" and "not a whole number" in lines[7]
    assert "more than 14 integer digits" in lines[8] and "not a whole number" in lines[9]
    assert lines[10] == lines[11] == "(order_id, line_no) ('O1', '8') occurs 2 times in this file (lines 10, 11)"
    rates = dict(rejects_of(tmp_path, "fx_rates_2026-10-01.csv"))
    assert sorted(rates) == [2, 3, 4, 5, 6, 8, 9]
    assert "not a real date" in rates[2] and "more than 10 decimal places" in rates[3]
    assert "not 1 for USD" in rates[4] and "not greater than 0" in rates[5] and rates[6].startswith("currency 'DEM'")
    assert "occurs 2 times" in rates[8]


def test_a_missing_or_an_extra_column_rejects_every_row_of_the_file(tmp_path):
    write(tmp_path, "customers_2026-10-01.csv", "customer_id,name,country,segment,updated_at",
          "C1,Anna,DE,consumer,2026-10-01T10:00:00Z", "", "C2,Bob,DE,consumer,2026-10-01T10:00:00Z")  # fmt: skip
    write(tmp_path, "order_lines_2026-10-01.csv", " Order_ID ,LINE_NO,sku,quantity,unit_price,foo",
          "O1,1,A,1,1.00,x", "O1,2,A,1,1.00,y")  # fmt: skip
    write(tmp_path, "order_lines_2026-10-02.csv", "order_id,line_no,sku,unit_price,bar", "O1,1,A,1.00,x")

    assert rejects_of(tmp_path, "customers_2026-10-01.csv") == [
        (line, "the file has no column 'email'") for line in (2, 3, 4)
    ]
    assert rejects_of(tmp_path, "order_lines_2026-10-01.csv") == [
        (2, "unexpected column 'foo'"),
        (3, "unexpected column 'foo'"),
    ]
    assert rejects_of(tmp_path, "order_lines_2026-10-02.csv") == [
        (2, "the file has no column 'quantity'; unexpected column 'bar'")
    ]
    expected = reference.expected_sales(tmp_path)
    assert expected["batches"] == [
        (str(tmp_path / "customers_2026-10-01.csv"), 3, 0, 3),
        (str(tmp_path / "order_lines_2026-10-01.csv"), 2, 0, 2),
        (str(tmp_path / "order_lines_2026-10-02.csv"), 1, 0, 1),
    ]
    assert expected["fact_order_lines"] == [] and expected["dim_customer"] == []


def test_a_record_with_a_quoted_newline_is_positioned_at_its_first_line(tmp_path):
    lines = [
        "\ufeff" + CUSTOMER_HEADER.replace("email", '"email"'),  # 1, after a byte order mark
        'C1,"Müller, Anna",anna@example.com,DE,consumer,2026-10-01T10:00:00Z',  # 2
        'C2,"Bäckerei Groß\nFiliale Süd",info@example.de,DE,"small, business",2026-10-01T10:00:00Z',  # 3-4
        'C3,"Say ""hi""",bad-email,DE,consumer,2026-10-01T10:00:00Z',  # 5 rejected
        'C4,"東京\n商事",info@example.jp,JP,consumer,not a time',  # 6-7 rejected
        "",  # 8 blank
        "C5,Ünal,u@example.tr,tr,consumer,2026-10-01T10:00:00Z",  # 9
    ]
    write(tmp_path, "customers_2026-10-01.csv", *lines, line_end="\r\n")

    export = reference.read_export_file(tmp_path / "customers_2026-10-01.csv")

    assert [(line, raw) for line, _, raw in export.rejects] == [
        (5, 'C3,"Say ""hi""",bad-email,DE,consumer,2026-10-01T10:00:00Z'),
        (6, 'C4,"東京\n商事",info@example.jp,JP,consumer,not a time'),
        (8, ""),
    ]
    assert [(line, row["name"], row["segment"], row["country"]) for line, row in export.loaded] == [
        (2, "Müller, Anna", "consumer", "DE"),
        (3, "Bäckerei Groß\nFiliale Süd", "small, business", "DE"),
        (9, "Ünal", "consumer", "TR"),
    ]


def test_parquet_and_gzip_files_are_read_like_csv(tmp_path):
    pq.write_table(
        pa.table(
            {
                "order_id": ["O1", "O1", "O2"],
                "line_no": pa.array([1, 2, 1], pa.int64()),
                "sku": ["A", "B", "C"],
                "quantity": pa.array([2, -1, 1], pa.int64()),
                "unit_price": ["1.25", "3", None],
            }
        ),
        tmp_path / "order_lines_2026-10-01.parquet",
    )
    pq.write_table(
        pa.table({"day": pa.array([date(2026, 10, 1)], pa.date32()), "currency": ["eur"], "rate_to_usd": ["1.1"]}),
        tmp_path / "fx_rates_20261001.parquet",
    )
    write(
        tmp_path, "orders_2026-10-01.csv.gz", ORDER_HEADER, "O1,C1,2026-10-01T10:00:00Z,paid,EUR,2026-10-01T10:00:00Z"
    )

    rejects = reference.read_export_file(tmp_path / "order_lines_2026-10-01.parquet").rejects
    assert [(line, reason) for line, reason, _ in rejects] == [
        (2, "quantity '-1' must be at least 1"),
        (3, "unit_price is missing"),
    ]
    assert rejects[0][2] == '{"order_id": "O1", "line_no": "2", "sku": "B", "quantity": "-1", "unit_price": "3"}'
    expected = reference.expected_sales(tmp_path)
    assert expected["fact_orders"][0][8:] == (1, 2, Decimal("2.5000"), Decimal("1.1000000000"), Decimal("2.75"))
    assert expected["fx_rates"] == [(date(2026, 10, 1), "EUR", Decimal("1.1000000000"))]


def test_files_without_a_valid_date_fail_and_other_names_are_not_listed(tmp_path):
    write(tmp_path, "orders_latest.csv", ORDER_HEADER)
    write(tmp_path, "orders_2026-02-30.csv", ORDER_HEADER)
    write(tmp_path, "orders_2026-10-01.csv", ORDER_HEADER)
    write(tmp_path, "notes.csv", "a,b")
    write(tmp_path, "orders_2026-10-01.json", "{}")

    expected = reference.expected_sales(tmp_path)

    assert expected["failed_sources"] == [
        (str(tmp_path / "orders_2026-02-30.csv"),),
        (str(tmp_path / "orders_latest.csv"),),
    ]
    assert expected["batches"] == [(str(tmp_path / "orders_2026-10-01.csv"), 0, 0, 0)]


# ------------------------------------------------------------------------------------ the warehouse check


def warehouse_from(expected: dict, path: Path) -> Path:
    """A warehouse holding exactly the expected rows, in tables of the spec's types."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema sales; create schema meta")
        connection.execute("create table meta.rejects (pipeline varchar, source varchar, line_number bigint)")
        connection.execute(
            "create table meta.batches (pipeline varchar, source varchar, status varchar, rows_in bigint, "
            "rows_loaded bigint, rows_rejected bigint)"
        )
        for table, columns in reference.TABLES.items():
            connection.execute(f"create table sales.{table} ({', '.join(f'{name} {kind}' for name, kind in columns)})")
            placeholders = ", ".join("?" for _ in columns)
            for row in expected[table]:
                connection.execute(f"insert into sales.{table} values ({placeholders})", list(row))
        for source, line in expected["rejects"]:
            connection.execute("insert into meta.rejects values ('sales', ?, ?)", [source, line])
        for source, rows_in, loaded, rejected in expected["batches"]:
            connection.execute(
                "insert into meta.batches values ('sales', ?, 'loaded', ?, ?, ?)", [source, rows_in, loaded, rejected]
            )
    return path


def test_the_warehouse_check_passes_on_the_expected_rows_and_names_a_difference(tmp_path):
    source = tmp_path / "exports"
    write_fx_folder(source)
    write(source, "customers_2026-10-01.csv", CUSTOMER_HEADER, "C1,Anna,anna@example.com,DE,consumer,2026-10-01")
    warehouse = warehouse_from(reference.expected_sales(source), tmp_path / "warehouse.duckdb")

    reference.assert_sales_match_independent_computation(source, warehouse)

    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("update sales.fact_orders set amount_usd = 10.12 where order_id = 'O1'")
        connection.execute("delete from meta.rejects")
    with pytest.raises(AssertionError, match=r"(?s)fact_orders.*'O1'.*amount_usd.*10\.13.*10\.12.*meta\.rejects"):
        reference.assert_sales_match_independent_computation(source, warehouse)


# ------------------------------------------------------------------------------------------- the generator


def generate(out: Path, *arguments: str) -> Path:
    command = [sys.executable, "data/generate_sales.py", "--out", str(out), *arguments]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, capture_output=True)
    return out


SMALL = ("--days", "5", "--customers", "120", "--orders-per-day", "100", "--seed", "7")


def test_the_generator_writes_the_same_bytes_for_the_same_seed(tmp_path):
    first = generate(tmp_path / "a", *SMALL)
    second = generate(tmp_path / "b", *SMALL)
    other = generate(tmp_path / "c", *SMALL[:-1], "8")

    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in second.iterdir())
    assert all((first / name).read_bytes() == (second / name).read_bytes() for name in names)
    assert any(
        not (other / name).exists() or (other / name).read_bytes() != (first / name).read_bytes() for name in names
    )
    forms = {name.split(".", 1)[1] for name in names}
    assert forms == {"csv", "csv.gz", "parquet"} and len(names) == 20


# Each kind the generator makes on purpose, and how the reference's reason (or the raw rows) shows it.
BAD_KIND_REASONS = {
    "unknown currency": r"^currency '.*' is not an active ISO 4217 code",
    "zero or negative quantity": r"quantity '(0|-\d+)' must be at least 1",
    "malformed timestamp": r"(order_ts|updated_at) '.*' is not an ISO 8601 timestamp",
    "offset-less timestamp": r"(order_ts|updated_at) '.*' has no UTC offset",
    "invalid date": r"'\d{4}-(02-30|11-31|02-29|13-01).*' is not a real date",
    "bad email": r"email '.*' is not shaped like",
    "unknown country": r"country '.*' is not an ISO 3166-1",
    "too many decimals": r"(unit_price|rate_to_usd) '.*' has more than \d+ decimal places",
    "wrong field count": r"^has \d+ fields, the header has \d+$",
    "blank line": r"^blank line$",
    "duplicate key": r"occurs \d+ times in this file",
    "missing column": r"^the file has no column '\w+'$",
    "extra column": r"^unexpected column 'discount'$",
}


def bad_kinds_found(folder: Path) -> set[str]:
    found = set()
    for export in reference.read_exports(folder).files:
        raws_of_duplicate: dict[str, list[str]] = {}
        for _, reason, raw in export.rejects:
            found.update(kind for kind, pattern in BAD_KIND_REASONS.items() if re.search(pattern, reason))
            if "occurs" in reason:
                raws_of_duplicate.setdefault(reason, []).append(re.sub(r"\s", "", raw))
        for raws in raws_of_duplicate.values():
            found.add("identical duplicates" if len(set(raws)) == 1 else "conflicting duplicates")
    return found


def test_a_generated_folder_holds_every_kind_of_bad_input(tmp_path):
    folder = generate(tmp_path / "sales", *SMALL, "--bad-share", "0.03")

    assert bad_kinds_found(folder) == {*BAD_KIND_REASONS, "identical duplicates", "conflicting duplicates"}
    expected = reference.expected_sales(folder)
    dim_customer, orders = expected["dim_customer"], expected["fact_orders"]
    assert any(row[10] for row in dim_customer) and any(row[2] > 1 for row in dim_customer)
    assert any(row[11] is None for row in orders)
    half_way = [
        row
        for row in orders
        if row[11] is not None
        and (row[10] * row[11]).normalize().as_tuple().exponent == -3
        and (row[10] * row[11]).normalize().as_tuple().digits[-1] == 5
    ]
    assert half_way and all(
        row[12] == (row[10] * row[11]).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP") for row in half_way
    )
    assert any(row[6] is None for row in expected["fact_order_lines"])


WHOLE_FILE_KINDS = {"missing column", "extra column"}


def test_the_bundled_samples_are_small_varied_and_hold_every_kind_of_bad_input_between_them():
    files = sorted(SAMPLE.iterdir())
    assert sum(path.stat().st_size for path in files) < 600_000
    assert {path.name.split(".", 1)[1] for path in files} == {"csv", "csv.gz", "parquet"}
    # the files rejected whole (they fail a run) are in their own sample, so that the main one can end Completed
    assert bad_kinds_found(SAMPLE) == {*BAD_KIND_REASONS, "identical duplicates", "conflicting duplicates"} - (
        WHOLE_FILE_KINDS
    )
    assert bad_kinds_found(SAMPLE_DRIFT) == WHOLE_FILE_KINDS
    expected = reference.expected_sales(SAMPLE)
    assert expected["daily_revenue"] and any("\n" in (row[3] or "") for row in expected["dim_customer"])
