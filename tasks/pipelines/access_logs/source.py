"""The access-log source: Combined Log Format lines parsed, validated and shaped into `logs.requests` rows.

Parsing checks each line's structure (fields, separators, quoting) with one regular expression; Pandera then
checks the values (ranges, month names, that the date exists). Every line that fails either gets a reason a person
can act on.
"""

import re

import pandera.polars as pa
import polars as pl

from tasks.core.landing import Landing
from tasks.core.staging import ParsedChunk, SourceFormat, code_version
from tasks.core.validation import REJECT_SCHEMA, split_valid_rows
from tasks.pipelines import pipeline_of
from tasks.pipelines.access_logs import ACCESS_LOG_FILES

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_QUOTED = r'"(?:[^"\\]|\\.)*"'
# The structure of a Combined Log Format line. Values are checked by AccessLogFields, so that a reject says which
# value is wrong rather than only that the line does not match. ASCII classes on purpose: \d would admit other
# scripts' digits.
LINE_STRUCTURE = (
    r"^[^ ]+ [^ ]+ [^ ]+ "
    r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] "
    r'"[A-Z]+ [^ "]+ HTTP/[0-9]\.[0-9]" '
    r"[0-9]{3} (?:[0-9]+|-) "
    rf"{_QUOTED} {_QUOTED}$"
)
_REFERER = r'^"((?:[^"\\]|\\.)*)" "'


