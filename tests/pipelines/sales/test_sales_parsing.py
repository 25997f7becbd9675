"""Validating sales exports: every kind of bad value gets a reject with a reason a person can act on, a file with
the wrong columns is quarantined whole, duplicate keys are caught across chunks, and rows in = loaded + rejected."""

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sales_exports import write_export

from tasks.core.batches import make_batch
from tasks.core.records import read_export_records
from tasks.core.staging import stage_batch
from tasks.kit.exports import parse_export_records
from tasks.pipelines.sales.source import CUSTOMERS, FX_RATES, ORDER_LINES, ORDERS, PIPELINE, SALES_EXPORTS


def parse(tmp_path, name: str, rows: list[list[str]], kind, header: list[str] | None = None):
    path = write_export(tmp_path, name, rows, header)
    records = pl.concat([chunk.lines for chunk in read_export_records(path, 1 << 20)])
    return parse_export_records(records, kind)


def reasons(parsed) -> list[tuple[int, str]]:
    return [(row["line_number"], row["reason"]) for row in parsed.rejects.to_dicts()]


ORDER = ["O1", "C1", "2026-10-01T10:00:00+02:00", "paid", "EUR", "2026-10-01T10:00:00Z"]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("order_id", "", "order_id: missing"),
        ("order_ts", "2026-10-01T10:00:00", "order_ts: '2026-10-01T10:00:00' has no UTC offset (add Z or ±hh:mm)"),
        (
            "order_ts",
            "2026-02-30T10:00:00Z",
            "order_ts: '2026-02-30T10:00:00Z' is not an ISO 8601 date and time with a UTC offset",
        ),
        (
            "order_ts",
            "01/10/2026 10:00",
            "order_ts: '01/10/2026 10:00' is not an ISO 8601 date and time with a UTC offset",
        ),
        (
            "order_ts",
            "2026-10-01T25:00:00Z",
            "order_ts: '2026-10-01T25:00:00Z' is not an ISO 8601 date and time with a UTC offset",
        ),
        ("order_ts", "1899-12-31T10:00:00Z", "order_ts: '1899-12-31T10:00:00Z' is outside the years 1900-2199"),
        (
            "order_ts",
            "2026-10-01T10:00:00+15:00",
            "order_ts: '2026-10-01T10:00:00+15:00' is not an ISO 8601 date and time with a UTC offset",
        ),
        ("status", "lost", "status: 'lost' is not one of placed, paid, shipped, completed, cancelled, refunded"),
        ("currency", "XYZ", "currency: 'XYZ' is not an ISO 4217 currency code"),
        ("currency", "XAU", "currency: 'XAU' is not an ISO 4217 currency code"),
        ("updated_at", "", "updated_at: missing"),
    ],
    ids=[
        "missing-id",
        "no-offset",
        "no-such-date",
        "not-iso",
        "hour-25",
        "before-1900",
        "offset-beyond-14-hours",
        "unknown-status",
        "unknown-currency",
        "gold-is-not-money",
        "missing-updated-at",
    ],
)
def test_a_bad_order_value_is_rejected_with_its_reason(tmp_path, column, value, reason):
    bad = list(ORDER)
    bad[ORDERS.columns.index(column)] = value

    parsed = parse(tmp_path, "orders_2026-10-01.csv", [ORDER, bad], ORDERS)

    assert reasons(parsed) == [(3, reason)]
    assert parsed.rows.height == 1


def test_order_values_are_typed_and_normalized(tmp_path):
    rows = [
        ["O1", "C1", "2026-10-01T10:00:00+02:00", "Paid", "eur", "2026-10-01 10:00Z"],
        ["O2", "C1", "2026-10-01T23:30:00.25-0500", " shipped ", "USD", "2026-10-02T00:00:00+05"],
    ]

    parsed = parse(tmp_path, "orders_2026-10-01.csv", rows, ORDERS)

    assert parsed.rows.to_dicts() == [
        {
            "export_date": date(2026, 10, 1),
            "line_number": 2,
            "order_id": "O1",
            "customer_id": "C1",
            "order_ts": datetime(2026, 10, 1, 8, tzinfo=UTC),
            "status": "paid",
            "currency": "EUR",
            "updated_at": datetime(2026, 10, 1, 10, tzinfo=UTC),
        },
        {
            "export_date": date(2026, 10, 1),
            "line_number": 3,
            "order_id": "O2",
            "customer_id": "C1",
            "order_ts": datetime(2026, 10, 2, 4, 30, 0, 250000, tzinfo=UTC),
            "status": "shipped",
            "currency": "USD",
            "updated_at": datetime(2026, 10, 1, 19, tzinfo=UTC),
        },
    ]


