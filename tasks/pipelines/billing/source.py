"""The billing exports: usage events, the plan catalogue and subscriptions, validated into `billing` staging tables.

Each kind has a Pandera model and its reasons (see tasks/kit/exports.py); rules across a file (a usage event delivered
twice, a plan's tiers, a customer's overlapping subscriptions) run once the file is staged. The rules are the
docs/billing.md.
"""

from functools import partial
from pathlib import Path
from typing import Annotated

import pandera.polars as pa
import polars as pl

from tasks.core.iso_codes import CURRENCIES
from tasks.core.staging import move_rows_to_rejects, reject_duplicate_keys
from tasks.kit.exports import (
    END_OF_RANGE,
    FIRST_INSTANT,
    ExportFamily,
    ExportKind,
    UtcTimestamp,
    code_field,
    day_field,
    decimal_field,
    given_and_parsed,
    missing_or,
    quoted,
    text_field,
    timestamp_field,
    written,
)
from tasks.pipelines import pipeline_of

PIPELINE = pipeline_of(__name__)
METRIC = r"^[a-z][a-z0-9_]*$"
Quantity = Annotated[pl.Decimal, 18, 6]


def _metric_field(column: str) -> tuple[pl.Expr, pl.Expr]:
    reason = pl.format(
        "{}: {} is not a metric name (lower-case letters, digits and _, starting with a letter)",
        pl.lit(column),
        quoted(column),
    )
    return written(column).alias(column), missing_or(column, reason)


class UsageEvent(pa.DataFrameModel):
    """A row of usage_<date>: one metered event."""

    event_id: pl.String = pa.Field(nullable=False, str_length={"max_value": 128})
    customer_id: pl.String = pa.Field(nullable=False)
    metric: pl.String = pa.Field(nullable=False, str_matches=METRIC)
    quantity: Quantity = pa.Field(nullable=False, ge=0)
    ts: UtcTimestamp = pa.Field(nullable=False, ge=FIRST_INSTANT, lt=END_OF_RANGE)

    class Config:
        strict = False  # the text as written travels alongside, for the reasons


