"""Reading export files as records: RFC 4180 quoting across lines, CRLF and BOM, malformed records kept with a
problem, chunking that never changes the result, gzip and Parquet."""

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tasks.core.records
from tasks.core.reading import BatchDataError
from tasks.core.records import read_export_records


def records(path: Path, chunk_bytes: int = 1 << 20) -> list[dict]:
    chunks = list(read_export_records(path, chunk_bytes))
    return pl.concat([chunk.lines for chunk in chunks], how="diagonal_relaxed").drop("export_date").to_dicts()


TRICKY_CSV = (
    b"\xef\xbb\xbfID, Name ,note\r\n"
    b'1,"Smith, J.","said ""hi"""\r\n'
    b'2,"two\nlines",x\n'
    b"\n"
    b"3,too,many,fields\n"
    b"4,,\n"
    b'5,"three\r\nline\nfield",end'  # no final newline
)


def test_quoted_separators_quotes_and_newlines_crlf_and_a_bom_are_read_as_written(tmp_path):
    path = tmp_path / "customers_2026-10-01.csv"
    path.write_bytes(TRICKY_CSV)

    assert records(path) == [
        {
            "line_number": 2,
            "raw": '1,"Smith, J.","said ""hi"""',
            "record_problem": None,
            "id": "1",
            "name": "Smith, J.",
            "note": 'said "hi"',
        },
        {
            "line_number": 3,
            "raw": '2,"two\nlines",x',
            "record_problem": None,
            "id": "2",
            "name": "two\nlines",
            "note": "x",
        },
        {"line_number": 5, "raw": "", "record_problem": "blank line", "id": None, "name": None, "note": None},
        {
            "line_number": 6,
            "raw": "3,too,many,fields",
            "record_problem": "has 4 fields, the header has 3",
            "id": None,
            "name": None,
            "note": None,
        },
        {"line_number": 7, "raw": "4,,", "record_problem": None, "id": "4", "name": None, "note": None},
        # a CRLF inside a quoted field is a line end too: read as \n, like every line end
        {
            "line_number": 8,
            "raw": '5,"three\nline\nfield",end',
            "record_problem": None,
            "id": "5",
            "name": "three\nline\nfield",
            "note": "end",
        },
    ]


@pytest.mark.parametrize("chunk_bytes", [1, 7, 64, 1 << 20], ids=["1-byte", "7-bytes", "64-bytes", "1-MiB"])
def test_the_chunk_size_never_changes_the_records(tmp_path, chunk_bytes):
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_bytes(TRICKY_CSV)

    assert records(path, chunk_bytes) == records(path)


def test_gzip_is_read_like_the_plain_file(tmp_path):
    plain = tmp_path / "orders_2026-10-01.csv"
    plain.write_bytes(TRICKY_CSV)
    packed = tmp_path / "orders_2026-10-02.csv.gz"
    packed.write_bytes(gzip.compress(TRICKY_CSV))

    assert records(packed, 16) == records(plain)


def one_pass_outcomes(monkeypatch) -> list[bool]:
    """Whether each block offered to the one-pass reader was taken by it (True) or left to the line-by-line path."""
    outcomes: list[bool] = []
    one_pass = tasks.core.records._plain_records

    def spied(*arguments):
        split = one_pass(*arguments)
        outcomes.append(split is not None)
        return split

    monkeypatch.setattr(tasks.core.records, "_plain_records", spied)
    return outcomes


def test_blocks_without_quotes_are_split_in_one_pass_and_read_as_written(tmp_path, monkeypatch):
    outcomes = one_pass_outcomes(monkeypatch)
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_bytes(b"\xef\xbb\xbfID, Name ,note\r\n1,Smith J., x \r\n2,,\r\n3,a,b")  # no final newline

    assert records(path) == [
        {
            "line_number": 2,
            "raw": "1,Smith J., x ",
            "record_problem": None,
            "id": "1",
            "name": "Smith J.",
            "note": " x ",
        },
        {"line_number": 3, "raw": "2,,", "record_problem": None, "id": "2", "name": None, "note": None},
        {"line_number": 4, "raw": "3,a,b", "record_problem": None, "id": "3", "name": "a", "note": "b"},
    ]
    assert outcomes == [True, True]  # the lines up to the last newline, then the last line