def test_a_customer_failing_several_rules_gets_every_reason(tmp_path):
    rows = [
        ["C1", "", "not-an-email", "XX", "", "2026-10-01"],
        ["C2", "Ann", "a@b.co", "gb", "smb", "2026-10-01T00:00Z"],
    ]

    parsed = parse(tmp_path, "customers_2026-10-01.csv", rows, CUSTOMERS)

    assert reasons(parsed) == [
        (
            2,
            "name: missing; email: 'not-an-email' is not an email address; "
            "country: 'XX' is not an ISO 3166-1 alpha-2 country code; segment: missing; "
            "updated_at: '2026-10-01' is not an ISO 8601 date and time with a UTC offset",
        )
    ]
    assert parsed.rows.select("customer_id", "country").rows() == [("C2", "GB")]


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("quantity", "-2", "quantity: '-2' must be at least 1"),
        ("quantity", "0", "quantity: '0' must be at least 1"),
        ("quantity", "1.5", "quantity: '1.5' is not a whole number"),
        ("line_no", "first", "line_no: 'first' is not a whole number"),
        ("unit_price", "-0.01", "unit_price: '-0.01' must not be negative"),
        ("unit_price", "1.23456", "unit_price: '1.23456' has more than 4 decimal places or 14 digits before the point"),
        ("unit_price", "1,50", "unit_price: '1,50' is not a decimal number like 12.50"),
        ("sku", " ", "sku: missing"),
        ("line_no", "2147483648", "line_no: '2147483648' is larger than 2147483647"),
        ("quantity", "99999999999999999999", "quantity: '99999999999999999999' is larger than 9223372036854775807"),
    ],
    ids=[
        "negative-quantity",
        "zero-quantity",
        "fractional-quantity",
        "line-no-not-a-number",
        "negative-price",
        "price-too-precise",
        "decimal-comma",
        "blank-sku",
        "line-no-beyond-integer",
        "quantity-beyond-bigint",
    ],
)
def test_a_bad_order_line_is_rejected_with_its_reason(tmp_path, column, value, reason):
    good = ["O1", "1", "SKU", "2", "9.99"]
    bad = ["O1", "2", "SKU", "2", "9.99"]
    bad[ORDER_LINES.columns.index(column)] = value

    parsed = parse(tmp_path, "order_lines_2026-10-01.csv", [good, bad], ORDER_LINES)

    assert reasons(parsed) == [(3, reason)]
    assert parsed.rows.select("unit_price").item() == Decimal("9.99")


def test_fx_rates_must_be_positive_dates_and_a_dollar_is_worth_a_dollar(tmp_path):
    rows = [
        ["2026-10-01", "EUR", "1.0812345678"],
        ["2026-10-01", "USD", "1.01"],
        ["2026-10-32", "GBP", "1.3"],
        ["2026-10-01", "JPY", "0"],
        ["2026-10-01", "CHF", "1.12345678901"],
    ]

    parsed = parse(tmp_path, "fx_rates_2026-10-01.csv", rows, FX_RATES)

    assert reasons(parsed) == [
        (3, "rate_to_usd: '1.01' for USD, which must be 1"),
        (4, "day: '2026-10-32' is not a date (YYYY-MM-DD)"),
        (5, "rate_to_usd: '0' must be greater than 0"),
        (6, "rate_to_usd: '1.12345678901' has more than 10 decimal places or 8 digits before the point"),
    ]
    assert parsed.rows.select("rate_to_usd").item() == Decimal("1.0812345678")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (["order_id", "customer_id", "order_ts", "status", "updated_at"], "the file has no column 'currency'"),
        ([*ORDERS.columns, "coupon"], "unexpected column 'coupon'"),
        (
            ["order_id", "client_id", "order_ts", "status", "currency", "updated_at"],
            "the file has no column 'customer_id'; unexpected column 'client_id'",
        ),
    ],
    ids=["missing-column", "extra-column", "renamed-column"],
)
def test_a_file_with_the_wrong_columns_is_quarantined_whole(tmp_path, header, reason):
    rows = [["x"] * len(header), ["y"] * len(header), ["too", "few"]]

    parsed = parse(tmp_path, "orders_2026-10-01.csv", rows, ORDERS, header=header)

    assert parsed.rows.height == 0
    assert reasons(parsed) == [
        (2, reason),
        (3, reason),
        (4, f"has 2 fields, the header has {len(header)}; {reason}"),
    ]


def test_column_order_and_header_case_do_not_matter(tmp_path):
    header = ["Updated_At", "CURRENCY", "status", "order_ts", "customer_id", "order_id"]

    parsed = parse(tmp_path, "orders_2026-10-01.csv", [list(reversed(ORDER))], ORDERS, header=header)

    assert parsed.rejects.height == 0
    assert parsed.rows.select("order_id", "currency").rows() == [("O1", "EUR")]


