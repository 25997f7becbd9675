"""Billing end to end: the bundled sample and a generated month against the independent computation, a period
run twice, late usage becoming adjustments on the next invoice, a crash between invoices, and the command line."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flow_process import PROJECT_ROOT
from independent_billing import assert_billing_matches_independent_computation, landing_files
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from run_records import assert_run_matches_ledger
from sales_exports import load_exports
from warehouse_snapshot import query, snapshot

import tasks.pipelines.billing.invoicing
from flows.billing import billing
from tasks.pipelines.billing.invoicing import issue_invoices, parse_period
from tasks.pipelines.billing.source import BILLING_EXPORTS
from tasks.warehouse.connection import open_warehouse

SAMPLE_BILLING = PROJECT_ROOT / "data" / "sample_billing"
SCHEMAS = ("billing", "meta")

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(source: Path, warehouse: Path, period: str, **parameters):
    # A plan with one bad tier is rejected whole, so the generator's plans files reject over a quarter of their rows,
    # over the default 5% reject-rate guard once they are large. These tests are about invoicing: any rate goes,
    # unless they say otherwise.
    parameters.setdefault("max_reject_rate", 1.0)
    state = billing(
        period=period,
        source=source,
        warehouse=warehouse,
        out=warehouse.parent / "invoices",
        return_state=True,
        **parameters,
    )
    return state, state.result(raise_on_failure=False)


def test_the_sample_month_agrees_with_the_independent_computation_and_reports_its_invoices(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(SAMPLE_BILLING, warehouse, "2026-10", max_reject_rate=0.05)

    # the default guard: the plans files reject a third of their rows on purpose, but they are under its minimum size
    assert state.is_completed(), state.message
    assert summary.rows_in == summary.rows_loaded + summary.rows_rejected and summary.rows_rejected > 0
    assert any(batch.rows_rejected / batch.rows_in > 0.05 for batch in summary.batches)
    assert_billing_matches_independent_computation(SAMPLE_BILLING, warehouse, ["2026-10"])
    assert_run_matches_ledger(warehouse, state, "completed")
    invoices = query(warehouse, "select invoice_id, currency, total from billing.invoices order by invoice_id")
    documents = sorted((tmp_path / "invoices" / "2026-10").glob("*.html"))
    assert [path.stem for path in documents] == [invoice_id for invoice_id, _, _ in invoices]
    first_id, currency, total = invoices[0]
    assert f"Invoice {first_id}" in documents[0].read_text() and currency in documents[0].read_text()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    report = next(artifact.data for artifact in artifacts if artifact.key == "billing-invoices")
    (exceptions,) = query(warehouse, "select count(*) from billing.exceptions where period = '2026-10'")[0]
    assert f"{len(invoices)} issued by this run, 0 issued before" in report
    assert f"## {exceptions:,} exceptions" in report
    totals = query(warehouse, "select currency, count(*), sum(total) from billing.invoices group by currency")
    decimals = {"JPY": 0, "KWD": 3}
    for currency, count, total in totals:
        assert f"| {currency} | {count:,} | {total:,.{decimals.get(currency, 2)}f} |" in report


def test_a_period_run_again_changes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_BILLING, warehouse, "2026-10")
    first = snapshot(warehouse, SCHEMAS)
    documents = {path.name: path.read_bytes() for path in (tmp_path / "invoices" / "2026-10").iterdir()}

    state, _ = run_flow(SAMPLE_BILLING, warehouse, "2026-10")

    assert state.is_completed(), state.message
    assert snapshot(warehouse, SCHEMAS) == first
    assert {path.name: path.read_bytes() for path in (tmp_path / "invoices" / "2026-10").iterdir()} == documents


def test_late_usage_becomes_adjustments_on_the_next_invoice_and_issued_invoices_never_change(tmp_path):
    source = tmp_path / "landing"
    shutil.copytree(SAMPLE_BILLING, source)
    # October is invoiced before the files of November's first days, which carry October's late usage, arrive
    late = sorted(path for path in source.iterdir() if path.name.startswith("usage_2026-11") or "202611" in path.name)
    assert late, "the sample has November usage files"
    parked = tmp_path / "parked"
    parked.mkdir()
    for path in late:
        path.rename(parked / path.name)
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(source, warehouse, "2026-10")
    october = query(warehouse, "select * from billing.invoice_lines order by invoice_id, line_no")
    before = landing_files(source)
    for path in late:
        (parked / path.name).rename(source / path.name)

    state, _ = run_flow(source, warehouse, "2026-11")

    assert state.is_completed(), state.message
    assert (
        query(
            warehouse,
            "select * from billing.invoice_lines where invoice_id like 'INV-202610-%' order by invoice_id, line_no",
        )
        == october
    )
    assert query(warehouse, "select count(*) from billing.invoice_lines where kind = 'adjustment'")[0][0] > 0
    assert_billing_matches_independent_computation(
        source, warehouse, ["2026-10", "2026-11"], files_at={"2026-10": before}
    )


def test_a_crash_between_invoices_then_a_rerun_issues_the_rest_without_duplicates_or_gaps(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    load_exports(sorted(path for path in SAMPLE_BILLING.iterdir()), warehouse, family=BILLING_EXPORTS)
    issue_one = tasks.pipelines.billing.invoicing._issue_one
    issued = []

    def crash_after_five(*arguments, **keywords):
        if len(issued) == 5:
            raise KeyboardInterrupt("killed between two invoices")
        issued.append(issue_one(*arguments, **keywords))
        return issued[-1]

    monkeypatch.setattr(tasks.pipelines.billing.invoicing, "_issue_one", crash_after_five)
    with pytest.raises(KeyboardInterrupt), open_warehouse(warehouse) as connection:
        issue_invoices(
            connection,
            parse_period("2026-10"),
            tasks.pipelines.billing.invoicing.datetime.now(tasks.pipelines.billing.invoicing.UTC),
            None,
        )
    monkeypatch.setattr(tasks.pipelines.billing.invoicing, "_issue_one", issue_one)
    assert query(warehouse, "select count(*) from billing.invoices") == [(5,)]

    with open_warehouse(warehouse) as connection:
        rerun = issue_invoices(
            connection,
            parse_period("2026-10"),
            tasks.pipelines.billing.invoicing.datetime.now(tasks.pipelines.billing.invoicing.UTC),
            None,
        )

    assert rerun.already_issued == 5
    numbers = [
        int(invoice_id[-6:]) for (invoice_id,) in query(warehouse, "select invoice_id from billing.invoices order by 1")
    ]
    assert numbers == list(range(1, len(numbers) + 1))
    assert_billing_matches_independent_computation(SAMPLE_BILLING, warehouse, ["2026-10"])


@pytest.mark.slow
def test_a_generated_month_agrees_with_the_independent_computation(tmp_path):
    source = tmp_path / "landing"
    subprocess.run(
        [
            sys.executable,
            "data/generate_billing.py",
            "--out",
            str(source),
            "--customers",
            "400",
            "--events-per-customer",
            "40",
            "--period",
            "2026-10",
            "--seed",
            "5",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(source, warehouse, "2026-10", chunk_mb=1 / 16)  # 64 KiB

    assert state.is_completed(), state.message
    assert summary.rows_in > 12_000 and summary.rows_rejected > 0
    assert_billing_matches_independent_computation(source, warehouse, ["2026-10"])


def test_the_command_line_refuses_a_period_that_is_not_a_month(tmp_path):
    done = subprocess.run(
        [sys.executable, "flows/billing.py", "--period", "2026-13", "--warehouse", str(tmp_path / "w.duckdb")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 2
    assert "period '2026-13' is not a month written YYYY-MM" in done.stderr
