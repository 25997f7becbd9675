"""Parsing access-log lines into `logs.requests` rows and rejects (tasks/pipelines/access_logs/source.py).

Every expected value below was worked out by hand from the specification of the Combined Log Format (single
spaces between fields; ranges, month names and real dates; referer and user agent kept as logged), never by
running the parser and copying its output.
"""

import re
from datetime import date, datetime

import polars as pl
import pytest
from log_files import log_line as shared_log_line
from polars.testing import assert_frame_equal

from tasks.core.staging import ParsedChunk
from tasks.core.validation import REJECT_SCHEMA
from tasks.pipelines.access_logs.source import REQUEST_COLUMNS, explain_malformed, parse_access_log_lines

COLUMNS = [
    "line_number",
    "client",
    "ident",
    "user",
    "ts_utc",
    "utc_offset_minutes",
    "hour",
    "day",
    "method",
    "path",
    "query",
    "protocol",
    "status",
    "bytes",
    "referer",
    "user_agent",
]


def log_line(**parts: str) -> str:
    """A well-formed line with a realistic user agent; change one part to make a variant."""
    return shared_log_line(**{"user_agent": "Mozilla/5.0 (X11; Linux x86_64)", **parts})


GOOD = log_line()


def expected_row(**changes) -> dict:
    """The row of `GOOD` (10/Oct/2026:13:55:36 +0000, GET /index.html), with `changes`."""
    row = {
        "line_number": 1,
        "client": "192.0.2.1",
        "ident": "-",
        "user": "-",
        "ts_utc": datetime(2026, 10, 10, 13, 55, 36),
        "utc_offset_minutes": 0,
        "hour": datetime(2026, 10, 10, 13),
        "day": date(2026, 10, 10),
        "method": "GET",
        "path": "/index.html",
        "query": None,
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 512,
        "referer": "-",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    }
    assert set(changes) <= set(row), set(changes) - set(row)
    return row | changes


def lines_frame(raws: list[str], first_line_number: int = 1) -> pl.DataFrame:
    return pl.DataFrame(
        {"line_number": range(first_line_number, first_line_number + len(raws)), "raw": raws},
        schema={"line_number": pl.Int64, "raw": pl.String},
    )


def rows_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REQUEST_COLUMNS)


def when(timestamp: str, utc: datetime, offset_minutes: int) -> dict:
    """The line parts and expected row parts of a timestamp whose UTC time is `utc`."""
    return {
        "line": {"timestamp": timestamp},
        "row": {
            "ts_utc": utc,
            "utc_offset_minutes": offset_minutes,
            "hour": utc.replace(minute=0, second=0),
            "day": utc.date(),
        },
    }


def variant(line: dict, **row) -> dict:
    return {"line": line, "row": row}


