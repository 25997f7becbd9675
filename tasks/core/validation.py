"""Pandera validation that splits a frame into valid rows and reject rows with readable reasons."""

from collections.abc import Mapping

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

from tasks.core.errors import PermanentError

REJECT_SCHEMA = {"line_number": pl.Int64, "raw": pl.String, "reason": pl.String}


class SchemaMismatch(PermanentError):
    """The frame's columns or types are wrong as a whole: a bug upstream, not bad input rows."""


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def split_valid_rows(
    frame: pl.DataFrame, model: type[pa.DataFrameModel], reasons: Mapping[str, pl.Expr]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate `frame` with `model`; return (valid rows, rejects with `line_number`, `raw` and `reason`).

    `reasons` maps each column the model checks (for a column check) or the name of a dataframe-wide check to
    an expression over the row that says what is wrong. `frame` must hold `line_number` and `raw`. A row failing
    several checks gets all its reasons, in the order of `reasons`.
    """
    try:
        model.validate(frame, lazy=True)
        return frame, empty_rejects()
    except SchemaErrors as errors:
        cases = errors.failure_cases
    if cases.get_column("index").null_count():
        raise SchemaMismatch(f"{model.__name__}: the frame does not have the expected columns and types:\n{cases}")
    failures = (
        cases.select(
            pl.col("index").cast(pl.UInt32).alias("row"),
            pl.when(pl.col("schema_context") == "Column")
            .then(pl.col("column"))
            .otherwise(pl.col("check"))
            .alias("key"),
        )
        .unique()
        .with_columns(
            pl.col("key").replace_strict(list(reasons), range(len(reasons)), return_dtype=pl.Int32).alias("order")
        )
    )
    reason_by_key = pl.lit(None, dtype=pl.String)
    for key, reason in reversed(reasons.items()):
        reason_by_key = pl.when(pl.col("key") == key).then(reason).otherwise(reason_by_key)
    rejects = (
        frame.with_row_index("row")
        .join(failures, on="row")
        .with_columns(reason_by_key.alias("reason"))
        .sort("row", "order")
        .group_by("row", maintain_order=True)
        .agg(pl.col("line_number").first(), pl.col("raw").first(), pl.col("reason").str.join("; "))
        .select(*REJECT_SCHEMA)
    )
    valid = frame.with_row_index("row").filter(~pl.col("row").is_in(failures.get_column("row").implode())).drop("row")
    return valid, rejects.cast(REJECT_SCHEMA)
