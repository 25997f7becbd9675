"""The flow body the file pipelines share, run inside a flow of the test's own under the Prefect test server."""

import threading
import time
from functools import partial

import pytest
from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner
from sales_exports import money_exports
from warehouse_snapshot import query

import tasks.kit.pipeline_flow
import tasks.kit.steps
import tasks.warehouse.connection
from tasks.kit.pipeline_flow import load_export_family
from tasks.pipelines.sales.source import SALES_EXPORTS
from tasks.warehouse.connection import HeldForLoads, open_warehouse
from tasks.warehouse.loads import AccountingError

pytestmark = pytest.mark.usefixtures("prefect_server")


def test_a_file_whose_staging_fails_reaches_the_ledger_and_the_run_still_rebuilds_reports_and_fails(
    tmp_path, monkeypatch
):
    source, warehouse = tmp_path / "exports", tmp_path / "warehouse.duckdb"
    money_exports(source)
    real_stage_batch = tasks.kit.steps.stage_batch

    def disk_error_on_lines(batch, *arguments, **options):
        if batch.path.name.startswith("order_lines_"):
            raise OSError("input/output error")
        return real_stage_batch(batch, *arguments, **options)

    monkeypatch.setattr(tasks.kit.steps, "stage_batch", disk_error_on_lines)
    quick_retries = tasks.kit.steps.stage_file_batch.with_options(
        retries=1, retry_delay_seconds=0, retry_jitter_factor=None
    )
    monkeypatch.setattr(tasks.kit.pipeline_flow, "stage_file_batch", quick_retries)
    ledger_after_rebuild = []

    def read_ledger() -> None:
        with open_warehouse(warehouse) as connection:
            ledger_after_rebuild.extend(connection.execute("select status from meta.batches order by 1").fetchall())

    @flow
    def exports_flow():
        return load_export_family(
            SALES_EXPORTS,
            source,
            warehouse,
            1 << 20,
            None,
            False,
            max_reject_rate=1.0,
            what="exports",
            after_rebuild=read_ledger,
        )

    state = exports_flow(return_state=True)

    assert state.is_failed()
    assert "order_lines_2026-10-02.csv: OSError: input/output error" in state.message
    assert ledger_after_rebuild == [("failed",), ("loaded",), ("loaded",)]  # every load done before the extra step
    assert query(warehouse, "select regexp_extract(source, '[^/]+$'), status, error from meta.batches order by 1") == [
        ("fx_rates_2026-10-02.csv", "loaded", None),
        ("order_lines_2026-10-02.csv", "failed", "OSError: input/output error"),
        ("orders_2026-10-02.csv", "loaded", None),
    ]
    assert query(warehouse, "select batches_failed from meta.runs") == [(1,)]


def test_a_staged_file_loads_while_later_files_still_wait_to_be_staged(tmp_path, monkeypatch):
    """Two task threads for three files: the later files' staging waits for the first file's load. When loads queued
    behind all staging on the flow's threads, the first load could not start, and the later files waited in vain."""
    source, warehouse = tmp_path / "exports", tmp_path / "warehouse.duckdb"
    money_exports(source)
    first_file = min(path.name for path in source.iterdir())
    real_stage_batch, real_load = tasks.kit.steps.stage_batch, tasks.kit.steps.load_staged_batch
    a_file_loaded, held_back_in_vain = threading.Event(), []

    def stage_after_a_load(batch, *arguments, **options):
        if batch.path.name != first_file and not a_file_loaded.wait(timeout=10):
            held_back_in_vain.append(batch.path.name)
        return real_stage_batch(batch, *arguments, **options)

    def load_and_tell(*arguments, **options):
        outcome = real_load(*arguments, **options)
        a_file_loaded.set()
        return outcome

    monkeypatch.setattr(tasks.kit.steps, "stage_batch", stage_after_a_load)
    monkeypatch.setattr(tasks.kit.steps, "load_staged_batch", load_and_tell)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def exports_flow():
        return load_export_family(SALES_EXPORTS, source, warehouse, 1 << 20, None, False, what="exports")

    state = exports_flow(return_state=True)

    assert state.is_completed(), state.message
    assert held_back_in_vain == []
    assert query(warehouse, "select count(*) from meta.batches where status = 'loaded'") == [(3,)]


