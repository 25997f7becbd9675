"""The warehouse audit: every check passes on a correctly loaded warehouse, and each catches what it is for."""

import csv
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from log_files import log_line, write_log
from sales_exports import load_exports, mixed_exports

from tasks.core.batches import make_batch
from tasks.core.staging import stage_batch
from tasks.kit.discovery import discover
from tasks.observability.audit import audit_warehouse, warehouse_checks
from tasks.pipelines.access_logs.source import ACCESS_LOG_FILES, ACCESS_LOG_FORMAT
from tasks.pipelines.billing.invoicing import issue_invoices, parse_period
from tasks.pipelines.billing.source import BILLING_EXPORTS
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import FactTable, load_staged_batch, refresh_marts

REQUESTS = FactTable(pipeline="access_logs", table="logs.requests", partition_day="day")
USAGE = ["event_id", "customer_id", "metric", "quantity", "ts"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def billing_files(folder: Path) -> list[Path]:
    """Three customers invoiced for October 2026 (INV-202610-000001 to -000003: C1 and C3 in EUR, C2 in JPY), an
    event delivered twice in one file and again in a later file, and usage of a customer without a subscription."""
    return [
        write_csv(
            folder / "plans_2026-09-01.csv",
            ["plan_id", "currency", "base_fee", "metric", "included", "up_to", "unit_price"],
            [
                ["basic", "EUR", "12.50", "api_calls", "1000", "10000", "0.01"],
                ["basic", "EUR", "12.50", "api_calls", "1000", "", "0.005"],
                ["tokyo", "JPY", "5500", "api_calls", "", "", "0.5"],
            ],
        ),
        write_csv(
            folder / "subscriptions_2026-09-01.csv",
            ["customer_id", "plan_id", "start_date", "end_date"],
            [["C1", "basic", "2026-09-01", ""], ["C2", "tokyo", "2026-10-10", ""], ["C3", "basic", "2026-10-20", ""]],
        ),
        write_csv(
            folder / "usage_2026-10-05.csv",
            USAGE,
            [
                ["e1", "C1", "api_calls", "15000", "2026-10-05T10:00:00Z"],
                ["e2", "C2", "api_calls", "3", "2026-10-12T01:00:00+09:00"],
                ["e1", "C1", "api_calls", "15000", "2026-10-05T10:00:00Z"],  # rejected: e1 is on line 2
                ["e3", "C9", "api_calls", "5", "2026-10-07T10:00:00Z"],  # an exception: C9 has no subscription
            ],
        ),
        write_csv(
            folder / "usage_2026-10-06.csv",
            USAGE,
            [
                ["e1", "C1", "api_calls", "500", "2026-10-05T10:00:00Z"],  # loaded, but the first delivery counts
                ["e4", "C1", "api_calls", "100", "2026-10-06T08:00:00Z"],
            ],
        ),
    ]


@pytest.fixture(scope="module")
def audited_warehouse_template(tmp_path_factory):
    """Two log files loaded (one line of each rejected) and the marts rebuilt, a set of sales exports, and billing
    files loaded with October 2026 invoiced."""
    folder = tmp_path_factory.mktemp("audited")
    source = folder / "logs"
    write_log(source / "a.log", [log_line(), log_line(status="404"), "not a log line"])
    write_log(source / "b.log", [log_line(timestamp="11/Oct/2026:23:59:59 +0000", status="500"), ""])
    warehouse = folder / "warehouse.duckdb"
    load_exports(mixed_exports(folder / "exports"), warehouse)
    log_batches = discover(source, ACCESS_LOG_FILES, "access_logs", warehouse, append_only=True).to_load
    with open_warehouse(warehouse) as connection:
        for batch in log_batches:
            staged = stage_batch(batch, ACCESS_LOG_FORMAT, folder / "staging", 1 << 20)
            load_staged_batch(connection, staged, REQUESTS, "run-1")
        refresh_marts(connection, "access_logs")
        billing = BILLING_EXPORTS.plan([make_batch("billing", path) for path in billing_files(folder / "billing")])
        for batch, source_format, table in zip(billing.batches, billing.formats, billing.tables, strict=True):
            staged = stage_batch(batch, source_format, folder / "staging", 1 << 20)
            load_staged_batch(connection, staged, table, "run-1")
        refresh_marts(connection, "billing")
        issue_invoices(connection, parse_period("2026-10"), datetime(2026, 11, 1, 3, tzinfo=UTC), "run-1")
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
    assert {check.component for check in warehouse_checks()} >= {
        "meta",
        "access_logs",
        "word_count",
        "sales",
        "billing",
    }
    results = verdicts(loaded_warehouse)
    assert len(results) == len(warehouse_checks())
    assert set(results.values()) == {0}


def test_the_billing_load_is_what_the_tamper_cases_expect(loaded_warehouse):
    with open_warehouse(loaded_warehouse) as connection:
        invoices = connection.execute(
            "select invoice_id, customer_id, currency from billing.invoices order by all"
        ).fetchall()
        rejects = connection.execute(
            "select line_number, reason from meta.rejects where pipeline = 'billing'"
        ).fetchall()
        exceptions = connection.execute("select customer_id, event_id from billing.exceptions").fetchall()
    assert invoices == [
        ("INV-202610-000001", "C1", "EUR"),
        ("INV-202610-000002", "C2", "JPY"),
        ("INV-202610-000003", "C3", "EUR"),
    ]
    assert rejects == [(4, "event_id 'e1' already on line 2")]
    assert exceptions == [("C9", "e3")]


@pytest.mark.parametrize(
    ("tamper", "caught_by"),
    [
        (
            "update meta.batches set rows_in = rows_in + 1",  # a log range then claims a line it does not hold
            {"meta.ledger_rows_add_up", "access_logs.lines_fill_their_ranges"},
        ),
        (
            "insert into meta.runs values ('sales', 'r1', null, now(), now(), 'completed', null, 1, 0, 0,"
            " 10, 8, 1, 0.1, 0.1, 0.05, 100, 1.0, 10.0, 1, 0, 0.1)",  # 10 in, 8 + 1 out; 10% over the 5% threshold
            {"meta.runs_add_up"},
        ),
        (
            "delete from meta.rejects where rowid = (select min(rowid) from meta.rejects)",
            {"meta.rejects_match_the_ledger", "access_logs.lines_fill_their_ranges"},
        ),
        (
            "insert into meta.batches select * replace ('other' as batch_id, 0 as rows_in, 0 as rows_loaded,"
            " 0 as rows_rejected) from meta.batches where stream_id is null limit 1",
            {"meta.one_loaded_version_per_source"},
        ),
        (
            # a.log's range loaded a second time under another batch, its rows lost on the way
            "insert into meta.batches select * replace ('twice' as batch_id) from meta.batches"
            " where regexp_matches(source, '/a.log$')",
            {
                "meta.stream_content_loaded_once",
                "meta.rejects_match_the_ledger",
                "access_logs.requests_match_the_ledger",
                "access_logs.lines_fill_their_ranges",
            },
        ),
        (
            "update meta.batches set first_line = 2 where regexp_matches(source, '/b.log$')",
            {"meta.stream_ranges_add_up", "access_logs.lines_fill_their_ranges"},
        ),
        (
            "update meta.batches set end_offset = end_offset + 1 where regexp_matches(source, '/b.log$')",
            {"meta.stream_ranges_add_up"},
        ),
        (
            "delete from logs.requests where status = 404",  # and the marts no longer match the rows either
            {
                "access_logs.requests_match_the_ledger",
                "access_logs.lines_fill_their_ranges",
                "access_logs.daily_matches_requests",
                "access_logs.hourly_matches_requests",
                "access_logs.sessions_cover_each_request_once",
            },
        ),
        (
            "update logs.sessions set requests = requests + 1 where start_utc = '2026-10-11 23:59:59'",
            {"access_logs.sessions_cover_each_request_once"},
        ),
        (
            # the session of a.log's two requests (both at 13:55:36) no longer spans them
            "update logs.sessions set start_utc = start_utc + interval 1 second, end_utc = end_utc + interval 1 second "
            "where requests = 2",
            {"access_logs.sessions_cover_each_request_once"},
        ),
        (
            "update logs.sessions_daily set bounce_rate = bounce_rate / 2",
            {"access_logs.sessions_daily_matches_sessions"},
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
        (
            "update billing.invoices set total = total + 0.01 where invoice_id = 'INV-202610-000001'",
            {"billing.invoice_totals_match_lines"},
        ),
        (
            "delete from billing.invoice_lines where invoice_id = 'INV-202610-000003'",
            {"billing.invoice_totals_match_lines"},
        ),
        (
            "update billing.invoice_lines set invoice_id = 'INV-202610-000004' where invoice_id = 'INV-202610-000003';"
            "update billing.invoices set invoice_id = 'INV-202610-000004' where invoice_id = 'INV-202610-000003'",
            {"billing.invoice_numbers_are_gapless"},
        ),
        (
            "update billing.invoices set period = '2026-09' where invoice_id = 'INV-202610-000001'",
            {"billing.invoice_numbers_are_gapless"},
        ),
        (
            "delete from billing.stg_subscriptions where customer_id = 'C3'",
            {"billing.staging_matches_the_ledger"},
        ),
        (
            # the later delivery of e1: usage_daily does not count it, so only the ledger sees it gone
            "delete from billing.stg_usage where event_id = 'e1' and quantity = 500",
            {"billing.staging_matches_the_ledger"},
        ),
        (
            # the first delivery of e1: the later one (500) now counts instead of 15000
            "delete from billing.stg_usage where event_id = 'e1' and quantity = 15000",
            {"billing.staging_matches_the_ledger", "billing.usage_daily_matches_events"},
        ),
        (
            "update billing.usage_daily set quantity = quantity + 1 where customer_id = 'C2'",
            {"billing.usage_daily_matches_events"},
        ),
        (
            "insert into billing.usage_daily select * from billing.usage_daily where customer_id = 'C2'",
            {"billing.usage_daily_matches_events"},
        ),
    ],
    ids=[
        "ledger-sum",
        "run-not-adding-up",
        "lost-reject",
        "two-loaded-versions",
        "log-range-loaded-twice",
        "log-range-off-by-a-line",
        "log-range-bytes-off",
        "lost-requests",
        "session-requests-off",
        "session-shifted",
        "sessions-daily-off",
        "daily-mart-off",
        "hourly-mart-hole",
        "lost-staged-order",
        "lines-not-adding-up",
        "revenue-off",
        "lifetime-hole",
        "overlapping-versions",
        "invoice-total-off",
        "invoice-without-lines",
        "invoice-number-gap",
        "invoice-number-of-another-period",
        "lost-staged-subscription",
        "lost-later-usage-delivery",
        "lost-first-usage-delivery",
        "usage-daily-off",
        "usage-daily-repeated-row",
    ],
)
def test_each_check_catches_the_breakage_it_guards_against(loaded_warehouse, tamper, caught_by):
    results = verdicts(loaded_warehouse, tamper)
    assert {name for name, violations in results.items() if violations} == caught_by


def test_a_run_recorded_as_the_flows_record_it_passes_the_run_check(loaded_warehouse):
    over = "10, 9, 1, 0.1, 0.1, 0.05, 100, 1.0, 10.0, 1, 0, 0.1"  # 10 in = 9 + 1, 10% over the 5% threshold
    small = "10, 9, 1, 0.1, 0.1, 0.05, 100, 1.0, 10.0, 1, 100, null"  # the same, under the guard's minimum size
    before = "10, 9, 1, 0.1, 0.1, 0.05, 100, 1.0, 10.0, 1, null, null"  # recorded before the minimum size existed
    results = verdicts(
        loaded_warehouse,
        f"insert into meta.runs values ('sales', 'r1', null, now(), now(), 'rejects_over_threshold', 'x', 1, 0, 0, {over});"
        f"insert into meta.runs values ('sales', 'r3', null, now(), now(), 'completed', null, 1, 0, 0, {small});"
        f"insert into meta.runs values ('sales', 'r4', null, now(), now(), 'rejects_over_threshold', 'x', 1, 0, 0, {before});"
        "insert into meta.runs values ('billing', 'r2', null, now(), now(), 'completed', null, 0, 0, 3,"
        " 0, 0, 0, null, null, 0.05, 0, 0.5, null, 1, 100, null)",  # nothing new: no rate
    )
    assert results["meta.runs_add_up"] == 0


def test_days_waiting_for_their_mart_refresh_are_not_reported(loaded_warehouse):
    results = verdicts(
        loaded_warehouse,
        "update logs.daily set requests = 0 where day = '2026-10-10';"
        "insert into meta.dirty_partitions values ('access_logs', '2026-10-10')",
    )
    assert results["access_logs.daily_matches_requests"] == 0


def test_usage_waiting_for_its_mart_refresh_is_not_reported(loaded_warehouse):
    results = verdicts(
        loaded_warehouse,
        "update billing.usage_daily set quantity = 0 where customer_id = 'C1';"
        "insert into meta.dirty_partitions values ('billing', '2026-10-06')",
    )
    assert results["billing.usage_daily_matches_events"] == 0


def test_results_are_recorded_with_examples_of_the_violations(loaded_warehouse):
    verdicts(loaded_warehouse, "update logs.daily set requests = 99 where day = '2026-10-10'")
    with open_warehouse(loaded_warehouse) as connection:
        rows = connection.execute(
            "select violations, examples from meta.check_results where check_name = 'daily_matches_requests'"
        ).fetchall()
    assert rows == [(1, "day=2026-10-10, expected_requests=2, mart_requests=99, expected_clients=1, mart_clients=1")]
