"""Exactly once under crashes: a run killed with SIGKILL at any moment, then run again, leaves the warehouse
identical to one clean run."""

import signal
import time

import pytest
from flow_process import generate_logs, run_flow_process, start_flow
from warehouse_snapshot import snapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

# Where in a run to kill it, as fractions of a clean run's duration: start-up and discovery, staging, loading,
# and the mart rebuild at the end all get hit across these.
KILL_POINTS = (0.35, 0.55, 0.7, 0.85, 0.95)


def test_a_run_killed_at_any_moment_then_rerun_equals_one_clean_run(tmp_path):
    source = generate_logs(tmp_path / "logs", 12, 11, "--days", "4")
    small_chunks = ("--chunk-mb", "1")  # many chunks and parts, so a kill lands mid-batch
    started = time.monotonic()
    clean = run_flow_process(source, tmp_path / "clean" / "warehouse.duckdb", *small_chunks)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(tmp_path / "clean" / "warehouse.duckdb")

    for point in KILL_POINTS:
        warehouse = tmp_path / f"killed-at-{point}" / "warehouse.duckdb"
        running = start_flow(source, warehouse, *small_chunks)
        time.sleep(clean_seconds * point)
        running.send_signal(signal.SIGKILL)
        running.wait()

        rerun = run_flow_process(source, warehouse, *small_chunks)

        assert rerun.returncode == 0, f"killed at {point:.0%} of a run: {rerun.stderr}"
        assert snapshot(warehouse) == expected, f"killed at {point:.0%} of a run"
