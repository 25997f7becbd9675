"""Checks of the independent reference (tests/support/independent_access_logs.py) on hand-written logs.

Every expected number below was worked out by hand from the lines, not by running the code.
"""

from __future__ import annotations

import gzip
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

try:
    from independent_access_logs import choose_reader, compute_expected, list_input_files, split_lines
except ImportError:  # tests/ became a package
    from tests.independent_access_logs import choose_reader, compute_expected, list_input_files, split_lines

from flow_process import generate_logs
from independent_sessions import read_requests, sessions, sessions_daily

UA = '"Mozilla/5.0"'
CURL = '"http://ex.com/" "curl/8.0"'  # referer and user agent
QUOTED = '"-" "Agent \\"quoted\\" v1"'  # user agent with escaped quotes

# a.log — 11 lines: 4 well-formed (1, 2, 6, 9), 7 rejected.
A_LINES = [
    # 1 ok: 23:30 at -0100 -> 2026-01-01 00:30 UTC; path /index.html
    '10.0.0.1 - - [31/Dec/2025:23:30:00 -0100] "GET /index.html?x=1 HTTP/1.1" 200 1000 "-" ' + UA,
    # 2 ok: 01:15 at +0200 -> 2025-12-31 23:15 UTC; bytes "-" = 0; 404
    '10.0.0.2 - alice [01/Jan/2026:01:15:00 +0200] "POST /api/items HTTP/1.1" 404 - ' + CURL,
    # 3 rejected: empty line
    "",
    # 4 rejected: 31 April does not exist
    '10.0.0.1 - - [31/Apr/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"',
    # 5 rejected: 2026 is not a leap year
    '10.0.0.3 - - [29/Feb/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "x"',
    # 6 ok: 2028 is a leap year; 503; escaped quotes in the user agent
    'host.example.org - - [29/Feb/2028:12:00:00 +0000] "GET /leap HTTP/1.0" 503 20 ' + QUOTED,
    # 7 rejected: status 600
    '10.0.0.1 - - [01/Jan/2026:00:45:10 +0000] "GET /index.html HTTP/1.1" 600 10 "-" "x"',
    # 8 rejected: text after the user agent
    '10.0.0.1 - - [01/Jan/2026:00:45:10 +0000] "GET /index.html HTTP/1.1" 200 10 "-" "x" extra',
    # 9 ok: IPv6 client, 2026-01-01 00:59:59 UTC, 304, bytes 0
    '::1 - - [01/Jan/2026:00:59:59 +0000] "GET /index.html HTTP/1.1" 304 - "-" "x"',
    # 10 rejected: year 1899
    '10.0.0.1 - - [01/Jan/1899:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"',
    # 11 rejected: offset hours 15
    '10.0.0.1 - - [01/Jan/2026:00:00:00 +1500] "GET / HTTP/1.1" 200 1 "-" "x"',
]

# b.log.gz — 6 lines: 4 well-formed (1, 2, 5, 6), 2 rejected; no final newline.
B_LINES = [
    # 1 ok: 05:00 at +0500 -> 2026-01-01 00:00 UTC; path /api/items
    '10.0.0.2 - - [01/Jan/2026:05:00:00 +0500] "GET /api/items?page=2 HTTP/1.1" 200 300 "-" "curl/8.0"',
    # 2 ok: 18:59:59 at -0500 -> 2025-12-31 23:59:59 UTC; 500
    '10.0.0.4 - - [31/Dec/2025:18:59:59 -0500] "GET /about HTTP/2.0" 500 50 "-" "x"',
    # 3 rejected: request logged as "-"
    '10.0.0.5 - - [01/Jan/2026:00:10:00 +0000] "-" 400 0 "-" "-"',
    # 4 rejected: unescaped quote ends the user agent early, leaving text after it
    '10.0.0.6 - - [01/Jan/2026:00:10:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "bad "ua"',
    # 5 ok: target "?q=1" -> empty path; 2026-01-01 00:20 UTC
    '10.0.0.2 - - [01/Jan/2026:00:20:00 +0000] "GET ?q=1 HTTP/1.1" 200 7 "-" "x"',
    # 6 ok: 01:00 at +0100 -> 2026-01-01 00:00 UTC; referer ends with an escaped backslash
    '10.0.0.7 - - [01/Jan/2026:01:00:00 +0100] "HEAD /index.html HTTP/1.1" 200 - "ref\\\\" "ua"',
]


