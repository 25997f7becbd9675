"""Staging's checks across a batch (tasks/core/staging.py), on part files written here."""

from datetime import UTC, datetime

import polars as pl

from tasks.core.staging import reject_duplicate_keys


def test_rows_sharing_a_timestamp_key_move_to_the_rejects_with_their_lines(tmp_path):
    """A sensor that sends the same reading twice: the key holds a zoned timestamp, which the duplicate count reads
    back through DuckDB and joins with the staged rows."""
    at = [datetime(2026, 11, 1, hour, tzinfo=UTC) for hour in (0, 1, 0, 2, 0)]
    pl.DataFrame(
        {
            "sensor_id": ["s1", "s1", "s1", "s2", "s2"],
            "reading_ts": at,
            "line_number": [2, 3, 4, 5, 6],
            "raw": [f"line {n}" for n in range(2, 7)],
        },
        schema_overrides={"reading_ts": pl.Datetime("us", "UTC")},
    ).write_parquet(tmp_path / "rows-00000.parquet")

    assert reject_duplicate_keys(tmp_path, ("sensor_id", "reading_ts")) == 2

    kept = pl.read_parquet(tmp_path / "rows-00000.parquet")
    rejects = pl.read_parquet(tmp_path / "rejects-duplicates-00000.parquet").sort("line_number")
    assert kept["line_number"].to_list() == [3, 5, 6]
    assert rejects["line_number"].to_list() == [2, 4]
    assert (
        rejects["reason"].to_list()
        == ["sensor_id 's1', reading_ts '2026-11-01 00:00:00.000000+00:00' occurs 2 times in this file (lines 2, 4)"]
        * 2
    )
