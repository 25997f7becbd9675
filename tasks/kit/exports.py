"""Export files of operational systems (CSV, gzip, Parquet) as typed, validated rows: the pieces every export
pipeline shares. A pipeline declares its kinds of files, each with a Pandera model over its typed columns; text is
typed leniently first (a value that does not parse becomes null), then the model checks every rule, and each failure
gets a reason that quotes the value as written.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property, partial
from pathlib import Path
from typing import Annotated

import duckdb
import pandera.polars as pa
import polars as pl

from tasks.core.batches import Batch
from tasks.core.records import RECORD_PROBLEM, read_export_records
from tasks.core.staging import ParsedChunk, SourceFormat, code_version
from tasks.core.validation import REJECT_SCHEMA, split_valid_rows
from tasks.warehouse.loads import FactTable

# ISO 8601 with a UTC offset, as exports write it: T or a space, seconds and a fraction optional, Z or ±hh[:mm].
# Offsets in use on Earth run from -12:00 to +14:00. Hours run to 23: 24:00, the next day's midnight to ISO 8601 and
# DuckDB, stays refused as chrono refused it. A leap second (second 60) is no time to DuckDB, as to the access logs.
TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ](?:[01][0-9]|2[0-3]):[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-](?:0[0-9]|1[0-4])(?::?[0-5][0-9])?)$"
)
TIMESTAMP_WITHOUT_OFFSET = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?$"
FIRST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
END_OF_RANGE = datetime(2200, 1, 1, tzinfo=UTC)
LARGEST_INTEGER = 2**31 - 1  # DuckDB INTEGER, the type of line_no
LARGEST_BIGINT = 2**63 - 1
UtcTimestamp = Annotated[pl.Datetime, "us", "UTC"]


def written(column: str) -> pl.Expr:
    """The value of `column` as written in the file (trimmed; null when empty)."""
    return pl.col(f"{column} as written")


def quoted(column: str) -> pl.Expr:
    return pl.format("'{}'", written(column))


def given_and_parsed(column: str) -> pl.Expr:
    """For an optional column: empty, or a value that parsed (the model checks this is true)."""
    return written(column).is_null() | pl.col(column).is_not_null()


def missing_or(column: str, reason: pl.Expr) -> pl.Expr:
    return pl.when(written(column).is_null()).then(pl.lit(f"{column}: missing")).otherwise(reason)


def timestamp_field(column: str) -> tuple[pl.Expr, pl.Expr]:
    """(the UTC instant, or null; the reason when it is wrong)"""
    text = written(column)
    typed = (
        pl.when(text.str.contains(TIMESTAMP))
        .then(text.map_batches(utc_instants, return_dtype=pl.Datetime("us", "UTC"), is_elementwise=True))
        .alias(column)
    )
    reason = missing_or(
        column,
        pl.when(text.str.contains(TIMESTAMP_WITHOUT_OFFSET))
        .then(pl.format("{}: {} has no UTC offset (add Z or ±hh:mm)", pl.lit(column), quoted(column)))
        .when(text.str.contains(TIMESTAMP) & pl.col(column).is_not_null())
        .then(pl.format("{}: {} is outside the years 1900-2199", pl.lit(column), quoted(column)))
        .otherwise(
            pl.format("{}: {} is not an ISO 8601 date and time with a UTC offset", pl.lit(column), quoted(column))
        ),
    )
    return typed, reason


# Instants are read by DuckDB's timestamp parser: five times faster than Polars' format with %#z (chrono, row by row)
# after rewriting the text into one shape, which was three quarters of an orders file's staging. On the text the
# TIMESTAMP pattern accepts, both read the same instants and refuse the same impossible dates and times (property test
# in tests/kit/test_exports.py). One in-memory database per process, opened on first use; a cursor per call, as
# staging threads parse at the same time.
@cache
def _timestamp_reader() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(config={"threads": 1})


def utc_instants(text: pl.Series) -> pl.Series:
    """ISO 8601 `text` with a UTC offset as instants; null where it is no such instant."""
    texts = text.rename("text").to_frame()
    with _timestamp_reader().cursor() as cursor:
        cursor.register("texts", texts)
        instants = cursor.sql("select try_cast(text as timestamptz) as instant from texts").pl().to_series()
    return instants.dt.convert_time_zone("UTC").rename(text.name)


def whole_number_field(column: str, maximum: int) -> tuple[pl.Expr, pl.Expr]:
    """A whole number from 1 to `maximum` (what its warehouse column holds)."""
    text = written(column)
    too_large = pl.format("{}: {} is larger than {}", pl.lit(column), quoted(column), pl.lit(maximum))
    typed = pl.when(text.str.contains("^-?[0-9]{1,18}$")).then(text.cast(pl.Int64, strict=False)).alias(column)
    reason = missing_or(
        column,
        pl.when(pl.col(column) > maximum)
        .then(too_large)
        .when(pl.col(column).is_not_null())
        .then(pl.format("{}: {} must be at least 1", pl.lit(column), quoted(column)))
        .when(text.str.contains("^[0-9]+$"))
        .then(too_large)
        .otherwise(pl.format("{}: {} is not a whole number", pl.lit(column), quoted(column))),
    )
    return typed, reason


def decimal_field(column: str, integer_digits: int, decimals: int, rule: str) -> tuple[pl.Expr, pl.Expr]:
    """A decimal written with at most `integer_digits` before the point and `decimals` after: never rounded, since
    a silently rounded price or rate is money changed without anyone noticing."""
    text = written(column)
    fits = f"^-?0*[0-9]{{1,{integer_digits}}}(?:\\.[0-9]{{1,{decimals}}})?$"  # leading zeros are not digits
    typed = (
        pl.when(text.str.contains(fits))
        .then(text.cast(pl.Decimal(integer_digits + decimals, decimals), strict=False))
        .alias(column)
    )
    reason = missing_or(
        column,
        pl.when(pl.col(column).is_not_null())
        .then(pl.format("{}: {} {}", pl.lit(column), quoted(column), pl.lit(rule)))
        .when(text.str.contains(r"^-?[0-9]+(?:\.[0-9]+)?$"))
        .then(
            pl.format(
                "{}: {} has more than {} decimal places or {} digits before the point",
                pl.lit(column),
                quoted(column),
                pl.lit(decimals),
                pl.lit(integer_digits),
            )
        )
        .otherwise(pl.format("{}: {} is not a decimal number like 12.50", pl.lit(column), quoted(column))),
    )
    return typed, reason


def code_field(column: str, case: str, what: str) -> tuple[pl.Expr, pl.Expr]:
    text = written(column)
    typed = (text.str.to_uppercase() if case == "upper" else text.str.to_lowercase()).alias(column)
    reason = missing_or(column, pl.format("{}: {} is not {}", pl.lit(column), quoted(column), pl.lit(what)))
    return typed, reason


def text_field(column: str, max_length: int | None = None) -> tuple[pl.Expr, pl.Expr]:
    reason = f"longer than {max_length} characters" if max_length else "invalid"
    return written(column).alias(column), missing_or(column, pl.lit(f"{column}: {reason}"))


@dataclass(frozen=True)
class ExportKind:
    """One kind of export file: its columns, how each is typed and explained, its model, its key and its table."""

    name: str
    model: type[pa.DataFrameModel]
    fields: dict[str, tuple[pl.Expr, pl.Expr]]  # column -> (typed value, reason when the model rejects it)
    table: str
    # checks across the whole staged batch, after its chunks (keys unique within a file, ...): each moves the rows it
    # rejects to the batch's rejects and returns how many
    batch_checks: tuple[Callable[[Path], int], ...] = ()
    check_reasons: dict[str, pl.Expr] = field(default_factory=dict)  # dataframe-wide or derived check -> reason
    # columns computed from the typed ones for the model to check (e.g. that an optional value, when given, parsed)
    derived: dict[str, pl.Expr] = field(default_factory=dict)
    # a column whose rows load all or none: one rejected row (of a plan, say) rejects the others of its value too.
    # Checked within a chunk, so it suits files that fit one (a catalogue, not a stream of events).
    all_or_none_by: str | None = None
    # the day whose marts a row feeds, as SQL over its staging table's columns: the file's export day by default, or
    # e.g. `cast(reading_ts as date)` for marts by the day of a timestamp (written in code, never from input)
    partition_day: str = "export_date"
    # columns a file may leave out (older files, or a source without them): their values are then all empty
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.fields)


def day_field(column: str) -> tuple[pl.Expr, pl.Expr]:
    text = written(column)
    typed = pl.when(text.str.contains("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")).then(text.str.to_date("%Y-%m-%d", strict=False))
    reason = missing_or(column, pl.format("{}: {} is not a date (YYYY-MM-DD)", pl.lit(column), quoted(column)))
    return typed.alias(column), reason


def parse_export_records(records: pl.DataFrame, kind: ExportKind) -> ParsedChunk:
    """Type and validate a chunk of `kind`'s records (see tasks/core/records.py); return its staging rows and rejects
    with reasons."""
    header_problems = _header_problems(records, kind)
    if header_problems:
        problem = pl.coalesce(pl.col(RECORD_PROBLEM) + "; " + pl.lit(header_problems), pl.lit(header_problems))
        rejects = records.with_columns(problem.alias("reason")).select(*REJECT_SCHEMA)
        return ParsedChunk(rows=_empty_rows(kind), rejects=rejects.cast(REJECT_SCHEMA))
    records = records.with_columns(
        pl.lit(None, pl.String).alias(column) for column in kind.optional if column not in records.columns
    )
    malformed = records.filter(pl.col(RECORD_PROBLEM).is_not_null())
    as_written = records.filter(pl.col(RECORD_PROBLEM).is_null()).select(
        "line_number",
        "raw",
        "export_date",
        *(pl.col(column).str.strip_chars().replace("", None).alias(f"{column} as written") for column in kind.columns),
    )
    typed = as_written.with_columns(typed for typed, _ in kind.fields.values()).with_columns(
        expression.alias(name) for name, expression in kind.derived.items()
    )
    reasons = {column: reason for column, (_, reason) in kind.fields.items()} | kind.check_reasons
    valid, invalid = split_valid_rows(typed, kind.model, reasons)
    if kind.all_or_none_by and invalid.height:
        valid, invalid = _reject_whole_groups(valid, invalid, as_written, kind.all_or_none_by)
    rejects = pl.concat(
        [malformed.select("line_number", "raw", pl.col(RECORD_PROBLEM).alias("reason")).cast(REJECT_SCHEMA), invalid]
    ).sort("line_number")
    return ParsedChunk(rows=valid.select("export_date", "line_number", *kind.columns), rejects=rejects)


def _reject_whole_groups(
    valid: pl.DataFrame, invalid: pl.DataFrame, as_written: pl.DataFrame, column: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move the valid rows that share `column` with a rejected row to the rejects, naming the first rejected line."""
    failed = (
        invalid.join(as_written.select("line_number", written(column).alias(column)), on="line_number")
        .filter(pl.col(column).is_not_null())
        .group_by(column)
        .agg(pl.col("line_number").min().alias("failed_line"))
    )
    dragged = valid.join(failed, on=column).select(
        "line_number",
        "raw",
        pl.format(
            "{} '{}' has a rejected row (line {}): none of its rows load", pl.lit(column), column, "failed_line"
        ).alias("reason"),
    )
    kept = valid.join(failed, on=column, how="anti")
    return kept, pl.concat([invalid, dragged.cast(REJECT_SCHEMA)])


