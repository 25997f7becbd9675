"""Staging's checks across a batch (tasks/core/staging.py), on part files written here."""

import dataclasses
import shutil
import socket
from datetime import UTC, datetime

import polars as pl
import pytest

import tasks.core.staging
from tasks.core.batches import make_batch
from tasks.core.staging import KEY_CHECK_SPILL, key_counter, reject_duplicate_keys, stage_batch
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


@pytest.fixture
def small_key_counter(monkeypatch):
    """Duplicate-key checks under a memory limit that 3 M keys exceed, so that they spill; the process's shared
    DuckDB is made anew for the test and dropped after it."""
    monkeypatch.setattr(tasks.core.staging, "WAREHOUSE_MEMORY_LIMIT", "100MB")
    tasks.core.staging._key_counter.cache_clear()
    yield
    tasks.core.staging._key_counter.cache_clear()


def staged_keys(scratch, count):
    scratch.mkdir(parents=True)
    keys = pl.int_range(0, count, eager=True)
    pl.DataFrame({"order_id": keys.cast(pl.String) + "-order", "line_number": keys + 2}).write_parquet(
        scratch / "rows-00000.parquet"
    )


def test_duplicate_checks_share_one_duckdb_that_spills_into_the_staging_area_even_after_it_was_cleared(
    tmp_path, small_key_counter
):
    """The checks of a process share one DuckDB per staging area (opening one costs more than a small file's check).
    It spills into the area's own folder, where its owner file keeps other processes' DuckDB from taking its files for
    a dead process's. An operator clearing staging meanwhile gets the next check a new DuckDB, with its owner file."""
    area = tmp_path / "staging" / "sales"
    spill = area / KEY_CHECK_SPILL / socket.gethostname()
    staged_keys(area / "first.partial-1", 3_000_000)
    staged_keys(area / "second.partial-2", 10)
    staged_keys(area / "third.partial-3", 3_000_000)

    assert reject_duplicate_keys(area / "first.partial-1", ("order_id",)) == 0
    owned_after_first = [path.name for path in spill.iterdir()]
    shared = key_counter(area)
    assert reject_duplicate_keys(area / "second.partial-2", ("order_id",)) == 0
    assert key_counter(area) is shared
    shutil.rmtree(area / KEY_CHECK_SPILL)
    assert reject_duplicate_keys(area / "third.partial-3", ("order_id",)) == 0

    assert len(owned_after_first) == 1
    assert owned_after_first[0].endswith("_owner")
    assert len(list(spill.glob("*_owner"))) == 1
