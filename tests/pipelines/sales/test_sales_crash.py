"""Exactly once under crashes: a sales run killed with SIGKILL, then run again, leaves the warehouse identical to
one clean run, whether the kill lands while staging, between loads, or during the star schema's rebuild."""

import signal
import time

import pytest
from flow_process import generate_sales, run_flow_process, start_flow
from warehouse_snapshot import snapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

KILL_POINTS = (0.6, 0.9)
SCHEMAS = ("sales", "meta")


def test_a_run_killed_at_any_moment_then_rerun_equals_one_clean_run(tmp_path):
    exports = generate_sales(tmp_path / "exports", days=6, customers=3_000, orders_per_day=4_000, seed=11)
    # the generator quarantines whole files on purpose, over the default reject-rate guard: not this test's subject
    small_chunks = ("--chunk-mb", "1", "--max-reject-rate", "1")
    started = time.monotonic()
    clean = run_flow_process(exports, tmp_path / "clean" / "warehouse.duckdb", *small_chunks, flow="sales")
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(tmp_path / "clean" / "warehouse.duckdb", SCHEMAS)

    for point in KILL_POINTS:
        warehouse = tmp_path / f"killed-at-{point}" / "warehouse.duckdb"
        running = start_flow(exports, warehouse, *small_chunks, flow="sales")
        time.sleep(clean_seconds * point)
        running.send_signal(signal.SIGKILL)
        running.wait()

        rerun = run_flow_process(exports, warehouse, *small_chunks, flow="sales")

        assert rerun.returncode == 0, f"killed at {point:.0%} of a run: {rerun.stderr}"
        assert snapshot(warehouse, SCHEMAS) == expected, f"killed at {point:.0%} of a run"
