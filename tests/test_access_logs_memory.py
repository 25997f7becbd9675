"""Bounded memory: a 2 GB log file streams through with a peak RSS well under 1 GB."""

import shutil

import pytest
from flow_process import PROJECT_ROOT, peak_rss_while_running, start_flow
from independent_access_logs import compute_expected
from warehouse_snapshot import query

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

TWO_GB = 2 * 1024**3
MEMORY_CEILING = 800 * 1024**2


def test_a_two_gigabyte_file_is_processed_in_bounded_memory(tmp_path):
    sample = PROJECT_ROOT / "data" / "sample_logs" / "access-2026-10-01.log"
    one_copy = tmp_path / "one-copy"
    one_copy.mkdir()
    shutil.copy(sample, one_copy / sample.name)
    expected = compute_expected(one_copy)["per_file"].row(0, named=True)
    block = sample.read_bytes() * 64
    copies = -(-TWO_GB // len(block)) * 64
    source = tmp_path / "logs"
    source.mkdir()
    with (source / "big.log").open("wb") as big:
        for _ in range(copies // 64):
            big.write(block)
    warehouse = tmp_path / "warehouse.duckdb"

    running = start_flow(source, warehouse)
    peak = peak_rss_while_running(running)

    assert running.returncode == 0, running.stderr.read()
    assert (source / "big.log").stat().st_size >= TWO_GB
    assert query(warehouse, "select rows_in, rows_loaded, rows_rejected from meta.batches") == [
        (copies * expected["lines"], copies * expected["well_formed"], copies * expected["rejected"])
    ]
    print(f"2 GiB file: peak RSS {peak / 1024**2:.0f} MiB")
    assert peak < MEMORY_CEILING, f"peak RSS {peak / 1024**2:.0f} MiB"