def test_duplicate_keys_are_rejected_across_chunks_and_every_row_is_accounted_for(tmp_path):
    rows = [[f"O{number}", "1", "SKU", "1", "1.00"] for number in range(300)]
    rows[250] = ["O7", "1", "SKU", "5", "2.00"]  # conflicts with line 9, hundreds of lines and many chunks later
    rows += [["O9", "1", "SKU", "1", "1.00"], ["O9", "2", "SKU", "1", "1.00"], ["O9", "1", "SKU", "1", "1.00"]]
    rows += [["O8", "x", "SKU", "1", "1.00"]]  # rejected for its value: it takes no part in the key check
    path = write_export(tmp_path / "exports", "order_lines_2026-10-01.csv", rows)
    batch = make_batch(PIPELINE, path)

    staged = stage_batch(batch, SALES_EXPORTS.formats["order_lines"], tmp_path / "staging", chunk_bytes=512)

    rejects = pl.read_parquet(staged.reject_files).sort("line_number")
    assert [(row["line_number"], row["reason"]) for row in rejects.to_dicts()] == [
        (9, "order_id 'O7', line_no '1' occurs 2 times in this file (lines 9, 252)"),
        (11, "order_id 'O9', line_no '1' occurs 3 times in this file (lines 11, 302, 304)"),
        (252, "order_id 'O7', line_no '1' occurs 2 times in this file (lines 9, 252)"),
        (302, "order_id 'O9', line_no '1' occurs 3 times in this file (lines 11, 302, 304)"),
        (304, "order_id 'O9', line_no '1' occurs 3 times in this file (lines 11, 302, 304)"),
        (305, "line_no: 'x' is not a whole number"),
    ]
    # the rows a key check moved out get their text back from the file, which staging read again (staged rows do
    # not keep it): each reject's raw is its line as written, whichever of the many chunks it came from
    lines = path.read_text().splitlines()
    assert rejects["raw"].to_list() == [lines[number - 1] for number in rejects["line_number"]]
    assert (staged.rows_in, staged.rows_parsed, staged.rows_rejected) == (304, 298, 6)
    assert pl.read_parquet(staged.row_files).height == 298
    assert "raw" not in pl.read_parquet_schema(next(Path(staged.directory).glob("rows-*.parquet")))


def test_a_file_appended_to_while_it_is_read_fails_alone_and_loads_in_a_later_run(tmp_path):
    path = write_export(
        tmp_path / "exports",
        "orders_2026-10-01.csv",
        [["O1", "C1", "2026-10-01T10:00:00Z", "paid", "EUR", "2026-10-01T10:00:00Z"]],
    )
    found = make_batch(PIPELINE, path)
    source_format = SALES_EXPORTS.formats["orders"]
    read = source_format.read

    def read_while_a_writer_appends(*arguments):
        chunks = read(*arguments)
        yield next(chunks)
        with path.open("a") as writer:
            writer.write("O2,C1,2026-10-01T11:00:00Z,paid,EUR,2026-10-01T11:00:00Z\n")
        yield from chunks

    appending = dataclasses.replace(source_format, read=read_while_a_writer_appends)
    staged = stage_batch(found, appending, tmp_path / "staging", chunk_bytes=1 << 20)

    size_found = found.size_bytes
    assert staged.error == (
        f"orders_2026-10-01.csv changed while it was read ({size_found} bytes when found, "
        f"{path.stat().st_size} after): it loads in a later run, once it holds still"
    )
    assert (staged.rows_in, staged.rows_parsed, staged.rows_rejected) == (0, 0, 0)
    later = stage_batch(make_batch(PIPELINE, path), source_format, tmp_path / "staging", chunk_bytes=1 << 20)
    assert (later.error, later.rows_in, later.rows_parsed) == (None, 2, 2)


def test_bad_values_in_a_block_read_in_one_pass_are_rejected_with_their_lines_and_text(tmp_path, monkeypatch):
    # no quote anywhere: every block goes to Polars' CSV reader whole (tests/core/test_records.py checks which do)
    rows = [[f"O{number}", "C1", "2026-10-01T10:00:00Z", "paid", "EUR", "2026-10-01T11:00Z"] for number in range(40)]
    rows[3][2] = "2026-10-01 10:00"  # line 5
    rows[30][4] = "xyz"  # line 32
    path = write_export(tmp_path / "exports", "orders_2026-10-01.csv", rows)

    staged = stage_batch(make_batch(PIPELINE, path), SALES_EXPORTS.formats["orders"], tmp_path / "staging", 256)

    rejects = pl.read_parquet(staged.reject_files).sort("line_number")
    assert rejects.rows() == [
        (
            5,
            "O3,C1,2026-10-01 10:00,paid,EUR,2026-10-01T11:00Z",
            "order_ts: '2026-10-01 10:00' has no UTC offset (add Z or ±hh:mm)",
        ),
        (
            32,
            "O30,C1,2026-10-01T10:00:00Z,paid,xyz,2026-10-01T11:00Z",
            "currency: 'xyz' is not an ISO 4217 currency code",
        ),
    ]
    assert (staged.rows_in, staged.rows_parsed, staged.rows_rejected) == (40, 38, 2)
    loaded = pl.read_parquet(staged.row_files).sort("line_number")
    assert loaded.get_column("line_number").to_list() == [n for n in range(2, 42) if n not in (5, 32)]
