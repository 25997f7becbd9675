"""Staging's checks across a batch (tasks/core/staging.py), on part files written here."""

import dataclasses
from datetime import UTC, datetime

import polars as pl
import pytest

from tasks.core.batches import make_batch
from tasks.core.staging import reject_duplicate_keys, stage_batch
from tasks.pipelines.sales.source import SALES_EXPORTS


def test_rows_sharing_a_timestamp_key_move_to_the_rejects_with_their_lines(tmp_path):
    """A sensor that sends the same reading twice: the key holds a zoned timestamp, which the duplicate count reads
    back through DuckDB and joins with the staged rows."""
    at = [datetime(2026, 11, 1, hour, tzinfo=UTC) for hour in (0, 1, 0, 2, 0)]
    pl.DataFrame(
        {
            "sensor_id": ["s1", "s1", "s1", "s2", "s2"],
            "reading_ts": at,
            "line_number": [2, 3, 4, 5, 6],
        },
        schema_overrides={"reading_ts": pl.Datetime("us", "UTC")},
    ).write_parquet(tmp_path / "rows-00000.parquet")

    assert reject_duplicate_keys(tmp_path, ("sensor_id", "reading_ts")) == 2

    kept = pl.read_parquet(tmp_path / "rows-00000.parquet")
    moved = pl.read_parquet(tmp_path / "moved-duplicates-00000.parquet").sort("line_number")
    assert kept["line_number"].to_list() == [3, 5, 6]
    assert moved["line_number"].to_list() == [2, 4]
    assert (
        moved["reason"].to_list()
        == ["sensor_id 's1', reading_ts '2026-11-01 00:00:00.000000+00:00' occurs 2 times in this file (lines 2, 4)"]
        * 2
    )


def test_a_moved_row_whose_line_is_not_in_the_file_is_an_error_not_a_reject_without_its_text(tmp_path):
    """The rows a check moves aside get their text from the file read again; a line that is not there (a checker
    naming a wrong line) stops the batch rather than leave a reject without the text it was rejected for."""
    path = tmp_path / "fx_rates_2026-10-01.csv"
    path.write_text("day,currency,rate_to_usd\n2026-10-01,EUR,1.1\n")

    def move_a_line_that_is_not_there(scratch):
        pl.DataFrame({"line_number": [2, 7], "reason": ["moved", "moved"]}).write_parquet(
            scratch / "moved-check-00000.parquet"
        )
        return 0

    source_format = dataclasses.replace(
        SALES_EXPORTS.formats["fx_rates"], batch_checks=(move_a_line_that_is_not_there,)
    )
    with pytest.raises(ValueError, match=r"fx_rates_2026-10-01.csv: lines \[7\] were staged but are not in the file"):
        stage_batch(make_batch("sales", path), source_format, tmp_path / "staging", 1 << 20)