def _write_fixture(root: Path) -> Path:
    src = root / "src"
    src.mkdir()
    (src / "a.log").write_bytes(("\n".join(A_LINES) + "\n").encode())
    (src / "b.log.gz").write_bytes(gzip.compress("\n".join(B_LINES).encode()))
    # not inputs: other suffixes, a directory named like a log, a log in a subdirectory
    (src / "notes.txt").write_text(A_LINES[0] + "\n")
    (src / "a.log.1").write_text(A_LINES[0] + "\n")
    (src / "d.log").mkdir()
    (src / "d.log" / "x.log").write_text(A_LINES[0] + "\n")
    return src


def _frame(rows: list[tuple], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row")


EXPECTED_PER_FILE = _frame(
    [("a.log", 11, 4, 7), ("b.log.gz", 6, 4, 2)],
    {"file": pl.String, "lines": pl.Int64, "well_formed": pl.Int64, "rejected": pl.Int64},
)
EXPECTED_HOURLY = _frame(
    [
        (datetime(2025, 12, 31, 23), 2, 50, 1, 1),  # a2 (404, 0 B) + b2 (500, 50 B)
        (datetime(2026, 1, 1, 0), 5, 1307, 0, 0),  # a1 1000 + a9 0 + b1 300 + b5 7 + b6 0
        (datetime(2028, 2, 29, 12), 1, 20, 0, 1),  # a6 (503)
    ],
    {
        "hour": pl.Datetime("us"),
        "requests": pl.Int64,
        "bytes": pl.Int64,
        "status_4xx": pl.Int64,
        "status_5xx": pl.Int64,
    },
)
EXPECTED_DAILY = _frame(
    [
        (date(2025, 12, 31), 2, 2),  # 10.0.0.2, 10.0.0.4
        (date(2026, 1, 1), 5, 4),  # 10.0.0.1, ::1, 10.0.0.2 (twice), 10.0.0.7
        (date(2028, 2, 29), 1, 1),  # host.example.org
    ],
    {"day": pl.Date, "requests": pl.Int64, "distinct_clients": pl.Int64},
)
EXPECTED_TOP_PATHS = _frame(
    [
        (date(2025, 12, 31), 1, "/about", 1),  # tie at 1: "/about" < "/api/items"
        (date(2025, 12, 31), 2, "/api/items", 1),
        (date(2026, 1, 1), 1, "/index.html", 3),  # a1, a9, b6
        (date(2026, 1, 1), 2, "", 1),  # tie at 1: "" < "/api/items"
        (date(2026, 1, 1), 3, "/api/items", 1),
        (date(2028, 2, 29), 1, "/leap", 1),
    ],
    {"day": pl.Date, "rank": pl.Int32, "path": pl.String, "requests": pl.Int64},
)


def _assert_frame(actual: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert actual.columns == expected.columns
    assert actual.schema == expected.schema, (actual.schema, expected.schema)
    assert actual.rows() == expected.rows()


@pytest.mark.parametrize("reader", ["auto", "sql", "python"])
def test_hand_written_logs(tmp_path: Path, reader: str) -> None:
    src = _write_fixture(tmp_path)
    assert [p.name for p in list_input_files(src)] == ["a.log", "b.log.gz"]
    result = compute_expected(src, reader=reader)
    assert set(result) == {"per_file", "hourly", "daily", "top_paths"}
    _assert_frame(result["per_file"], EXPECTED_PER_FILE)
    _assert_frame(result["hourly"], EXPECTED_HOURLY)
    _assert_frame(result["daily"], EXPECTED_DAILY)
    _assert_frame(result["top_paths"], EXPECTED_TOP_PATHS)


def test_auto_reader_uses_read_csv_on_clean_files(tmp_path: Path) -> None:
    src = _write_fixture(tmp_path)
    assert choose_reader(list_input_files(src)) == ("sql", None)


def test_split_lines_rules() -> None:
    assert split_lines(b"") == []
    assert split_lines(b"\n") == [b""]
    assert split_lines(b"a\nb\n") == [b"a", b"b"]
    assert split_lines(b"a\nb") == [b"a", b"b"]
    assert split_lines(b"a\n\nb\n") == [b"a", b"", b"b"]
    assert split_lines(b"a\r\nb") == [b"a\r", b"b"]


@pytest.mark.parametrize("reader", ["sql", "python"])
def test_line_counting(tmp_path: Path, reader: str) -> None:
    ok = A_LINES[0]
    (tmp_path / "empty.log").write_bytes(b"")
    (tmp_path / "newline.log").write_bytes(b"\n")  # one empty line
    (tmp_path / "no_final_newline.log").write_bytes(f"{ok}\n{ok}".encode())  # 2 lines
    (tmp_path / "final_newline.log").write_bytes(f"{ok}\n{ok}\n".encode())  # 2 lines
    (tmp_path / "blank_middle.log.gz").write_bytes(gzip.compress(f"{ok}\n\n{ok}\n".encode()))  # 3 lines
    (tmp_path / "quotes_commas.log").write_bytes(b'"x",y;z\n#comment\n')  # 2 rejected lines
    per_file = compute_expected(tmp_path, reader=reader)["per_file"]
    assert per_file.rows() == [
        ("blank_middle.log.gz", 3, 2, 1),
        ("empty.log", 0, 0, 0),
        ("final_newline.log", 2, 2, 0),
        ("newline.log", 1, 0, 1),
        ("no_final_newline.log", 2, 2, 0),
        ("quotes_commas.log", 2, 0, 2),
    ]


def test_carriage_return_and_invalid_utf8_fall_back_to_exact_reader(tmp_path: Path) -> None:
    ok = A_LINES[0].encode()
    # line 1: well-formed but followed by "\r" (text after the user agent) -> rejected
    # line 2: well-formed; line 3: not UTF-8 -> rejected; line 4: UTF-8 user agent -> well-formed
    utf8_ua = '10.0.0.9 - - [01/Jan/2026:00:00:00 +0000] "GET /ü HTTP/1.1" 200 1 "-" "Müller"'.encode()
    data = ok + b"\r\n" + ok + b"\n" + ok[:-2] + b'\xff"\n' + utf8_ua + b"\n"
    (tmp_path / "crlf.log").write_bytes(data)
    reader, why = choose_reader(list_input_files(tmp_path))
    assert reader == "python" and "carriage return" in why
    result = compute_expected(tmp_path)
    assert result["per_file"].rows() == [("crlf.log", 4, 2, 2)]
    day = date(2026, 1, 1)
    assert result["top_paths"].rows() == [(day, 1, "/index.html", 1), (day, 2, "/ü", 1)]


def test_top_ten_per_day(tmp_path: Path) -> None:
    # /p01 .. /p12 once each, plus /p12 twice more and /p07 once more, all on 2026-03-01 UTC.
    paths = [f"/p{i:02d}" for i in range(1, 13)] + ["/p12", "/p12", "/p07"]
    lines = [f'10.0.0.1 - - [01/Mar/2026:10:00:00 +0000] "GET {p}?a=b HTTP/1.1" 200 1 "-" "x"' for p in paths]
    (tmp_path / "many.log").write_text("\n".join(lines) + "\n")
    top = compute_expected(tmp_path)["top_paths"]
    d = date(2026, 3, 1)
    assert top.rows() == [
        (d, 1, "/p12", 3),
        (d, 2, "/p07", 2),
        (d, 3, "/p01", 1),
        (d, 4, "/p02", 1),
        (d, 5, "/p03", 1),
        (d, 6, "/p04", 1),
        (d, 7, "/p05", 1),
        (d, 8, "/p06", 1),
        (d, 9, "/p08", 1),
        (d, 10, "/p09", 1),
    ]


def test_empty_directory(tmp_path: Path) -> None:
    result = compute_expected(tmp_path)
    assert all(frame.height == 0 for frame in result.values())
    assert result["hourly"].columns == ["hour", "requests", "bytes", "status_4xx", "status_5xx"]


@pytest.mark.parametrize("mix", ["browsing", "bot-heavy"])
@pytest.mark.parametrize("reader", ["sql", "python"])
def test_the_benchmark_s_sessions_equal_the_python_sessionizer_s(tmp_path: Path, mix: str, reader: str) -> None:
    # bench/access_logs.py times this SQL against the pipeline: it must cut the sessions the specification says
    source = generate_logs(tmp_path / "logs", 1, 5, "--days", "2", "--mix", mix)
    expected = sessions(read_requests(source), gap_minutes=20)

    result = compute_expected(source, reader=reader, sessions=True, session_gap_minutes=20)

    assert result["sessions"].rows() == expected
    daily = result["sessions_daily"].select("day", "sessions", "visitors").rows()
    assert daily == [(day, count, visitors) for day, count, visitors, *_ in sessions_daily(expected)]
    one_request = sum(1 for row in expected if row[5] == 1) / len(expected)
    # the bot-heavy mix is the one where most visitors make one request
    assert (one_request > 0.8) == (mix == "bot-heavy"), one_request
