"""The sales exports: customers, orders, order lines and FX rates, validated into the `sales` staging tables.

Each kind of export file has a Pandera model over its typed columns. Text is typed leniently first (a value that
does not parse becomes null), then the model checks every rule, and each failure gets a reason that quotes the
value as written. The rules are the README's "Sales" section.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import duckdb
import pandera.polars as pa
import polars as pl

from tasks.batches import Batch
from tasks.iso_codes import COUNTRIES, CURRENCIES
from tasks.records import RECORD_PROBLEM, read_export_records
from tasks.staging import ParsedChunk, SourceFormat, code_version
from tasks.validation import REJECT_SCHEMA, split_valid_rows
from tasks.warehouse import SQL_DIR, FactTable

PIPELINE = "sales"
EXPORT_FILES = tuple(
    f"{kind}_*{suffix}"
    for kind in ("customers", "orders", "order_lines", "fx_rates")
    for suffix in (".csv", ".csv.gz", ".parquet")
)
STATUSES = ("placed", "paid", "shipped", "completed", "cancelled", "refunded")
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# ISO 8601 with a UTC offset, as exports write it: T or a space, seconds and a fraction optional, Z or ±hh[:mm].
# Offsets in use on Earth run from -12:00 to +14:00.
TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
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


def _quoted(column: str) -> pl.Expr:
    return pl.format("'{}'", written(column))


def _missing_or(column: str, reason: pl.Expr) -> pl.Expr:
    return pl.when(written(column).is_null()).then(pl.lit(f"{column}: missing")).otherwise(reason)


def _timestamp(column: str) -> tuple[pl.Expr, pl.Expr]:
    """(the UTC instant, or null; the reason when it is wrong)"""
    text = written(column)
    normalized = (
        text.str.replace(" ", "T")
        .str.replace("Z$", "+00:00")
        .str.replace(r"T([0-9]{2}:[0-9]{2})([+-])", "T$1:00$2")
        .str.replace(r"([+-][0-9]{2})$", "$1:00")
        .str.replace(r"([+-][0-9]{2})([0-9]{2})$", "$1:$2")
    )
    typed = (
        pl.when(text.str.contains(TIMESTAMP))
        .then(normalized.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False))
        .alias(column)
    )
    reason = _missing_or(
        column,
        pl.when(text.str.contains(TIMESTAMP_WITHOUT_OFFSET))
        .then(pl.format("{}: {} has no UTC offset (add Z or ±hh:mm)", pl.lit(column), _quoted(column)))
        .when(text.str.contains(TIMESTAMP) & pl.col(column).is_not_null())
        .then(pl.format("{}: {} is outside the years 1900-2199", pl.lit(column), _quoted(column)))
        .otherwise(
            pl.format("{}: {} is not an ISO 8601 date and time with a UTC offset", pl.lit(column), _quoted(column))
        ),
    )
    return typed, reason


def _whole_number(column: str, maximum: int) -> tuple[pl.Expr, pl.Expr]:
    """A whole number from 1 to `maximum` (what its warehouse column holds)."""
    text = written(column)
    too_large = pl.format("{}: {} is larger than {}", pl.lit(column), _quoted(column), pl.lit(maximum))
    typed = pl.when(text.str.contains("^-?[0-9]{1,18}$")).then(text.cast(pl.Int64, strict=False)).alias(column)
    reason = _missing_or(
        column,
        pl.when(pl.col(column) > maximum)
        .then(too_large)
        .when(pl.col(column).is_not_null())
        .then(pl.format("{}: {} must be at least 1", pl.lit(column), _quoted(column)))
        .when(text.str.contains("^[0-9]+$"))
        .then(too_large)
        .otherwise(pl.format("{}: {} is not a whole number", pl.lit(column), _quoted(column))),
    )
    return typed, reason


def _decimal(column: str, integer_digits: int, decimals: int, rule: str) -> tuple[pl.Expr, pl.Expr]:
    """A decimal written with at most `integer_digits` before the point and `decimals` after: never rounded, since
    a silently rounded price or rate is money changed without anyone noticing."""
    text = written(column)
    fits = f"^-?0*[0-9]{{1,{integer_digits}}}(?:\\.[0-9]{{1,{decimals}}})?$"  # leading zeros are not digits
    typed = (
        pl.when(text.str.contains(fits))
        .then(text.cast(pl.Decimal(integer_digits + decimals, decimals), strict=False))
        .alias(column)
    )
    reason = _missing_or(
        column,
        pl.when(pl.col(column).is_not_null())
        .then(pl.format("{}: {} {}", pl.lit(column), _quoted(column), pl.lit(rule)))
        .when(text.str.contains(r"^-?[0-9]+(?:\.[0-9]+)?$"))
        .then(
            pl.format(
                "{}: {} has more than {} decimal places or {} digits before the point",
                pl.lit(column),
                _quoted(column),
                pl.lit(decimals),
                pl.lit(integer_digits),
            )
        )
        .otherwise(pl.format("{}: {} is not a decimal number like 12.50", pl.lit(column), _quoted(column))),
    )
    return typed, reason


def _code(column: str, case: str, what: str) -> tuple[pl.Expr, pl.Expr]:
    text = written(column)
    typed = (text.str.to_uppercase() if case == "upper" else text.str.to_lowercase()).alias(column)
    reason = _missing_or(column, pl.format("{}: {} is not {}", pl.lit(column), _quoted(column), pl.lit(what)))
    return typed, reason


def _text(column: str, max_length: int | None = None) -> tuple[pl.Expr, pl.Expr]:
    reason = f"longer than {max_length} characters" if max_length else "invalid"
    return written(column).alias(column), _missing_or(column, pl.lit(f"{column}: {reason}"))


class CustomerExport(pa.DataFrameModel):
    """A row of customers_<date>: the customer's state as of `updated_at`."""

    customer_id: pl.String = pa.Field(nullable=False, str_length={"max_value": 64})
    name: pl.String = pa.Field(nullable=False)
    email: pl.String = pa.Field(nullable=False, str_matches=EMAIL)
    country: pl.String = pa.Field(nullable=False, isin=sorted(COUNTRIES), description="ISO 3166-1 alpha-2")
    segment: pl.String = pa.Field(nullable=False)
    updated_at: UtcTimestamp = pa.Field(nullable=False, ge=FIRST_INSTANT, lt=END_OF_RANGE)

    class Config:
        strict = False  # the text as written travels alongside, for the reasons


