"""The sales flow under one Prefect test server: a run's summary and artifacts, re-runs, arrival order across runs,
unreadable files, and the command line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flow_process import generate_sales
from independent_sales import assert_sales_match_independent_computation
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from run_records import assert_run_matches_ledger
from sales_exports import mixed_exports, money_exports, write_export
from warehouse_snapshot import query, snapshot

from flows.sales import sales

PROJECT_ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(source: Path, warehouse: Path, **parameters):
    # The generator quarantines whole files on purpose (a file with a missing column: 100% rejected), which fails a
    # run at the default reject-rate guard after loading it. These tests are about the data, so they accept any
    # rate unless they say otherwise; the guard on the bundled samples is tested below.
    parameters.setdefault("max_reject_rate", 1.0)
    state = sales(source=source, warehouse=warehouse, return_state=True, **parameters)
    return state, state.result(raise_on_failure=False)


def artifacts_of(state) -> dict:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    return {artifact.key: artifact for artifact in artifacts if artifact.key}


def test_a_run_loads_every_export_and_reports_the_model_and_the_missing_rates(tmp_path):
    exports = tmp_path / "exports"
    money_exports(exports)
    write_export(exports, "orders_2026-10-09.csv", [["bad", "C1", "yesterday", "paid", "EUR", "2026-10-09T00:00Z"]])

    state, summary = run_flow(exports, tmp_path / "warehouse.duckdb")

    assert state.is_completed(), state.message
    assert (summary.rows_in, summary.rows_loaded, summary.rows_rejected) == (17, 16, 1)
    artifacts = artifacts_of(state)
    assert {"sales-model", "sales-summary", "sales-batches"} <= set(artifacts)
    model = artifacts["sales-model"].data
    assert "| orders | 7 |" in model
    assert "| 2026-10-04 | EUR | 1 |" in model  # E4's revenue_usd waits for that rate
    batches = artifacts["sales-batches"].data
    rows = json.loads(batches) if isinstance(batches, str) else batches
    assert rows[-1]["rows in"] == 17 and rows[-1]["rejected"] == 1
    assert query(
        tmp_path / "warehouse.duckdb", "select line_number, reason from meta.rejects where pipeline = 'sales'"
    ) == [(2, "order_ts: 'yesterday' is not an ISO 8601 date and time with a UTC offset")]


def test_a_second_run_loads_nothing_and_changes_nothing(tmp_path):
    exports = tmp_path / "exports"
    files = mixed_exports(exports)
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(exports, warehouse)
    first = snapshot(warehouse, schemas=("sales", "meta"))

    state, summary = run_flow(exports, warehouse)

    assert state.is_completed()
    assert summary.batches == [] and summary.already_loaded == len(files)
    assert snapshot(warehouse, schemas=("sales", "meta")) == first


def test_files_arriving_over_several_runs_newest_first_give_the_warehouse_of_one_run(tmp_path):
    exports = tmp_path / "exports"
    names = [path.name for path in reversed(mixed_exports(exports))]
    run_flow(exports, tmp_path / "at-once.duckdb")

    for arrived in (names[:4], names[4:7], names[7:]):  # test_sales_model.py tries more orders, without Prefect
        state, _ = run_flow(exports, tmp_path / "one-by-one.duckdb", files=arrived)
        assert state.is_completed(), state.message

    assert snapshot(tmp_path / "one-by-one.duckdb", schemas=("sales", "meta")) == snapshot(
        tmp_path / "at-once.duckdb", schemas=("sales", "meta")
    )


def test_an_unreadable_export_fails_alone_and_names_itself(tmp_path):
    exports = tmp_path / "exports"
    money_exports(exports)
    (exports / "orders_latest.csv").write_text("order_id\nO9\n")  # no export date in its name
    (exports / "customers_2026-10-01.csv.gz").write_bytes(b"not gzip at all")

    state, summary = run_flow(exports, tmp_path / "warehouse.duckdb")

    assert state.is_failed()
    assert "orders_latest.csv carries no export date" in state.message
    assert "customers_2026-10-01.csv.gz" in state.message and "gzip" in state.message
    assert sorted(batch.status for batch in summary.batches) == ["failed", "failed", "loaded", "loaded", "loaded"]
    assert query(tmp_path / "warehouse.duckdb", "select count(*) from sales.fact_orders") == [(7,)]


def test_the_command_line_refuses_a_missing_folder_with_a_message(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "flows/sales.py",
            "--source",
            str(tmp_path / "nowhere"),
            "--warehouse",
            str(tmp_path / "w.duckdb"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert done.stderr.strip() == f"sales: source folder {tmp_path / 'nowhere'} does not exist"


SAMPLE_SALES = PROJECT_ROOT / "data" / "sample_sales"
SAMPLE_SALES_DRIFT = PROJECT_ROOT / "data" / "sample_sales_drift"


def test_the_bundled_sample_agrees_with_an_independent_computation_and_ends_completed_at_the_default_guard(tmp_path):
    state, summary = run_flow(SAMPLE_SALES, tmp_path / "warehouse.duckdb", max_reject_rate=0.05)

    # every file loads with its rejects quarantined; the small files over 5% (1 bad fx rate of 7) are under the
    # guard's minimum size, so they are reported but do not fail the run
    assert state.is_completed(), state.message
    assert not summary.failures and len(summary.batches) == 18
    small_and_over = [batch for batch in summary.batches if batch.rows_rejected / batch.rows_in > 0.05]
    assert small_and_over and all(batch.rows_in < 100 for batch in small_and_over)
    assert_run_matches_ledger(tmp_path / "warehouse.duckdb", state, "completed")
    assert summary.rows_in == summary.rows_loaded + summary.rows_rejected
    assert summary.rows_rejected > 0
    assert_sales_match_independent_computation(SAMPLE_SALES, tmp_path / "warehouse.duckdb")


def test_the_drift_sample_is_rejected_whole_and_fails_the_run_whatever_the_files_size(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_SALES, warehouse, max_reject_rate=0.05)

    state, summary = run_flow(SAMPLE_SALES_DRIFT, warehouse, max_reject_rate=0.05)

    # a 23-row file is under the guard's minimum size, but nothing of it loaded: the run fails, naming both files
    assert state.is_failed()
    assert state.message == (
        "2 batch(es) over the 5.0% reject-rate threshold (batches of at least 100 rows) or rejected whole: "
        "customers_2026-10-02.csv rejected whole (23 of 23 rows), "
        "order_lines_2026-10-03.csv rejected whole (300 of 300 rows)"
    )
    assert not summary.failures and summary.rows_loaded == 0
    assert_run_matches_ledger(warehouse, state, "rejects_over_threshold")
    assert query(warehouse, "select distinct reason from meta.rejects where source like '%customers_2026-10-02%'") == [
        ("the file has no column 'name'",)
    ]


@pytest.mark.slow
def test_generated_exports_in_small_chunks_agree_with_an_independent_computation(tmp_path):
    exports = generate_sales(tmp_path / "exports", days=8, customers=2_000, orders_per_day=1_500, seed=7)

    state, summary = run_flow(exports, tmp_path / "warehouse.duckdb", chunk_mb=1 / 16)  # 64 KiB

    assert state.is_completed(), state.message
    assert summary.rows_in > 30_000 and summary.rows_rejected > 0
    assert_sales_match_independent_computation(exports, tmp_path / "warehouse.duckdb")