WELL_FORMED = {
    "plain": variant({}),
    "ipv6 client": variant({"client": "2001:db8::1"}, client="2001:db8::1"),
    "ipv6 client, full form": variant(
        {"client": "2001:0db8:0000:0000:0000:ff00:0042:8329"}, client="2001:0db8:0000:0000:0000:ff00:0042:8329"
    ),
    "host name client": variant({"client": "crawler-7.example.com"}, client="crawler-7.example.com"),
    "ident and user name": variant({"ident": "identd-x", "user": "frank"}, ident="identd-x", user="frank"),
    "method POST": variant({"request": "POST /api/items HTTP/1.1"}, method="POST", path="/api/items"),
    "method HEAD": variant({"request": "HEAD / HTTP/1.0"}, method="HEAD", path="/", protocol="HTTP/1.0"),
    "method DELETE": variant({"request": "DELETE /items/7 HTTP/1.1"}, method="DELETE", path="/items/7"),
    "method PROPFIND (WebDAV)": variant({"request": "PROPFIND /dav/ HTTP/1.1"}, method="PROPFIND", path="/dav/"),
    "method OPTIONS with target *": variant({"request": "OPTIONS * HTTP/1.1"}, method="OPTIONS", path="*"),
    "method CONNECT with authority target": variant(
        {"request": "CONNECT example.com:443 HTTP/1.1"}, method="CONNECT", path="example.com:443"
    ),
    "one-letter method": variant({"request": "X /x HTTP/1.1"}, method="X", path="/x"),
    "absolute URI target": variant(
        {"request": "GET http://example.com/a?b=1 HTTP/1.1"}, path="http://example.com/a", query="b=1"
    ),
    "HTTP/2.0": variant({"request": "GET /index.html HTTP/2.0"}, protocol="HTTP/2.0"),
    "query string": variant({"request": "GET /search?q=a+b&x=1 HTTP/1.1"}, path="/search", query="q=a+b&x=1"),
    "second ? belongs to the query": variant({"request": "GET /a?b?c HTTP/1.1"}, path="/a", query="b?c"),
    "empty query": variant({"request": "GET /a? HTTP/1.1"}, path="/a", query=""),
    "target is only a query": variant({"request": "GET ?a=1 HTTP/1.1"}, path="", query="a=1"),
    "target is only ?": variant({"request": "GET ? HTTP/1.1"}, path="", query=""),
    "percent-encoded target": variant({"request": "GET /a%20b%22 HTTP/1.1"}, path="/a%20b%22"),
    "bytes -": variant({"size": "-"}, bytes=0),
    "bytes 0": variant({"size": "0"}, bytes=0),
    "bytes with leading zeros": variant({"size": "0012"}, bytes=12),
    "bytes largest Int64": variant({"size": "9223372036854775807"}, bytes=9223372036854775807),
    "status 100": variant({"status": "100"}, status=100),
    "status 599": variant({"status": "599"}, status=599),
    "referer URL": variant({"referer": "https://example.com/?q=1"}, referer="https://example.com/?q=1"),
    "escaped quotes in referer": variant({"referer": r"http://ex.com/?q=\"x\""}, referer=r"http://ex.com/?q=\"x\""),
    "escaped quote, space, quote looks like a separator": variant(
        {"referer": r"a\" \"b", "user_agent": r"c\" \"d"}, referer=r"a\" \"b", user_agent=r"c\" \"d"
    ),
    "escaped backslash in user agent": variant({"user_agent": r"C:\\dir\\agent"}, user_agent=r"C:\\dir\\agent"),
    "user agent ends with an escaped backslash": variant({"user_agent": "agent \\\\"}, user_agent="agent \\\\"),
    "hex escape in referer and user agent": variant(
        {"referer": r"\x41\x42", "user_agent": r"agent\x41"}, referer=r"\x41\x42", user_agent=r"agent\x41"
    ),
    "non-ASCII UTF-8 user agent": variant(
        {"user_agent": "Café/1.0 (日本語; Ünïcödé) 🚀"}, user_agent="Café/1.0 (日本語; Ünïcödé) 🚀"
    ),
    "empty referer and user agent": variant({"referer": "", "user_agent": ""}, referer="", user_agent=""),
    "spec example +0200 goes back a day": when("10/Oct/2026:01:30:00 +0200", datetime(2026, 10, 9, 23, 30), 120),
    "offset +1400": when("10/Oct/2026:01:30:00 +1400", datetime(2026, 10, 9, 11, 30), 840),
    "offset -0930 adds 9h30": when("10/Oct/2026:20:15:00 -0930", datetime(2026, 10, 11, 5, 45), -570),
    "offset +0000": when("10/Oct/2026:00:00:00 +0000", datetime(2026, 10, 10), 0),
    "offset -0000": when("10/Oct/2026:00:00:00 -0000", datetime(2026, 10, 10), 0),
    "offset +0545": when("10/Oct/2026:06:00:00 +0545", datetime(2026, 10, 10, 0, 15), 345),
    "29/Feb/2028 (leap year)": when("29/Feb/2028:12:00:00 +0000", datetime(2028, 2, 29, 12), 0),
    "29/Feb/2000 (leap century)": when("29/Feb/2000:12:00:00 +0000", datetime(2000, 2, 29, 12), 0),
    "offset crosses into a leap day": when("01/Mar/2028:00:30:00 +0100", datetime(2028, 2, 29, 23, 30), 60),
    "year 1900 first second": when("01/Jan/1900:00:00:00 +0000", datetime(1900, 1, 1), 0),
    "year 2199 last second": when("31/Dec/2199:23:59:59 +0000", datetime(2199, 12, 31, 23, 59, 59), 0),
    "+1400 on the first second of 1900 gives 1899 UTC": when(
        "01/Jan/1900:00:00:00 +1400", datetime(1899, 12, 31, 10), 840
    ),
    "-1400 on the last second of 2199 gives 2200 UTC": when(
        "31/Dec/2199:23:59:59 -1400", datetime(2200, 1, 1, 13, 59, 59), -840
    ),
    "day 01 of January": when("01/Jan/2026:08:00:00 +0000", datetime(2026, 1, 1, 8), 0),
    "day 31 of July": when("31/Jul/2026:08:00:00 +0000", datetime(2026, 7, 31, 8), 0),
    "day 30 of April": when("30/Apr/2026:08:00:00 +0000", datetime(2026, 4, 30, 8), 0),
    "23:59:59 and -0100 crosses into a new year": when(
        "31/Dec/2026:23:59:59 -0100", datetime(2027, 1, 1, 0, 59, 59), -60
    ),
    "hour truncation keeps the UTC hour": when("10/Oct/2026:13:59:59 -0030", datetime(2026, 10, 10, 14, 29, 59), -30),
}


