"""A full disk under the sales pipeline, at staging and at the load and its commit: the run fails with its reason,
the ledger still records every version that is loaded, and a run once there is room again leaves the warehouse as
one clean run would. (Word count's spills: tests/pipelines/word_count/test_word_count_flow.py.)"""

import subprocess
from pathlib import Path

import pytest
from disk_full import disk_full
from flow_process import generate_sales
from independent_sales import assert_sales_match_independent_computation
from warehouse_snapshot import query, snapshot

import tasks.core.staging
from flows.sales import sales
from flows.warehouse_audit import warehouse_audit
from tasks.kit.steps import stage_file_batch
from tasks.observability.audit import run_checks, warehouse_checks
from tasks.warehouse.connection import read_warehouse

pytestmark = pytest.mark.usefixtures("prefect_server")

SALES_SCHEMAS = ("sales", "meta")


def run_sales(source: Path, warehouse: Path, **parameters):
    state = sales(source=source, warehouse=warehouse, max_reject_rate=1.0, return_state=True, **parameters)
    return state, state.result(raise_on_failure=False)


def tables_of(warehouse: Path) -> dict[str, list[tuple]]:
    """The sales and meta tables, without the audit's own history."""
    tables = snapshot(warehouse, SALES_SCHEMAS)
    tables.pop("meta.check_results", None)
    return tables


def ledger(warehouse: Path) -> list[tuple]:
    return query(warehouse, "select batch_id, status, rows_loaded, rows_rejected from meta.batches order by batch_id")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    return generate_sales(tmp_path_factory.mktemp("exports"), days=3, customers=40, orders_per_day=60, seed=15)


def test_a_reload_that_cannot_stage_keeps_the_record_of_every_loaded_file(tmp_path, exports, monkeypatch):
    # a full disk is retried, as any I/O error is: the retries are tested here, not their waits (~14 s)
    monkeypatch.setattr(stage_file_batch, "retry_delay_seconds", 0)
    warehouse = tmp_path / "warehouse.duckdb"
    state, _ = run_sales(exports, warehouse)
    assert state.is_completed(), state.message
    loaded, tables = ledger(warehouse), tables_of(warehouse)
    assert {status for _, status, _, _ in loaded} == {"loaded"}

    with disk_full(tmp_path / "staging", size=64 * 1024, simulate=[(tasks.core.staging, "_stage_chunk")]):
        state, summary = run_sales(exports, warehouse, reload=True)

        assert state.is_failed()
        failed = [batch for batch in summary.batches if batch.status == "failed"]
        assert failed and {batch.status for batch in summary.batches} <= {"failed", "loaded"}
        assert all(
            "DiskFull: no space left on device while writing the staged rows of" in batch.error for batch in failed
        )
        assert ledger(warehouse) == loaded
        assert tables_of(warehouse) == tables
        assert warehouse_audit(warehouse=warehouse, return_state=True).is_completed()

    state, summary = run_sales(exports, warehouse, reload=True)
    assert state.is_completed(), state.message
    assert [batch.status for batch in summary.batches] == ["loaded"] * len(loaded)
    assert ledger(warehouse) == loaded
    assert tables_of(warehouse) == tables
    assert_sales_match_independent_computation(exports, warehouse)


def test_a_warehouse_whose_disk_fills_during_the_load_keeps_what_it_had_and_then_loads_once(
    tmp_path, exports, monkeypatch
):
    # staging elsewhere, so that the disk fills in the load and not before it: a load writes only its commits to the
    # write-ahead log, a few kilobytes each, so the disk keeps just 64 KiB free
    monkeypatch.setattr("tasks.core.settings.STAGING", str(tmp_path / "staging"))
    monkeypatch.setattr("tasks.kit.steps.RETRY_DELAYS_SECONDS", (0, 0, 0))  # the full disk, not the backoff, is tested
    first_day = sorted(path.name for path in exports.iterdir() if "2026-10-01" in path.name)
    clean = tmp_path / "clean" / "warehouse.duckdb"
    assert run_sales(exports, clean)[0].is_completed()

    with disk_full(tmp_path / "disk", size=64 * 1024 * 1024) as full:
        if not full.mounted:
            pytest.skip("a warehouse file on a full disk needs a tmpfs mount; staging's simulation is tested above")
        warehouse = tmp_path / "disk" / "warehouse.duckdb"
        assert run_sales(exports, warehouse, files=first_day)[0].is_completed()
        loaded_first = ledger(warehouse)
        used = sum(path.stat().st_size for path in (tmp_path / "disk").rglob("*") if path.is_file())
        subprocess.run(["mount", "-o", f"remount,size={used + 64 * 1024}", str(tmp_path / "disk")], check=True)

        state, summary = run_sales(exports, warehouse)

        assert state.is_failed()
        assert "No space left on device" in state.message
        assert "\n" not in state.message and "no transaction is active" not in state.message
        with read_warehouse(warehouse) as connection:  # the audit's checks, read-only: its record needs room too
            assert [result for result in run_checks(connection, warehouse_checks()) if result.violations] == []
        assert set(ledger(warehouse)) >= set(loaded_first)
        subprocess.run(["mount", "-o", "remount,size=256m", str(tmp_path / "disk")], check=True)

        state, _ = run_sales(exports, warehouse)
        assert state.is_completed(), state.message
        assert tables_of(warehouse) == tables_of(clean)
        assert warehouse_audit(warehouse=warehouse, return_state=True).is_completed()
