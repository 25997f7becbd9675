"""The sales exports: customers, orders, order lines and FX rates, validated into the `sales` staging tables.

Each kind has a Pandera model and its reasons (see tasks/kit/exports.py); the rules are in docs/sales.md.
"""

from dataclasses import dataclass
from functools import partial
from typing import Annotated

import duckdb
import pandera.polars as pa
import polars as pl

from tasks.core.iso_codes import COUNTRIES, CURRENCIES
from tasks.core.staging import reject_duplicate_keys
from tasks.kit.exports import (
    END_OF_RANGE,
    FIRST_INSTANT,
    LARGEST_BIGINT,
    LARGEST_INTEGER,
    ExportFamily,
    ExportKind,
    UtcTimestamp,
    code_field,
    day_field,
    decimal_field,
    missing_or,
    quoted,
    text_field,
    timestamp_field,
    whole_number_field,
    written,
)
from tasks.pipelines import pipeline_of
from tasks.warehouse.connection import pipeline_sql

PIPELINE = pipeline_of(__name__)
STATUSES = ("placed", "paid", "shipped", "completed", "cancelled", "refunded")
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


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


CUSTOMERS = ExportKind(
    name="customers",
    model=CustomerExport,
    fields={
        "customer_id": text_field("customer_id", max_length=64),
        "name": text_field("name"),
        "email": (
            written("email").alias("email"),
            missing_or("email", pl.format("email: {} is not an email address", quoted("email"))),
        ),
        "country": code_field("country", "upper", "an ISO 3166-1 alpha-2 country code"),
        "segment": text_field("segment"),
        "updated_at": timestamp_field("updated_at"),
    },
    batch_checks=(partial(reject_duplicate_keys, key=("customer_id",)),),
    table="sales.stg_customers",
)
ORDERS = ExportKind(
    name="orders",
    model=OrderExport,
    fields={
        "order_id": text_field("order_id"),
        "customer_id": text_field("customer_id"),
        "order_ts": timestamp_field("order_ts"),
        "status": code_field("status", "lower", "one of " + ", ".join(STATUSES)),
        "currency": code_field("currency", "upper", "an ISO 4217 currency code"),
        "updated_at": timestamp_field("updated_at"),
    },
    batch_checks=(partial(reject_duplicate_keys, key=("order_id",)),),
    table="sales.stg_orders",
)
ORDER_LINES = ExportKind(
    name="order_lines",
    model=OrderLineExport,
    fields={
        "order_id": text_field("order_id"),
        "line_no": whole_number_field("line_no", LARGEST_INTEGER),
        "sku": text_field("sku"),
        "quantity": whole_number_field("quantity", LARGEST_BIGINT),
        "unit_price": decimal_field("unit_price", 14, 4, "must not be negative"),
    },
    batch_checks=(partial(reject_duplicate_keys, key=("order_id", "line_no")),),
    table="sales.stg_order_lines",
)
FX_RATES = ExportKind(
    name="fx_rates",
    model=FxRateExport,
    fields={
        "day": day_field("day"),
        "currency": code_field("currency", "upper", "an ISO 4217 currency code"),
        "rate_to_usd": decimal_field("rate_to_usd", 8, 10, "must be greater than 0"),
    },
    batch_checks=(partial(reject_duplicate_keys, key=("day", "currency")),),
    table="sales.stg_fx_rates",
    # a load marks the rates' days dirty, not the file's export day: the refresh (sql/refresh_marts.sql) chooses every
    # rate of a dirty day again among all its deliveries
    partition_day="day",
    check_reasons={"usd_rate_is_one": pl.format("rate_to_usd: {} for USD, which must be 1", quoted("rate_to_usd"))},
)
EXPORT_KINDS = (CUSTOMERS, ORDERS, ORDER_LINES, FX_RATES)


SALES_EXPORTS = ExportFamily(pipeline=PIPELINE, kinds=EXPORT_KINDS, code_modules=(__name__,))


@dataclass(frozen=True)
class ModelSummary:
    """What the star schema holds after a run, and what it is waiting for."""

    counts: dict[str, int]
    missing_fx_rates: list[tuple[str, str, int]]  # (day, currency, revenue-bearing orders without a rate)


def summarize_model(connection: duckdb.DuckDBPyConnection) -> ModelSummary:
    cursor = connection.execute((pipeline_sql(PIPELINE) / "model_summary.sql").read_text())
    names = [column[0] for column in cursor.description]
    counts = dict(zip(names, cursor.fetchone(), strict=True))
    missing = connection.execute(
        "select strftime(day, '%Y-%m-%d'), currency, orders from sales.missing_fx_rates order by day, currency"
    ).fetchall()
    return ModelSummary(counts=counts, missing_fx_rates=missing)