@pytest.fixture(scope="module")
def well_formed_parsed() -> ParsedChunk:
    """All the well-formed variants parsed as one chunk (a parse costs tens of ms), line i+1 being variant i."""
    return parse_access_log_lines(lines_frame([log_line(**case["line"]) for case in WELL_FORMED.values()]))


@pytest.mark.parametrize("name", WELL_FORMED, ids=list(WELL_FORMED))
def test_well_formed_line_becomes_a_full_row(well_formed_parsed, name):
    line_number = list(WELL_FORMED).index(name) + 1
    this_line = pl.col("line_number") == line_number

    assert well_formed_parsed.rejects.filter(this_line).rows() == []
    assert well_formed_parsed.rows.columns == COLUMNS
    expected = rows_frame([expected_row(**WELL_FORMED[name]["row"], line_number=line_number)])
    assert_frame_equal(well_formed_parsed.rows.filter(this_line), expected)


def test_well_formed_variants_come_back_in_line_order(well_formed_parsed):
    assert well_formed_parsed.rows.get_column("line_number").to_list() == list(range(1, len(WELL_FORMED) + 1))


def test_line_number_is_carried_over():
    parsed = parse_access_log_lines(lines_frame([GOOD], first_line_number=123_456_789_012))

    assert parsed.rows.get_column("line_number").to_list() == [123_456_789_012]


def bad(reason_pattern: str, **line_parts) -> tuple[str, str]:
    return log_line(**line_parts), reason_pattern


