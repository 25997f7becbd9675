"""Bounded memory: staging an export file holds a few chunks, not the file, however large the file is."""

import polars as pl
import pytest
from flow_process import rss_growth_while

from tasks.core.batches import make_batch
from tasks.core.staging import stage_batch
from tasks.pipelines.sales.source import PIPELINE, SALES_EXPORTS

pytestmark = pytest.mark.slow

FILE_BYTES = 256 * 1024**2
CHUNK_BYTES = 4 * 1024**2


def write_orders(path, rows: int) -> None:
    """`rows` distinct valid orders (and so `rows` distinct keys for the duplicate check)."""
    number = pl.int_range(rows, dtype=pl.Int64)
    pl.select(
        (pl.lit("ORD-") + number.cast(pl.String).str.zfill(10)).alias("order_id"),
        (pl.lit("CUST-") + (number % 50_000).cast(pl.String)).alias("customer_id"),
        pl.lit("2026-10-01T12:34:56+02:00").alias("order_ts"),
        pl.lit("completed").alias("status"),
        pl.lit("EUR").alias("currency"),
        pl.lit("2026-10-02T08:00:00Z").alias("updated_at"),
    ).write_csv(path)


def test_staging_a_256_mib_export_holds_a_few_chunks_not_the_file(tmp_path):
    path = tmp_path / "orders_2026-10-01.csv"
    write_orders(path, FILE_BYTES // 95)
    assert path.stat().st_size > FILE_BYTES * 0.9
    batch = make_batch(PIPELINE, path)

    staged, growth = rss_growth_while(
        lambda: stage_batch(batch, SALES_EXPORTS.formats["orders"], tmp_path / "staging", CHUNK_BYTES)
    )

    assert staged.error is None
    assert (staged.rows_in, staged.rows_rejected) == (FILE_BYTES // 95, 0)
    print(f"{path.stat().st_size / 1024**2:.0f} MiB export in 4 MiB chunks: RSS grew {growth / 1024**2:.0f} MiB")
    assert growth < FILE_BYTES
