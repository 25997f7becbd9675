"""Bounded memory: a map's memory follows its chunk size, not the size of its split nor the length of its lines."""

import gzip

import pytest
from flow_process import peak_rss_while_running, rss_growth_while, start_flow
from warehouse_snapshot import query

from tasks.core.batches import make_batch
from tasks.core.mapreduce import plan_splits, run_map
from tasks.core.settings import MAX_LINE_BYTES
from tasks.pipelines.word_count.source import PIPELINE, WORD_COUNT_JOB

pytestmark = pytest.mark.slow

SPLIT_BYTES = 256 * 1024**2
CHUNK_BYTES = 4 * 1024**2


def test_mapping_a_256_mib_split_holds_a_few_chunks_not_the_split(tmp_path):
    block = ("The quick brown fox jumps over the lazy dog; naïve café Straße 東京大学 don't stop.\n" * 20_000).encode()
    path = tmp_path / "big.txt"
    with path.open("wb") as big:
        for _ in range(-(-SPLIT_BYTES // len(block))):
            big.write(block)
    [split] = plan_splits([make_batch(PIPELINE, path)], SPLIT_BYTES * 2)

    output, growth = rss_growth_while(lambda: run_map(split, WORD_COUNT_JOB, tmp_path / "work", 4, True, CHUNK_BYTES))

    assert output.error is None and output.counters.bytes_read == path.stat().st_size
    print(f"256 MiB split in 4 MiB chunks: RSS grew {growth / 1024**2:.0f} MiB")
    # Less than the split's text alone; with 128 MiB chunks this run grew by 1.8 GiB.
    assert growth < SPLIT_BYTES


GIB = 1024**3
MEMORY_CEILING = 800 * 1024**2


@pytest.mark.usefixtures("prefect_server")
def test_a_gigabyte_without_a_newline_and_a_gzip_bomb_stream_through_in_bounded_memory(tmp_path):
    """The issue's files: `yes 'lorem ipsum' | tr '\\n' ' ' | head -c 1G` (counted, cut between words) and a gzip
    that expands to 1 GiB of one letter without a newline (one word too long to count: one reject)."""
    source = tmp_path / "corpus"
    source.mkdir()
    pair = b"lorem ipsum "
    block = pair * (4 * 1024**2)  # 48 MiB
    with (source / "a.txt").open("wb") as text:
        for _ in range(GIB // len(block)):
            text.write(block)
        text.write(block[: GIB % len(block)])
    with gzip.open(source / "bomb.txt.gz", "wb", compresslevel=1) as bomb:
        for _ in range(1024):
            bomb.write(b"x" * 1024**2)
    warehouse = tmp_path / "warehouse.duckdb"

    running = start_flow(source, warehouse, "--max-reject-rate", "1", flow="word_count")
    peak = peak_rss_while_running(running)

    assert running.returncode == 0, running.stderr.read()
    pairs, rest = divmod(GIB, len(pair))
    assert query(warehouse, "select word, count from wordcount.word_counts order by word") == [
        ("ipsum", pairs),
        (pair[:rest].decode(), 1),  # "lore": head -c cut the last word
        ("lorem", pairs),
    ]
    assert query(
        warehouse,
        "select regexp_extract(source, '[^/]+$'), rows_in, rows_loaded, rows_rejected from meta.batches order by 1",
    ) == [("a.txt", 1, 1, 0), ("bomb.txt.gz", 2, 1, 1)]
    assert query(warehouse, "select line_number, left(raw, 3), length(raw), reason from meta.rejects") == [
        (
            1,
            "xxx",
            200,
            f"a run of {GIB:,} bytes without a separator, from byte 0 of the line, is longer than "
            f"{MAX_LINE_BYTES:,} bytes: only its start is kept",
        )
    ]
    print(f"1 GiB without a newline and a 1 GiB gzip bomb: peak RSS {peak / 1024**2:.0f} MiB")
    assert peak < MEMORY_CEILING, f"peak RSS {peak / 1024**2:.0f} MiB"