MALFORMED = {
    # timestamp: values out of range, named with the offending value
    "day 00": bad(r"^timestamp:.*day.*\b00\b", timestamp="00/Oct/2026:13:55:36 +0000"),
    "day 32": bad(r"^timestamp:.*day.*\b32\b", timestamp="32/Oct/2026:13:55:36 +0000"),
    "month Foo": bad(r"^timestamp:.*month.*Foo", timestamp="10/Foo/2026:13:55:36 +0000"),
    "month oct (lower case)": bad(r"^timestamp:.*month.*oct", timestamp="10/oct/2026:13:55:36 +0000"),
    "month OCT (upper case)": bad(r"^timestamp:.*month.*OCT", timestamp="10/OCT/2026:13:55:36 +0000"),
    "year 1899": bad(r"^timestamp:.*year.*\b1899\b", timestamp="31/Dec/1899:23:59:59 +0000"),
    "year 2200": bad(r"^timestamp:.*year.*\b2200\b", timestamp="01/Jan/2200:00:00:00 +0000"),
    "hour 24": bad(r"^timestamp:.*hour.*\b24\b", timestamp="10/Oct/2026:24:00:00 +0000"),
    "minute 60": bad(r"^timestamp:.*minute.*\b60\b", timestamp="10/Oct/2026:13:60:36 +0000"),
    "second 60": bad(r"^timestamp:.*second.*\b60\b", timestamp="10/Oct/2026:13:55:60 +0000"),
    "offset hours 15": bad(r"^timestamp:.*\+1500", timestamp="10/Oct/2026:13:55:36 +1500"),
    "offset hours -15": bad(r"^timestamp:.*-1500", timestamp="10/Oct/2026:13:55:36 -1500"),
    "offset minutes 60": bad(r"^timestamp:.*\+0160", timestamp="10/Oct/2026:13:55:36 +0160"),
    # timestamp: dates that do not exist
    "31/Apr/2026": bad(r"^timestamp:.*31/Apr/2026", timestamp="31/Apr/2026:13:55:36 +0000"),
    "31/Jun/2026": bad(r"^timestamp:.*31/Jun/2026", timestamp="31/Jun/2026:13:55:36 +0000"),
    "29/Feb/2026 (common year)": bad(r"^timestamp:.*29/Feb/2026", timestamp="29/Feb/2026:13:55:36 +0000"),
    "29/Feb/1900 (century, not leap)": bad(r"^timestamp:.*29/Feb/1900", timestamp="29/Feb/1900:13:55:36 +0000"),
    "30/Feb/2028": bad(r"^timestamp:.*30/Feb/2028", timestamp="30/Feb/2028:13:55:36 +0000"),
    # timestamp: shape
    "day in Arabic-Indic digits": bad(r"^timestamp:", timestamp="١٠/Oct/2026:13:55:36 +0000"),
    "one-digit day": bad(r"^timestamp:", timestamp="1/Oct/2026:13:55:36 +0000"),
    "offset without sign": bad(r"^timestamp:", timestamp="10/Oct/2026:13:55:36 0000"),
    "offset with colon": bad(r"^timestamp:", timestamp="10/Oct/2026:13:55:36 +00:00"),
    "ISO timestamp": bad(r"^timestamp:", timestamp="2026-10-10T13:55:36+0000"),
    "missing brackets": (
        '192.0.2.1 - - 10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
        r"^timestamp:",
    ),
    "missing closing bracket": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000 "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0"',
        r"^timestamp:",
    ),
    # status
    "status 099": bad(r"^status:.*99", status="099"),
    "status 600": bad(r"^status:.*\b600\b", status="600"),
    "status 20 (two digits)": bad(r"^status:.*\b20\b", status="20"),
    "status 2000 (four digits)": bad(r"^status:.*2000", status="2000"),
    "status in full-width digits": bad(r"^status:", status="２００"),
    "status abc": bad(r"^status:.*abc", status="abc"),
    "status -": bad(r"^status:", status="-"),
    # bytes
    "bytes 12a": bad(r"^bytes:.*12a", size="12a"),
    "bytes -5": bad(r"^bytes:.*-5", size="-5"),
    "bytes --": bad(r"^bytes:", size="--"),
    # request
    "lower-case method": bad(r"^request:.*\bget\b", request="get /index.html HTTP/1.1"),
    "mixed-case method": bad(r"^request:.*\bGet\b", request="Get /index.html HTTP/1.1"),
    "method with a digit": bad(r"^request:.*GET2", request="GET2 /index.html HTTP/1.1"),
    "target with a space": bad(r"^request:", request="GET /a b HTTP/1.1"),
    "target with a double quote": bad(r"^request:", request='GET /a"b HTTP/1.1'),
    "target with an escaped double quote": bad(r"^request:", request='GET /a\\"b HTTP/1.1'),
    "protocol HTTP/1": bad(r"^request:.*HTTP/1\b", request="GET /index.html HTTP/1"),
    "protocol HTTPS/1.1": bad(r"^request:.*HTTPS/1\.1", request="GET /index.html HTTPS/1.1"),
    "protocol HTTP/1.10": bad(r"^request:.*HTTP/1\.10", request="GET /index.html HTTP/1.10"),
    "protocol http/1.1": bad(r"^request:.*http/1\.1", request="GET /index.html http/1.1"),
    "no protocol": bad(r"^request:", request="GET /index.html"),
    "no target": bad(r"^request:", request="GET HTTP/1.1"),
    "request logged as -": bad(r"^request:", request="-"),
    "empty request": bad(r"^request:", request=""),
    "request not quoted": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] GET /index.html HTTP/1.1 200 512 "-" "Mozilla/5.0"',
        r"^request:",
    ),
    # referer and user agent
    "referer not quoted": ('192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 - "UA"', r"^referer:"),
    "user agent not quoted": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" Mozilla/5.0',
        r"^user agent:",
    ),
    "referer ends with a lone backslash (escapes its closing quote)": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "abc\\" "UA"',
        r"^referer:",
    ),
    "unterminated user agent": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0',
        r"^user agent:",
    ),
    "user agent closed by an escaped quote only": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "Mozilla/5.0\\"',
        r"^user agent:",
    ),
    # after the user agent
    "text after the user agent": (GOOD + " extra", r"after the user agent"),
    "space after the user agent": (GOOD + " ", r"after the user agent"),
    "CR after the user agent": (GOOD + "\r", r"after the user agent"),
    "a third quoted string": (GOOD + ' "x"', r"after the user agent"),
    # separators and missing fields
    "leading space": (" " + GOOD, r"^client:"),
    "double space between request and status": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1"  200 512 "-" "UA"',
        r"^status:",
    ),
    "double space between user and timestamp": (
        '192.0.2.1 - -  [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "UA"',
        r"^timestamp:",
    ),
    "tab instead of a space after the status": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200\t512 "-" "UA"',
        r"^status:",
    ),
    # Only U+0020 separates fields, so a tab joins two tokens and the fields shift: rejected all the same.
    "tab instead of the space after the client": (
        '192.0.2.1\t- - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512 "-" "UA"',
        r"^(client|ident|user|timestamp):",
    ),
    "tab instead of a space after the timestamp": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000]\t"GET / HTTP/1.1" 200 512 "-" "UA"',
        r"^timestamp:",
    ),
    "missing bytes": ('192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 "-" "UA"', r"^bytes:"),
    "missing status": ('192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 512 "-" "UA"', r"^bytes:"),
    "only the common log format (no referer, no user agent)": (
        '192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 512',
        r"^(bytes|referer):",
    ),
    "empty line": ("", r"empty"),
    "whitespace-only line": ("   \t ", r"blank|empty"),
    "a word": ("hello", r"^client:"),
}


