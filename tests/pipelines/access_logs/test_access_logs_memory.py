"""Bounded memory: a 2 GB log file, and lines of a gigabyte, stream through with a peak RSS well under 1 GB."""

import gzip
import shutil

import pytest
from flow_process import PROJECT_ROOT, peak_rss_while_running, start_flow
from independent_access_logs import compute_expected
from log_files import log_line
from warehouse_snapshot import query

from tasks.core.settings import MAX_LINE_BYTES

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


def test_lines_longer_than_the_limit_become_rejects_in_bounded_memory(tmp_path):
    """A gzip bomb (1 GiB of text without a newline, 1 MB compressed) and a 256 MiB line between two good ones."""
    source = tmp_path / "logs"
    source.mkdir()
    with gzip.open(source / "bomb.log.gz", "wb", compresslevel=1) as bomb:
        for _ in range(1024):
            bomb.write(b"x" * 1024**2)
    with (source / "big.log").open("wb") as big:
        big.write((log_line(request="GET /before HTTP/1.1") + "\n").encode())
        for _ in range(256):
            big.write(b"lorem ipsum " * 87381 + b"lore")  # 1 MiB
        big.write(("\n" + log_line(request="GET /after HTTP/1.1") + "\n").encode())
    warehouse = tmp_path / "warehouse.duckdb"

    running = start_flow(source, warehouse, "--max-reject-rate", "1")  # every batch here is mostly rejects
    peak = peak_rss_while_running(running)

    assert running.returncode == 0, running.stderr.read()
    assert query(warehouse, "select path, line_number from logs.requests order by all") == [
        ("/after", 3),
        ("/before", 1),
    ]
    rejects = query(
        warehouse, "select regexp_extract(source, '[^/]+$'), line_number, raw, reason from meta.rejects order by 1"
    )
    assert [(name, line, raw[:5], len(raw)) for name, line, raw, _ in rejects] == [
        ("big.log", 2, "lorem", 200),
        ("bomb.log.gz", 1, "xxxxx", 200),
    ]
    assert [reason for *_, reason in rejects] == [
        f"the line is longer than {MAX_LINE_BYTES} bytes ({256 * 1024**2} bytes): only its start is kept",
        f"the line is longer than {MAX_LINE_BYTES} bytes ({1024**3} bytes): only its start is kept",
    ]
    print(f"1 GiB line: peak RSS {peak / 1024**2:.0f} MiB")
    assert peak < MEMORY_CEILING, f"peak RSS {peak / 1024**2:.0f} MiB"