class AccessLogFields(pa.DataFrameModel):
    """Values of structurally sound lines, before the derived columns are computed."""

    day: pl.Int32 = pa.Field(in_range={"min_value": 1, "max_value": 31}, description="Day of the month, local time")
    month: pl.String = pa.Field(isin=MONTHS, description="English month abbreviation, local time")
    year: pl.Int32 = pa.Field(in_range={"min_value": 1900, "max_value": 2199})
    hour: pl.Int32 = pa.Field(in_range={"min_value": 0, "max_value": 23})
    minute: pl.Int32 = pa.Field(in_range={"min_value": 0, "max_value": 59})
    second: pl.Int32 = pa.Field(in_range={"min_value": 0, "max_value": 59})
    offset_hours: pl.Int32 = pa.Field(
        in_range={"min_value": 0, "max_value": 14}, description="Hours of the UTC offset, without its sign"
    )
    offset_minutes: pl.Int32 = pa.Field(in_range={"min_value": 0, "max_value": 59})
    status: pl.Int32 = pa.Field(in_range={"min_value": 100, "max_value": 599})
    bytes: pl.Int64 = pa.Field(ge=0, nullable=False, description="Response size; '-' is 0; null when too large")

    class Config:
        strict = False  # the raw text and the other fields travel alongside, unchecked

    @pa.dataframe_check(name="date_exists")
    def date_exists(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """31/Apr or 29/Feb of a common year; rows whose parts are out of range are left to their own checks."""
        parts_in_range = pl.col("month").is_in(MONTHS) & pl.col("day").is_between(1, 31)
        month_number = pl.col("month").replace_strict(MONTHS, range(1, 13), default=1, return_dtype=pl.Int32)
        last_day = pl.date(pl.col("year"), month_number, 1).dt.month_end().dt.day()
        return data.lazyframe.select(~parts_in_range | (pl.col("day") <= last_day))


_timestamp = pl.col("timestamp")
REJECT_REASONS: dict[str, pl.Expr] = {
    "day": pl.format("timestamp: day {} is outside 01-31", _timestamp.str.slice(0, 2)),
    "month": pl.format("timestamp: month '{}' is not an English month abbreviation (Jan-Dec)", pl.col("month")),
    "year": pl.format("timestamp: year {} is outside 1900-2199", _timestamp.str.slice(7, 4)),
    "date_exists": pl.format("timestamp: {} is not a date", _timestamp.str.slice(0, 11)),
    "hour": pl.format("timestamp: hour {} is outside 00-23", _timestamp.str.slice(12, 2)),
    "minute": pl.format("timestamp: minute {} is outside 00-59", _timestamp.str.slice(15, 2)),
    "second": pl.format("timestamp: second {} is outside 00-59", _timestamp.str.slice(18, 2)),
    "offset_hours": pl.format("timestamp: UTC offset {} has hours outside 00-14", _timestamp.str.slice(21, 5)),
    "offset_minutes": pl.format("timestamp: UTC offset {} has minutes outside 00-59", _timestamp.str.slice(21, 5)),
    "status": pl.format("status: {} is outside 100-599", pl.col("status").cast(pl.String).str.zfill(3)),
    "bytes": pl.lit("bytes: the number is too large"),
}

REQUEST_COLUMNS = {
    "line_number": pl.Int64,
    "client": pl.String,
    "ident": pl.String,
    "user": pl.String,
    "ts_utc": pl.Datetime("us"),
    "utc_offset_minutes": pl.Int32,
    "hour": pl.Datetime("us"),
    "day": pl.Date,
    "method": pl.String,
    "path": pl.String,
    "query": pl.String,
    "protocol": pl.String,
    "status": pl.Int32,
    "bytes": pl.Int64,
    "referer": pl.String,
    "user_agent": pl.String,
}


def parse_access_log_lines(lines: pl.DataFrame) -> ParsedChunk:
    """Turn `lines` (`line_number`, `raw`) into `logs.requests` rows and rejects with reasons."""
    structured = pl.col("raw").str.contains(LINE_STRUCTURE)
    malformed = lines.filter(~structured)
    fields = split_fields(lines.filter(structured))
    valid, invalid = split_valid_rows(fields, AccessLogFields, REJECT_REASONS)
    rejects = pl.concat(
        [
            malformed.with_columns(
                pl.col("raw").map_elements(explain_malformed, return_dtype=pl.String).alias("reason")
            ).select(*REJECT_SCHEMA),
            invalid,
        ]
    ).sort("line_number")
    return ParsedChunk(rows=derive_request_columns(valid), rejects=rejects)


def split_fields(lines: pl.DataFrame) -> pl.DataFrame:
    """Cut structurally sound lines into typed fields; the structure guarantees where each field is."""
    # Eager Polars does not share common subexpressions, so each intermediate column is materialised once.
    # Up to the referer, fields are separated by single spaces and hold none themselves.
    parts = lines.with_columns(pl.col("raw").str.splitn(" ", 11).alias("parts")).unnest("parts")
    quoted = pl.col("field_10")
    return (
        parts.with_columns(
            pl.concat_str(pl.col("field_3").str.slice(1), pl.col("field_4").str.head(-1), separator=" ").alias(
                "timestamp"
            ),
            quoted.str.extract(_REFERER, 1).alias("referer"),
        )
        .with_columns(
            # The user agent is the rest once the referer is known: one capture group costs a third of two.
            (pl.col("referer").str.len_chars() + 4).alias("user_agent_start"),
        )
        .select(
            "line_number",
            "raw",
            pl.col("field_0").alias("client"),
            pl.col("field_1").alias("ident"),
            pl.col("field_2").alias("user"),
            "timestamp",
            pl.col("field_5").str.slice(1).alias("method"),
            pl.col("field_6").alias("target"),
            pl.col("field_7").str.head(-1).alias("protocol"),
            pl.col("field_8").cast(pl.Int32).alias("status"),
            pl.col("field_9").replace("-", "0").cast(pl.Int64, strict=False).alias("bytes"),
            "referer",
            quoted.str.slice(pl.col("user_agent_start"), quoted.str.len_chars() - pl.col("user_agent_start") - 1).alias(
                "user_agent"
            ),
            _timestamp.str.slice(0, 2).cast(pl.Int32).alias("day"),
            _timestamp.str.slice(3, 3).alias("month"),
            _timestamp.str.slice(7, 4).cast(pl.Int32).alias("year"),
            _timestamp.str.slice(12, 2).cast(pl.Int32).alias("hour"),
            _timestamp.str.slice(15, 2).cast(pl.Int32).alias("minute"),
            _timestamp.str.slice(18, 2).cast(pl.Int32).alias("second"),
            _timestamp.str.slice(22, 2).cast(pl.Int32).alias("offset_hours"),
            _timestamp.str.slice(24, 2).cast(pl.Int32).alias("offset_minutes"),
        )
    )


def derive_request_columns(fields: pl.DataFrame) -> pl.DataFrame:
    """UTC time (local time minus the line's offset, no time-zone database), its hour and day, path and query."""
    offset_sign = pl.when(_timestamp.str.slice(21, 1) == "-").then(-1).otherwise(1)
    offset_minutes = offset_sign * (pl.col("offset_hours") * 60 + pl.col("offset_minutes"))
    local_time = pl.datetime(
        pl.col("year"),
        pl.col("month").replace_strict(MONTHS, range(1, 13), return_dtype=pl.Int32),
        pl.col("day"),
        pl.col("hour"),
        pl.col("minute"),
        pl.col("second"),
        time_unit="us",
    )
    target = pl.col("target").str.splitn("?", 2)
    return (
        fields.with_columns(
            offset_minutes.cast(pl.Int32).alias("utc_offset_minutes"),
            (local_time - pl.duration(minutes=offset_minutes)).alias("ts_utc"),
            target.struct.field("field_0").alias("path"),
            target.struct.field("field_1").alias("query"),
        )
        .with_columns(pl.col("ts_utc").dt.truncate("1h").alias("hour"), pl.col("ts_utc").dt.date().alias("day"))
        .select(*REQUEST_COLUMNS)
        .cast(REQUEST_COLUMNS)
    )


# Field by field, what a malformed line was expected to hold next: (what, pattern, reason when it is not there).
_EXPECTED_FIELDS = (
    ("client", r"[^ ]+ ", "client: missing, or not followed by a single space"),
    ("ident", r"[^ ]+ ", "ident: missing, or not followed by a single space"),
    ("user", r"[^ ]+ ", "user: missing, or not followed by a single space"),
    (
        "timestamp",
        r"\[[^\]]*\] ",
        "timestamp: expected [dd/Mon/yyyy:HH:MM:SS ±hhmm] followed by a single space",
    ),
    ("request", r'"[^"]*" ', 'request: expected "METHOD target HTTP/x.y" followed by a single space'),
    ("status", r"[0-9]{3} ", "status: expected three digits followed by a single space"),
    ("bytes", r"(?:[0-9]+|-) ", "bytes: expected digits or '-' followed by a single space"),
    ("referer", _QUOTED + " ", "referer: expected a double-quoted string followed by a single space"),
    ("user agent", _QUOTED, "user agent: expected a double-quoted string"),
)
_TIMESTAMP = re.compile(r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\] ")
_REQUEST = re.compile(r'"(?P<method>[^ "]*) (?P<target>[^ "]*) (?P<protocol>[^ "]*)" ')


def explain_malformed(line: str) -> str:
    """Say which field of a line that does not have the Combined Log Format structure is wrong, and how."""
    if not line.strip():
        return "empty line" if not line else "blank line"
    position = 0
    for what, pattern, reason in _EXPECTED_FIELDS:
        match = re.compile(pattern).match(line, position)
        if not match:
            return f"{reason}, found {_excerpt(line[position:])}"
        if what == "timestamp" and not _TIMESTAMP.fullmatch(match.group()):
            return f"timestamp: {match.group()[1:-2]!r} is not in the form dd/Mon/yyyy:HH:MM:SS ±hhmm"
        if what == "request":
            problem = _explain_request(match.group())
            if problem:
                return problem
        position = match.end()
    if position < len(line):
        return f"unexpected text after the user agent: {_excerpt(line[position:])}"
    return "does not match the Combined Log Format"


def _explain_request(field: str) -> str | None:
    if field == '"-" ':
        return 'request: logged as "-" (the client sent no valid request line)'
    request = _REQUEST.fullmatch(field)
    if not request:
        return f"request: {field[:-1]} is not METHOD target HTTP/x.y (three parts separated by single spaces)"
    if not re.fullmatch(r"[A-Z]+", request["method"]):
        return f"request: method {request['method']!r} is not capital letters A-Z"
    if not request["target"]:
        return "request: the target is empty"
    if not re.fullmatch(r"HTTP/[0-9]\.[0-9]", request["protocol"]):
        return f"request: protocol {request['protocol']!r} is not HTTP/d.d"
    return None


def _excerpt(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…") if text else "the end of the line"


ACCESS_LOG_FORMAT = SourceFormat(
    pipeline=pipeline_of(__name__),
    parse=parse_access_log_lines,
    version=code_version(__name__, "tasks.core.reading", "tasks.core.staging", "tasks.core.validation"),
)

# Access logs dropped into the landing folder are announced one event each, for the on-arrival deployment.
LANDING = Landing(pipeline=ACCESS_LOG_FORMAT.pipeline, patterns=ACCESS_LOG_FILES)