@pytest.fixture(scope="module")
def malformed_parsed() -> ParsedChunk:
    """All the malformed lines parsed as one chunk, line i+1 being case i."""
    return parse_access_log_lines(lines_frame([line for line, _ in MALFORMED.values()]))


@pytest.mark.parametrize("name", MALFORMED, ids=list(MALFORMED))
def test_malformed_line_is_rejected_with_a_reason_naming_the_field(malformed_parsed, name):
    line, reason_pattern = MALFORMED[name]
    line_number = list(MALFORMED).index(name) + 1
    this_line = pl.col("line_number") == line_number

    assert malformed_parsed.rows.filter(this_line).height == 0
    rejects = malformed_parsed.rejects.filter(this_line)
    assert rejects.select("line_number", "raw").rows() == [(line_number, line)]
    reason = rejects.item(0, "reason")
    assert re.search(reason_pattern, reason), reason


def test_every_malformed_line_is_rejected_once_in_line_order(malformed_parsed):
    assert malformed_parsed.rows.height == 0
    assert malformed_parsed.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert malformed_parsed.rejects.get_column("line_number").to_list() == list(range(1, len(MALFORMED) + 1))


def test_a_line_with_several_wrong_values_gets_every_reason():
    line = log_line(timestamp="32/Oct/2026:24:00:00 +0000", status="700")

    reason = parse_access_log_lines(lines_frame([line])).rejects.item(0, "reason")

    assert "day" in reason and "32" in reason
    assert "hour" in reason and "24" in reason
    assert "status" in reason and "700" in reason


@pytest.mark.parametrize(
    ("line", "reason_pattern"),
    [
        ("", r"empty"),
        (log_line(request="-"), r'^request:.*"-"'),
        (log_line(request="GET / HTTPS/1.1"), r"^request:.*HTTPS/1\.1"),
        (log_line(size="12a"), r"^bytes:.*12a"),
        (GOOD + "tail", r"after the user agent.*tail"),
    ],
    ids=["empty", "request -", "protocol", "bytes", "trailing text"],
)
def test_explain_malformed(line, reason_pattern):
    assert re.search(reason_pattern, explain_malformed(line))