class OrderExport(pa.DataFrameModel):
    """A row of orders_<date>: one version of an order."""

    order_id: pl.String = pa.Field(nullable=False)
    customer_id: pl.String = pa.Field(nullable=False)
    order_ts: UtcTimestamp = pa.Field(nullable=False, ge=FIRST_INSTANT, lt=END_OF_RANGE)
    status: pl.String = pa.Field(nullable=False, isin=STATUSES)
    currency: pl.String = pa.Field(nullable=False, isin=sorted(CURRENCIES), description="ISO 4217")
    updated_at: UtcTimestamp = pa.Field(nullable=False, ge=FIRST_INSTANT, lt=END_OF_RANGE)

    class Config:
        strict = False


class OrderLineExport(pa.DataFrameModel):
    """A row of order_lines_<date>: one line of an order, as delivered in that file."""

    order_id: pl.String = pa.Field(nullable=False)
    line_no: pl.Int64 = pa.Field(nullable=False, ge=1, le=LARGEST_INTEGER)
    sku: pl.String = pa.Field(nullable=False)
    quantity: pl.Int64 = pa.Field(nullable=False, ge=1)
    unit_price: Annotated[pl.Decimal, 18, 4] = pa.Field(nullable=False, ge=0)

    class Config:
        strict = False


