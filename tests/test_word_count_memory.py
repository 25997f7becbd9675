"""Bounded memory: a map's memory follows its chunk size, not the size of its split."""

import pytest
from flow_process import rss_growth_while

from tasks.batches import make_batch
from tasks.mapreduce import plan_splits, run_map
from tasks.word_count import PIPELINE, WORD_COUNT_JOB

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