def test_loads_whose_batches_are_staged_already_share_one_warehouse_connection(tmp_path, monkeypatch):
    """Opening the warehouse costs a load ~50 ms of CPU: once every file is staged, the loads keep it open from one
    to the next (each still in its own transaction), and close it before the marts are rebuilt."""
    source, warehouse = tmp_path / "exports", tmp_path / "warehouse.duckdb"
    money_exports(source)
    real_stage_batch, real_load = tasks.kit.steps.stage_batch, tasks.kit.steps.load_staged_batch
    every_file_staged = threading.Semaphore(0)
    files = len(list(source.iterdir()))
    loads_opened, waited = [], []
    real_open = tasks.warehouse.connection.open_warehouse

    def stage_and_tell(*arguments, **options):
        staged = real_stage_batch(*arguments, **options)
        every_file_staged.release()
        return staged

    def load_once_all_are_staged(*arguments, **options):
        if not waited:  # the first load waits for every file's staging; the later ones find theirs done
            waited.append([every_file_staged.acquire(timeout=10) for _ in range(files)])
            time.sleep(1)  # the staging tasks' futures complete just after their functions return
        return real_load(*arguments, **options)

    def counted_open(warehouse, checkpoint=True):
        if not checkpoint:
            loads_opened.append(warehouse)
        return real_open(warehouse, checkpoint)

    monkeypatch.setattr(tasks.kit.steps, "stage_batch", stage_and_tell)
    monkeypatch.setattr(tasks.kit.steps, "load_staged_batch", load_once_all_are_staged)
    monkeypatch.setattr(tasks.warehouse.connection, "open_warehouse", counted_open)
    monkeypatch.setattr(tasks.kit.steps, "HeldForLoads", partial(HeldForLoads, hold_seconds=30))

    @flow
    def exports_flow():
        return load_export_family(SALES_EXPORTS, source, warehouse, 1 << 20, None, False, what="exports")

    state = exports_flow(return_state=True)

    assert state.is_completed(), state.message
    assert loads_opened == [warehouse]
    assert query(warehouse, "select count(*) from meta.batches where status = 'loaded'") == [(files,)]


def load_exports_by(load, source, warehouse, monkeypatch):
    """The state of a run over the exports in `source` whose loads call `load` in place of `load_staged_batch`,
    retried without waiting."""
    monkeypatch.setattr(tasks.kit.steps, "load_staged_batch", load)
    monkeypatch.setattr(tasks.kit.steps, "RETRY_DELAYS_SECONDS", (0, 0, 0))

    @flow
    def exports_flow():
        return load_export_family(
            SALES_EXPORTS, source, warehouse, 1 << 20, None, False, max_reject_rate=1.0, what="exports"
        )

    return exports_flow(return_state=True)


def test_a_load_that_fails_once_is_retried_and_one_that_fails_for_good_leaves_the_others_loaded(tmp_path, monkeypatch):
    """A run's loads are one task: a batch's load gets retries of its own, and a batch that cannot be loaded fails
    the run, named, after the others have loaded."""
    source, warehouse = tmp_path / "exports", tmp_path / "warehouse.duckdb"
    money_exports(source)
    real_load = tasks.kit.steps.load_staged_batch
    attempts = []

    def flaky_orders_and_broken_lines(connection, staged, *arguments, **options):
        name = staged.batch.path.name
        attempts.append(name)
        if name.startswith("orders_") and attempts.count(name) == 1:
            raise OSError("input/output error")
        if name.startswith("order_lines_"):
            raise AccountingError("3 rows in, 2 loaded + 0 rejected")
        return real_load(connection, staged, *arguments, **options)

    state = load_exports_by(flaky_orders_and_broken_lines, source, warehouse, monkeypatch)

    assert state.is_failed()
    assert "order_lines_2026-10-02.csv: AccountingError: 3 rows in, 2 loaded + 0 rejected" in state.message
    assert sorted(attempts) == [
        "fx_rates_2026-10-02.csv",
        "order_lines_2026-10-02.csv",
        "orders_2026-10-02.csv",
        "orders_2026-10-02.csv",
    ]
    assert query(warehouse, "select regexp_extract(source, '[^/]+$'), status from meta.batches order by 1") == [
        ("fx_rates_2026-10-02.csv", "loaded"),
        ("orders_2026-10-02.csv", "loaded"),
    ]
    assert query(warehouse, "select count(*) from sales.stg_orders") == query(
        warehouse, "select rows_loaded from meta.batches where source like '%orders_2026-10-02.csv'"
    )


def test_once_a_load_fails_through_its_retries_the_next_ones_get_a_single_try_each(tmp_path, monkeypatch):
    """A warehouse whose disk stayed full through one file's backoff fails the run without waiting again per file."""
    source, warehouse = tmp_path / "exports", tmp_path / "warehouse.duckdb"
    money_exports(source)
    attempts = []

    def disk_full(connection, staged, *arguments, **options):
        attempts.append(staged.batch.path.name)
        raise OSError(28, "No space left on device")

    state = load_exports_by(disk_full, source, warehouse, monkeypatch)

    assert state.is_failed()
    assert "No space left on device" in state.message
    assert attempts == [
        *["fx_rates_2026-10-02.csv"] * 4,  # the first try and its three retries
        "order_lines_2026-10-02.csv",
        "orders_2026-10-02.csv",
    ]
    assert query(warehouse, "select count(*) from meta.batches where status = 'loaded'") == [(0,)]