def test_mixed_chunk_splits_into_rows_and_rejects_in_line_order():
    raws = [
        log_line(client="10.0.0.1"),  # 101 ok
        "",  # 102 empty
        log_line(client="10.0.0.3", timestamp="31/Apr/2026:10:00:00 +0000"),  # 103 no such date
        log_line(client="10.0.0.4", timestamp="10/Oct/2026:01:30:00 +0200"),  # 104 ok, 2026-10-09 23:30 UTC
        log_line(client="10.0.0.5", status="600"),  # 105 status
        log_line(client="10.0.0.6", request="get / HTTP/1.1"),  # 106 method
        log_line(client="10.0.0.7", request="GET /a?b HTTP/2.0", size="-"),  # 107 ok
        log_line(client="10.0.0.8", timestamp="29/Feb/2026:00:00:00 +0000"),  # 108 no such date
        log_line(client="10.0.0.9", timestamp="10/Oct/2026:13:55:36 +1500"),  # 109 offset
        log_line(client="10.0.0.10"),  # 110 ok
    ]

    parsed = parse_access_log_lines(lines_frame(raws, first_line_number=101))

    assert parsed.rows.height + parsed.rejects.height == len(raws)
    expected_rows = rows_frame(
        [
            expected_row(line_number=101, client="10.0.0.1"),
            expected_row(
                line_number=104,
                client="10.0.0.4",
                ts_utc=datetime(2026, 10, 9, 23, 30),
                utc_offset_minutes=120,
                hour=datetime(2026, 10, 9, 23),
                day=date(2026, 10, 9),
            ),
            expected_row(line_number=107, client="10.0.0.7", path="/a", query="b", protocol="HTTP/2.0", bytes=0),
            expected_row(line_number=110, client="10.0.0.10"),
        ]
    )
    assert_frame_equal(parsed.rows, expected_rows)
    assert parsed.rejects.get_column("line_number").to_list() == [102, 103, 105, 106, 108, 109]
    assert parsed.rejects.get_column("raw").to_list() == [raws[i - 101] for i in [102, 103, 105, 106, 108, 109]]
    reasons = parsed.rejects.get_column("reason").to_list()
    assert "empty" in reasons[0]
    assert reasons[1].startswith("timestamp:") and "31/Apr/2026" in reasons[1]
    assert reasons[2].startswith("status:") and "600" in reasons[2]
    assert reasons[3].startswith("request:")
    assert reasons[4].startswith("timestamp:") and "29/Feb/2026" in reasons[4]
    assert reasons[5].startswith("timestamp:") and "+1500" in reasons[5]


def test_many_lines_keep_line_order_and_count():
    # Every third line has a date that does not exist, every fifth an empty line; the others are well-formed.
    raws = []
    for number in range(1, 301):
        if number % 5 == 0:
            raws.append("")
        elif number % 3 == 0:
            raws.append(log_line(client=f"c{number}", timestamp="31/Nov/2026:00:00:00 +0000"))
        else:
            raws.append(log_line(client=f"c{number}"))

    parsed = parse_access_log_lines(lines_frame(raws))

    good = [n for n in range(1, 301) if n % 5 and n % 3]
    rejected = [n for n in range(1, 301) if not (n % 5 and n % 3)]
    assert parsed.rows.get_column("line_number").to_list() == good
    assert parsed.rows.get_column("client").to_list() == [f"c{n}" for n in good]
    assert parsed.rejects.get_column("line_number").to_list() == rejected
    assert parsed.rows.height + parsed.rejects.height == 300


def test_all_lines_malformed_gives_typed_empty_rows():
    parsed = parse_access_log_lines(lines_frame(["", "nonsense", log_line(status="600")]))

    assert_frame_equal(parsed.rows, pl.DataFrame(schema=REQUEST_COLUMNS))
    assert parsed.rejects.get_column("line_number").to_list() == [1, 2, 3]


def test_all_lines_well_formed_gives_typed_empty_rejects():
    parsed = parse_access_log_lines(lines_frame([GOOD, GOOD]))

    assert parsed.rows.get_column("line_number").to_list() == [1, 2]
    assert_frame_equal(parsed.rejects, pl.DataFrame(schema=REJECT_SCHEMA))


def test_no_lines():
    parsed = parse_access_log_lines(lines_frame([]))

    assert_frame_equal(parsed.rows, pl.DataFrame(schema=REQUEST_COLUMNS))
    assert_frame_equal(parsed.rejects, pl.DataFrame(schema=REJECT_SCHEMA))