class FxRateExport(pa.DataFrameModel):
    """A row of fx_rates_<date>: what one unit of `currency` was worth in US dollars on `day`."""

    day: pl.Date = pa.Field(nullable=False)
    currency: pl.String = pa.Field(nullable=False, isin=sorted(CURRENCIES))
    rate_to_usd: Annotated[pl.Decimal, 18, 10] = pa.Field(nullable=False, gt=0)

    class Config:
        strict = False

    @pa.dataframe_check(name="usd_rate_is_one")
    def usd_rate_is_one(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A dollar is worth a dollar: a USD row saying otherwise is a broken export."""
        return data.lazyframe.select(
            (pl.col("currency") != "USD") | (pl.col("rate_to_usd") == 1) | pl.col("rate_to_usd").is_null()
        )


@dataclass(frozen=True)
class ExportKind:
    """One kind of export file: its columns, how each is typed and explained, its model, its key and its table."""

    name: str
    model: type[pa.DataFrameModel]
    fields: dict[str, tuple[pl.Expr, pl.Expr]]  # column -> (typed value, reason when the model rejects it)
    key: tuple[str, ...]
    table: str
    check_reasons: dict[str, pl.Expr] = field(default_factory=dict)  # dataframe-wide check -> reason

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.fields)


def _day(column: str) -> tuple[pl.Expr, pl.Expr]:
    text = written(column)
    typed = pl.when(text.str.contains("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")).then(text.str.to_date("%Y-%m-%d", strict=False))
    reason = _missing_or(column, pl.format("{}: {} is not a date (YYYY-MM-DD)", pl.lit(column), _quoted(column)))
    return typed.alias(column), reason


CUSTOMERS = ExportKind(
    name="customers",
    model=CustomerExport,
    fields={
        "customer_id": _text("customer_id", max_length=64),
        "name": _text("name"),
        "email": (
            written("email").alias("email"),
            _missing_or("email", pl.format("email: {} is not an email address", _quoted("email"))),
        ),
        "country": _code("country", "upper", "an ISO 3166-1 alpha-2 country code"),
        "segment": _text("segment"),
        "updated_at": _timestamp("updated_at"),
    },
    key=("customer_id",),
    table="sales.stg_customers",
)
ORDERS = ExportKind(
    name="orders",
    model=OrderExport,
    fields={
        "order_id": _text("order_id"),
        "customer_id": _text("customer_id"),
        "order_ts": _timestamp("order_ts"),
        "status": _code("status", "lower", "one of " + ", ".join(STATUSES)),
        "currency": _code("currency", "upper", "an ISO 4217 currency code"),
        "updated_at": _timestamp("updated_at"),
    },
    key=("order_id",),
    table="sales.stg_orders",
)
ORDER_LINES = ExportKind(
    name="order_lines",
    model=OrderLineExport,
    fields={
        "order_id": _text("order_id"),
        "line_no": _whole_number("line_no", LARGEST_INTEGER),
        "sku": _text("sku"),
        "quantity": _whole_number("quantity", LARGEST_BIGINT),
        "unit_price": _decimal("unit_price", 14, 4, "must not be negative"),
    },
    key=("order_id", "line_no"),
    table="sales.stg_order_lines",
)
FX_RATES = ExportKind(
    name="fx_rates",
    model=FxRateExport,
    fields={
        "day": _day("day"),
        "currency": _code("currency", "upper", "an ISO 4217 currency code"),
        "rate_to_usd": _decimal("rate_to_usd", 8, 10, "must be greater than 0"),
    },
    key=("day", "currency"),
    table="sales.stg_fx_rates",
    check_reasons={"usd_rate_is_one": pl.format("rate_to_usd: {} for USD, which must be 1", _quoted("rate_to_usd"))},
)
EXPORT_KINDS = (CUSTOMERS, ORDERS, ORDER_LINES, FX_RATES)


def parse_export_records(records: pl.DataFrame, kind: ExportKind) -> ParsedChunk:
    """Type and validate a chunk of `kind`'s records (see tasks/records.py); return its staging rows (with `raw`,
    which the load leaves out, for the batch's key check) and rejects with reasons."""
    header_problems = _header_problems(records, kind)
    if header_problems:
        problem = pl.coalesce(pl.col(RECORD_PROBLEM) + "; " + pl.lit(header_problems), pl.lit(header_problems))
        rejects = records.with_columns(problem.alias("reason")).select(*REJECT_SCHEMA)
        return ParsedChunk(rows=_empty_rows(kind), rejects=rejects.cast(REJECT_SCHEMA))
    malformed = records.filter(pl.col(RECORD_PROBLEM).is_not_null())
    as_written = records.filter(pl.col(RECORD_PROBLEM).is_null()).select(
        "line_number",
        "raw",
        "export_date",
        *(pl.col(column).str.strip_chars().replace("", None).alias(f"{column} as written") for column in kind.columns),
    )
    typed = as_written.with_columns(typed for typed, _ in kind.fields.values())
    reasons = {column: reason for column, (_, reason) in kind.fields.items()} | kind.check_reasons
    valid, invalid = split_valid_rows(typed, kind.model, reasons)
    rejects = pl.concat(
        [malformed.select("line_number", "raw", pl.col(RECORD_PROBLEM).alias("reason")).cast(REJECT_SCHEMA), invalid]
    ).sort("line_number")
    return ParsedChunk(rows=valid.select("export_date", "line_number", "raw", *kind.columns), rejects=rejects)


def _header_problems(records: pl.DataFrame, kind: ExportKind) -> str:
    present = [
        column for column in records.columns if column not in ("line_number", "raw", RECORD_PROBLEM, "export_date")
    ]
    missing = [f"the file has no column '{column}'" for column in kind.columns if column not in present]
    extra = [f"unexpected column '{column}'" for column in present if column not in kind.columns]
    return "; ".join(missing + extra)


def _empty_rows(kind: ExportKind) -> pl.DataFrame:
    schema = {"export_date": pl.Date, "line_number": pl.Int64, "raw": pl.String}
    schema |= {column: dtype for column, dtype in kind.model.to_schema().dtypes.items() if column in kind.columns}
    return pl.DataFrame(schema={column: getattr(dtype, "type", dtype) for column, dtype in schema.items()})


def kind_of(path: Path) -> ExportKind:
    """The kind of an export file, from its name (`order_lines_...` is not `orders_...`)."""
    for kind in EXPORT_KINDS:
        if re.match(rf"{kind.name}_", path.name):
            return kind
    raise ValueError(f"{path.name} is not a sales export file ({', '.join(EXPORT_FILES)})")


def _format(kind: ExportKind) -> SourceFormat:
    return SourceFormat(
        pipeline=PIPELINE,
        parse=partial(parse_export_records, kind=kind),
        version=code_version(__name__, "tasks.records", "tasks.reading", "tasks.staging", "tasks.validation"),
        read=read_export_records,
        unique_key=kind.key,
    )


SOURCE_FORMATS = {kind.name: _format(kind) for kind in EXPORT_KINDS}
TABLES = {
    kind.name: FactTable(pipeline=PIPELINE, table=kind.table, partition_column="export_date") for kind in EXPORT_KINDS
}


@dataclass(frozen=True)
class ExportPlan:
    """The run's export files in discovery order, with the format that stages each and the table that loads it."""

    batches: list[Batch]
    formats: list[SourceFormat]
    tables: list[FactTable]


def plan_exports(batches: list[Batch]) -> ExportPlan:
    kinds = [kind_of(batch.path) for batch in batches]
    return ExportPlan(
        batches=list(batches),
        formats=[SOURCE_FORMATS[kind.name] for kind in kinds],
        tables=[TABLES[kind.name] for kind in kinds],
    )


@dataclass(frozen=True)
class ModelSummary:
    """What the star schema holds after a run, and what it is waiting for."""

    counts: dict[str, int]
    missing_fx_rates: list[tuple[str, str, int]]  # (day, currency, revenue-bearing orders without a rate)


def summarize_model(connection: duckdb.DuckDBPyConnection) -> ModelSummary:
    cursor = connection.execute((SQL_DIR / PIPELINE / "model_summary.sql").read_text())
    names = [column[0] for column in cursor.description]
    counts = dict(zip(names, cursor.fetchone(), strict=True))
    missing = connection.execute(
        "select strftime(day, '%Y-%m-%d'), currency, orders from sales.missing_fx_rates order by day, currency"
    ).fetchall()
    return ModelSummary(counts=counts, missing_fx_rates=missing)