class PlanRow(pa.DataFrameModel):
    """A row of plans_<date>: a plan's base fee, or one price tier of one of its metrics."""

    plan_id: pl.String = pa.Field(nullable=False)
    currency: pl.String = pa.Field(nullable=False, isin=sorted(CURRENCIES))
    base_fee: Annotated[pl.Decimal, 18, 4] = pa.Field(nullable=False, ge=0)
    metric: pl.String = pa.Field(nullable=True, str_matches=METRIC)
    included: Quantity = pa.Field(nullable=True, ge=0)
    up_to: Quantity = pa.Field(nullable=True, gt=0)
    unit_price: Quantity = pa.Field(nullable=True, ge=0)
    included_parsed: pl.Boolean = pa.Field(eq=True)
    up_to_parsed: pl.Boolean = pa.Field(eq=True)
    unit_price_parsed: pl.Boolean = pa.Field(eq=True)

    class Config:
        strict = False

    @pa.dataframe_check(name="tier_needs_metric_and_price")
    def tier_needs_metric_and_price(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A metric row prices its tier; a row without a metric is the plan's base fee alone."""
        priced = pl.col("metric").is_not_null() & written("unit_price").is_not_null()
        bare = pl.col("metric").is_null() & pl.all_horizontal(
            written(column).is_null() for column in ("included", "up_to", "unit_price")
        )
        return data.lazyframe.select(priced | bare)


class Subscription(pa.DataFrameModel):
    """A row of subscriptions_<date>: a customer on a plan from start_date to end_date (inclusive; empty: open),
    with the customer's name and postal address for the invoice when the file has them (optional columns)."""

    customer_id: pl.String = pa.Field(nullable=False)
    plan_id: pl.String = pa.Field(nullable=False)
    start_date: pl.Date = pa.Field(nullable=False)
    end_date: pl.Date = pa.Field(nullable=True)
    customer_name: pl.String = pa.Field(
        nullable=True, str_length={"max_value": 200}, description="as the invoice addresses the customer"
    )
    customer_address: pl.String = pa.Field(
        nullable=True, str_length={"max_value": 500}, description="postal address; lines separated by newlines"
    )
    end_date_parsed: pl.Boolean = pa.Field(eq=True)

    class Config:
        strict = False

    @pa.dataframe_check(name="ends_after_it_starts")
    def ends_after_it_starts(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("end_date").is_null() | pl.col("start_date").is_null() | (pl.col("end_date") >= pl.col("start_date"))
        )


def reject_inconsistent_plans(scratch: Path) -> int:
    """A plan is one currency and one base fee, and either one row without a metric or metered rows; each metric
    has one included quantity and tiers whose bounds rise in line order, exactly one open-ended, last. Every row of a
    plan breaking this is rejected, with why: a plan half loaded would bill wrongly."""
    rows = pl.read_parquet(scratch / "rows-*.parquet")  # a catalogue: small
    plans = rows.group_by("plan_id").agg(
        (pl.col("currency").n_unique() > 1).alias("currencies"),
        (pl.col("base_fee").n_unique() > 1).alias("base_fees"),
    )
    bare_rows = rows.group_by("plan_id").agg(
        (pl.col("metric").is_null().sum() > 1).alias("several_bare"),
        (pl.col("metric").is_null().any() & pl.col("metric").is_not_null().any()).alias("bare_and_metered"),
    )
    metrics = (
        rows.filter(pl.col("metric").is_not_null())
        .sort("line_number")
        .group_by("plan_id", "metric", maintain_order=True)
        .agg(
            (pl.col("included").fill_null(0).n_unique() > 1).alias("included_values"),
            (pl.col("up_to").is_null().sum() != 1).alias("open_tiers"),
            # in line order: bounds rise, and the open-ended tier comes last
            ~(pl.col("up_to").drop_nulls().diff().drop_nulls().gt(0).all() & pl.col("up_to").last().is_null()).alias(
                "tiers_out_of_order"
            ),
        )
    )
    problems = [
        plans.filter("currencies").select("plan_id", pl.lit("has more than one currency").alias("problem")),
        plans.filter("base_fees").select("plan_id", pl.lit("has more than one base_fee").alias("problem")),
        metrics.filter("included_values").select(
            "plan_id", pl.format("has more than one included quantity for {}", "metric").alias("problem")
        ),
        metrics.filter("open_tiers").select(
            "plan_id", pl.format("needs exactly one open-ended tier (empty up_to) for {}", "metric").alias("problem")
        ),
        metrics.filter("tiers_out_of_order").select(
            "plan_id",
            pl.format("needs rising up_to bounds, the open-ended tier last, for {}", "metric").alias("problem"),
        ),
        bare_rows.filter("several_bare").select(
            "plan_id", pl.lit("has more than one row without a metric").alias("problem")
        ),
        bare_rows.filter("bare_and_metered").select(
            "plan_id", pl.lit("has a row without a metric besides its metered rows").alias("problem")
        ),
    ]
    reasons = (
        pl.concat(problems)
        .sort("plan_id", "problem")
        .group_by("plan_id", maintain_order=True)
        .agg(pl.format("plan '{}' {}", pl.col("plan_id").first(), pl.col("problem").str.join("; ")).alias("reason"))
    )
    return move_rows_to_rejects(scratch, reasons, on=("plan_id",), name="plans") if reasons.height else 0


def reject_overlapping_subscriptions(scratch: Path) -> int:
    """A customer is on one plan at a time: every row of a customer whose subscriptions overlap is rejected."""
    rows = pl.read_parquet(scratch / "rows-*.parquet", columns=["customer_id", "start_date", "end_date", "line_number"])
    overlapping = (
        rows.sort("customer_id", "start_date")
        .with_columns(
            pl.col("end_date").shift(1).over("customer_id").alias("previous_end"),
            (pl.int_range(pl.len()).over("customer_id") > 0).alias("has_previous"),
        )
        .filter(
            pl.col("has_previous")
            & (pl.col("previous_end").is_null() | (pl.col("previous_end") >= pl.col("start_date")))
        )
        .select("customer_id")
        .unique()
    )
    if not overlapping.height:
        return 0
    reasons = (
        rows.join(overlapping, on="customer_id")
        .group_by("customer_id")
        .agg(pl.col("line_number").sort().cast(pl.String).str.join(", ").alias("lines"))
        .select(
            "customer_id",
            pl.format("customer '{}' has overlapping subscriptions (lines {})", "customer_id", "lines").alias("reason"),
        )
    )
    return move_rows_to_rejects(scratch, reasons, on=("customer_id",), name="overlaps")


USAGE = ExportKind(
    name="usage",
    model=UsageEvent,
    fields={
        "event_id": text_field("event_id", max_length=128),
        "customer_id": text_field("customer_id"),
        "metric": _metric_field("metric"),
        "quantity": decimal_field("quantity", 12, 6, "must not be negative"),
        "ts": timestamp_field("ts"),
    },
    table="billing.stg_usage",
    # the same event delivered twice counts once: the first line stays, the repeats are rejected
    batch_checks=(partial(reject_duplicate_keys, key=("event_id",), keep_first=True),),
)
PLANS = ExportKind(
    name="plans",
    model=PlanRow,
    fields={
        "plan_id": text_field("plan_id"),
        "currency": code_field("currency", "upper", "an ISO 4217 currency code"),
        "base_fee": decimal_field("base_fee", 14, 4, "must not be negative"),
        "metric": _metric_field("metric"),
        "included": decimal_field("included", 12, 6, "must not be negative"),
        "up_to": decimal_field("up_to", 12, 6, "must be greater than 0"),
        "unit_price": decimal_field("unit_price", 12, 6, "must not be negative"),
    },
    table="billing.stg_plans",
    all_or_none_by="plan_id",  # a plan priced from part of its tiers would bill wrongly
    derived={column + "_parsed": given_and_parsed(column) for column in ("included", "up_to", "unit_price")},
    check_reasons={
        "included_parsed": decimal_field("included", 12, 6, "")[1],
        "up_to_parsed": decimal_field("up_to", 12, 6, "")[1],
        "unit_price_parsed": decimal_field("unit_price", 12, 6, "")[1],
        "tier_needs_metric_and_price": pl.lit(
            "a row with a metric needs its unit_price; a row without one holds only the plan's base fee"
        ),
    },
    batch_checks=(reject_inconsistent_plans,),
)
SUBSCRIPTIONS = ExportKind(
    name="subscriptions",
    model=Subscription,
    fields={
        "customer_id": text_field("customer_id"),
        "plan_id": text_field("plan_id"),
        "start_date": day_field("start_date"),
        "end_date": day_field("end_date"),
        "customer_name": text_field("customer_name", max_length=200),
        "customer_address": text_field("customer_address", max_length=500),
    },
    table="billing.stg_subscriptions",
    optional=("customer_name", "customer_address"),
    derived={"end_date_parsed": given_and_parsed("end_date")},
    check_reasons={
        "end_date_parsed": day_field("end_date")[1],
        "ends_after_it_starts": pl.format(
            "end_date {} is before start_date {}", quoted("end_date"), quoted("start_date")
        ),
    },
    batch_checks=(reject_overlapping_subscriptions,),
)
BILLING_EXPORTS = ExportFamily(pipeline=PIPELINE, kinds=(USAGE, PLANS, SUBSCRIPTIONS), code_modules=(__name__,))
