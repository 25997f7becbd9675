"""Pandera validation that splits a frame into valid rows and rejects with reasons."""

import pandera.polars as pa
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.core.validation import REJECT_SCHEMA, SchemaMismatch, split_valid_rows


class Reading(pa.DataFrameModel):
    celsius: pl.Int64 = pa.Field(in_range={"min_value": -90, "max_value": 60})
    station: pl.String = pa.Field(isin=["north", "south"])

    @pa.dataframe_check(name="night_is_cold")
    def night_is_cold(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select((pl.col("hour") >= 6) | (pl.col("celsius") < 40))


REASONS = {
    "celsius": pl.format("celsius: {} is outside -90..60", pl.col("celsius")),
    "station": pl.format("station: '{}' is unknown", pl.col("station")),
    "night_is_cold": pl.lit("night: too hot before 06:00"),
}


def readings(*rows: tuple[int, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(number, f"line {number}", *row) for number, row in enumerate(rows, start=1)],
        schema={"line_number": pl.Int64, "raw": pl.String, "celsius": pl.Int64, "station": pl.String, "hour": pl.Int64},
        orient="row",
    )


def test_valid_rows_pass_through_and_rejects_are_empty():
    frame = readings((20, "north", 12), (-5, "south", 3))

    valid, rejects = split_valid_rows(frame, Reading, REASONS)

    assert_frame_equal(valid, frame)
    assert rejects.schema == REJECT_SCHEMA and rejects.is_empty()


def test_each_failing_row_gets_every_reason_in_declared_order_and_the_rest_stay_valid():
    frame = readings((20, "north", 12), (99, "east", 3), (45, "south", 2), (-100, "south", 10))

    valid, rejects = split_valid_rows(frame, Reading, REASONS)

    assert_frame_equal(valid, readings((20, "north", 12)))
    assert rejects.to_dicts() == [
        {
            "line_number": 2,
            "raw": "line 2",
            "reason": "celsius: 99 is outside -90..60; station: 'east' is unknown; night: too hot before 06:00",
        },
        {"line_number": 3, "raw": "line 3", "reason": "night: too hot before 06:00"},
        {"line_number": 4, "raw": "line 4", "reason": "celsius: -100 is outside -90..60"},
    ]


def test_a_frame_of_the_wrong_shape_is_a_bug_not_bad_rows():
    frame = readings((20, "north", 12)).drop("station")

    with pytest.raises(SchemaMismatch, match="Reading"):
        split_valid_rows(frame, Reading, REASONS)