@pytest.mark.parametrize("chunk_bytes", [8, 1 << 20], ids=["8-bytes", "1-MiB"])
def test_a_block_with_bad_lines_among_good_ones_is_read_line_by_line_and_keeps_every_position(
    tmp_path, monkeypatch, chunk_bytes
):
    outcomes = one_pass_outcomes(monkeypatch)
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_text("a,b\n1,2\n3,4\n\n5\n6,7,8\n9,10\n")

    assert [
        (row["line_number"], row["raw"], row["record_problem"], row["a"]) for row in records(path, chunk_bytes)
    ] == [
        (2, "1,2", None, "1"),
        (3, "3,4", None, "3"),
        (4, "", "blank line", None),
        (5, "5", "has 1 fields, the header has 2", None),
        (6, "6,7,8", "has 3 fields, the header has 2", None),
        (7, "9,10", None, "9"),
    ]
    # in 8-byte reads the first block (the header and line 2) and the last (line 7) are plain, the others not
    assert outcomes == ([True, False, False, True] if chunk_bytes == 8 else [False])


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'a,b\n1,"2"\n', [(2, '1,"2"', None)]),
        (b"a,b\n1,2\r\r\n", [(2, "1,2\r", None)]),  # only a line end's CR goes
        (b"a\n1\n\n", [(2, "1", None), (3, "", "blank line")]),  # with one column, a blank line has its fields
    ],
    ids=["quote", "lone-cr", "one-column"],
)
def test_what_the_one_pass_reader_cannot_tell_apart_is_left_to_the_line_by_line_path(
    tmp_path, monkeypatch, content, expected
):
    outcomes = one_pass_outcomes(monkeypatch)
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_bytes(content)

    assert [(row["line_number"], row["raw"], row["record_problem"]) for row in records(path)] == expected
    assert outcomes == [False]


def test_a_quote_left_open_at_the_end_of_the_file_is_one_record_with_its_problem(tmp_path):
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_text('a,b\n1,2\n3,"never closed\n4,5\n')

    assert [(row["line_number"], row["raw"], row["record_problem"]) for row in records(path)] == [
        (2, "1,2", None),
        (3, '3,"never closed\n4,5', "a quoted field is not closed before the end of the file"),
    ]


def test_a_misplaced_quote_rejects_its_record_with_the_reason_and_the_others_load(tmp_path):
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_text('a,b\n1,2\n""x,3\n4,"5"z\n"6",7\n')
    misplaced = "a quote is misplaced: a field with a quote in it must be quoted whole, its quotes doubled"

    assert [(row["line_number"], row["record_problem"], row["a"]) for row in records(path)] == [
        (2, None, "1"),
        (3, misplaced, None),
        (4, misplaced, None),
        (5, None, "6"),
    ]


def test_a_stray_quote_costs_its_own_line_once_a_record_grows_too_long(tmp_path, monkeypatch):
    monkeypatch.setattr(tasks.core.records, "MAX_LINES_PER_RECORD", 3)
    path = tmp_path / "orders_2026-10-01.csv"
    path.write_text('a,b\n1,5" screen\n2,x\n3,y\n4,z\n5,w\n')

    assert [(row["line_number"], row["record_problem"], row["a"]) for row in records(path, 8)] == [
        (2, "a quote opened on this line is not closed within 3 lines", None),
        (3, None, "2"),
        (4, None, "3"),
        (5, None, "4"),
        (6, None, "5"),
    ]


def test_repeated_and_reserved_header_names_become_unexpected_columns(tmp_path):
    path = tmp_path / "fx_rates_2026-10-01.csv"
    path.write_text("day,Day,raw\n1,2,3\n")

    assert records(path) == [
        {
            "line_number": 2,
            "raw": "1,2,3",
            "record_problem": None,
            "day": "1",
            "day (repeated 2)": "2",
            "raw (repeated 2)": "3",
        }
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("orders_2026-10-01.csv", b"", "has no header line"),
        ("orders.csv", b"a\n1\n", "carries no export date"),
        ("orders_2026-10-01.csv", b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        ("orders_2026-10-01.parquet", b"PAR1 not really", "not a readable Parquet file"),
        ("orders_2026-10-01.csv", b'""id,b\n1,2\n', "the header line is not CSV: a quote is misplaced"),
    ],
    ids=["empty", "no-date-in-name", "not-utf8", "corrupt-parquet", "misquoted-header"],
)
def test_unreadable_files_are_batch_data_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(BatchDataError, match=message):
        records(path)


def test_parquet_rows_become_text_with_instants_in_iso_form_and_raw_json(tmp_path):
    path = tmp_path / "orders_2026-10-01.parquet"
    table = pa.table(
        {
            "Order_ID": ["O1", "O2", None],
            "order_ts": pa.array([datetime(2026, 10, 1, 8, 30, tzinfo=UTC)] * 3, pa.timestamp("us", "UTC")),
            "amount": pa.array([Decimal("1.50"), Decimal("2.00"), None], pa.decimal128(10, 2)),
            "lines": [1, 2, 3],
        }
    )
    pq.write_table(table, path, row_group_size=2)

    rows = records(path, chunk_bytes=1)

    assert [row["line_number"] for row in rows] == [1, 2, 3]
    assert rows[0] == {
        "order_id": "O1",
        "order_ts": "2026-10-01T08:30:00+00:00",
        "amount": "1.50",
        "lines": "1",
        "line_number": 1,
        "raw": '{"order_id":"O1","order_ts":"2026-10-01T08:30:00+00:00","amount":"1.50","lines":"1"}',
        "record_problem": None,
    }
    assert rows[2]["order_id"] is None
