"""The warehouse audit: every check passes on a correctly loaded warehouse, and each catches what it is for."""

import shutil

import pytest
from log_files import log_line, write_log
from sales_exports import load_exports, mixed_exports

from tasks.access_logs import ACCESS_LOG_FORMAT
from tasks.audit import audit_warehouse, warehouse_checks
from tasks.batches import make_batch
from tasks.staging import stage_batch
from tasks.warehouse import FactTable, load_staged_batch, open_warehouse, refresh_marts

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_column="day")


@pytest.fixture(scope="module")
def audited_warehouse_template(tmp_path_factory):
    """Two log files loaded (one line of each rejected) and the marts rebuilt, and a set of sales exports."""
    folder = tmp_path_factory.mktemp("audited")
    source = folder / "logs"
    write_log(source / "a.log", [log_line(), log_line(status="404"), "not a log line"])
    write_log(source / "b.log", [log_line(timestamp="11/Oct/2026:23:59:59 +0000", status="500"), ""])
    warehouse = folder / "warehouse.duckdb"
    load_exports(mixed_exports(folder / "exports"), warehouse)
    with open_warehouse(warehouse) as connection:
        for name in ("a.log", "b.log"):
            batch = make_batch("access_logs", source / name)
            staged = stage_batch(batch, ACCESS_LOG_FORMAT, folder / "staging", 1 << 20)
            load_staged_batch(connection, staged, REQUESTS, "run-1")
        refresh_marts(connection, "access_logs")
    return warehouse


@pytest.fixture
def loaded_warehouse(tmp_path, audited_warehouse_template):
    """A copy of the template for one test to tamper with."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(audited_warehouse_template, warehouse)
    return warehouse


def verdicts(warehouse, tamper: str | None = None) -> dict[str, int]:
    with open_warehouse(warehouse) as connection:
        if tamper:
            connection.execute(tamper)
        return {f"{result.component}.{result.name}": result.violations for result in audit_warehouse(connection, "x")}


def test_every_component_has_checks_and_all_pass_on_a_correct_load(loaded_warehouse):
    assert {check.component for check in warehouse_checks()} >= {"meta", "access_logs", "word_count", "sales"}
    results = verdicts(loaded_warehouse)
    assert len(results) == len(warehouse_checks())
    assert set(results.values()) == {0}


@pytest.mark.parametrize(
    ("tamper", "caught_by"),
    [
        ("update meta.batches set rows_in = rows_in + 1", {"meta.ledger_rows_add_up"}),
        (
            "delete from meta.rejects where rowid = (select min(rowid) from meta.rejects)",
            {"meta.rejects_match_the_ledger"},
        ),
        (
            "insert into meta.batches select * replace ('other' as batch_id, 0 as rows_in, 0 as rows_loaded,"
            " 0 as rows_rejected) from meta.batches limit 1",
            {"meta.one_loaded_version_per_source"},
        ),
        (
            "delete from logs.requests where status = 404",  # and the marts no longer match the rows either
            {
                "access_logs.requests_match_the_ledger",
                "access_logs.daily_matches_requests",
                "access_logs.hourly_matches_requests",
            },
        ),
        ("update logs.daily set requests = requests + 1", {"access_logs.daily_matches_requests"}),
        (
            "delete from logs.hourly where hour = (select max(hour) from logs.hourly)",
            {"access_logs.hourly_matches_requests"},
        ),
        (
            "delete from sales.stg_orders where order_id = 'O3'",
            {"sales.staging_matches_the_ledger", "sales.facts_match_staging"},
        ),
        (
            "update sales.fact_order_lines set quantity = quantity + 1 where order_id = 'O1'",
            {"sales.facts_match_staging"},
        ),
        ("update sales.daily_revenue set revenue_usd = revenue_usd + 0.01", {"sales.marts_match_facts"}),
        ("delete from sales.customer_lifetime where customer_id = 'C4'", {"sales.marts_match_facts"}),
        (
            "update sales.dim_customer set valid_to = null where customer_id = 'C1' and version = 1",
            {"sales.customer_versions_tile_time"},
        ),
    ],
    ids=[
        "ledger-sum",
        "lost-reject",
        "two-loaded-versions",
        "lost-requests",
        "daily-mart-off",
        "hourly-mart-hole",
        "lost-staged-order",
        "lines-not-adding-up",
        "revenue-off",
        "lifetime-hole",
        "overlapping-versions",
    ],
)
def test_each_check_catches_the_breakage_it_guards_against(loaded_warehouse, tamper, caught_by):
    results = verdicts(loaded_warehouse, tamper)
    assert {name for name, violations in results.items() if violations} == caught_by


def test_days_waiting_for_their_mart_refresh_are_not_reported(loaded_warehouse):
    results = verdicts(
        loaded_warehouse,
        "update logs.daily set requests = 0 where day = '2026-10-10';"
        "insert into meta.dirty_partitions values ('access_logs', '2026-10-10')",
    )
    assert results["access_logs.daily_matches_requests"] == 0


def test_results_are_recorded_with_examples_of_the_violations(loaded_warehouse):
    verdicts(loaded_warehouse, "update logs.daily set requests = 99 where day = '2026-10-10'")
    with open_warehouse(loaded_warehouse) as connection:
        rows = connection.execute(
            "select violations, examples from meta.check_results where check_name = 'daily_matches_requests'"
        ).fetchall()
    assert rows == [(1, "day=2026-10-10, expected_requests=2, mart_requests=99, expected_clients=1, mart_clients=1")]