def _header_problems(records: pl.DataFrame, kind: ExportKind) -> str:
    present = [
        column for column in records.columns if column not in ("line_number", "raw", RECORD_PROBLEM, "export_date")
    ]
    missing = [
        f"the file has no column '{column}'"
        for column in kind.columns
        if column not in present and column not in kind.optional
    ]
    extra = [f"unexpected column '{column}'" for column in present if column not in kind.columns]
    return "; ".join(missing + extra)


def _empty_rows(kind: ExportKind) -> pl.DataFrame:
    schema = {"export_date": pl.Date, "line_number": pl.Int64}
    schema |= {column: dtype for column, dtype in kind.model.to_schema().dtypes.items() if column in kind.columns}
    return pl.DataFrame(schema={column: getattr(dtype, "type", dtype) for column, dtype in schema.items()})


@dataclass(frozen=True)
class ExportPlan:
    """The run's export files in discovery order, with the format that stages each and the table that loads it."""

    batches: list[Batch]
    formats: list[SourceFormat]
    tables: list[FactTable]


@dataclass(frozen=True)
class ExportFamily:
    """A pipeline's kinds of export files, named `<kind>_<date>` with a .csv, .csv.gz or .parquet suffix."""

    pipeline: str
    kinds: tuple[ExportKind, ...]
    code_modules: tuple[str, ...]  # whose source, with the shared modules', versions the staged output

    @property
    def patterns(self) -> tuple[str, ...]:
        return tuple(f"{kind.name}_*{suffix}" for kind in self.kinds for suffix in (".csv", ".csv.gz", ".parquet"))

    @cached_property
    def formats(self) -> dict[str, SourceFormat]:
        version = code_version(
            *self.code_modules,
            __name__,
            "tasks.core.records",
            "tasks.core.reading",
            "tasks.core.staging",
            "tasks.core.validation",
        )
        return {
            kind.name: SourceFormat(
                pipeline=self.pipeline,
                parse=partial(parse_export_records, kind=kind),
                version=version,
                read=read_export_records,
                batch_checks=kind.batch_checks,
            )
            for kind in self.kinds
        }

    @cached_property
    def tables(self) -> dict[str, FactTable]:
        return {
            kind.name: FactTable(pipeline=self.pipeline, table=kind.table, partition_day=kind.partition_day)
            for kind in self.kinds
        }

    def kind_of(self, path: Path) -> ExportKind:
        """The kind of an export file, from its name (`order_lines_...` is not `orders_...`)."""
        for kind in self.kinds:
            if re.match(rf"{kind.name}_", path.name):
                return kind
        raise ValueError(f"{path.name} is not a {self.pipeline} export file ({', '.join(self.patterns)})")

    def plan(self, batches: list[Batch]) -> ExportPlan:
        kinds = [self.kind_of(batch.path) for batch in batches]
        return ExportPlan(
            batches=list(batches),
            formats=[self.formats[kind.name] for kind in kinds],
            tables=[self.tables[kind.name] for kind in kinds],
        )
