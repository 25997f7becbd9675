"""Run monitoring: meta.runs per run, the reject-rate guard (state, message, alert event), and the artifacts."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from log_files import log_line, write_log
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.events.schemas.automations import AutomationCore
from prefect.events.schemas.events import Resource
from run_records import assert_run_matches_ledger
from warehouse_snapshot import query

import flows.access_logs
from flows.access_logs import access_logs
from tasks.observability.events import REJECTS_OVER_THRESHOLD_EVENT, rejects_event
from tasks.observability.monitoring import peak_memory_bytes, percent, threshold_message, threshold_percent
from tasks.observability.summaries import RunSummary, final_state, render_markdown, run_record
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.loads import BatchOutcome
from tasks.warehouse.runs import record_run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOGS = PROJECT_ROOT / "data" / "sample_logs"


def batch(source: str, rows_in: int, rows_rejected: int, status: str = "loaded", error: str | None = None):
    return BatchOutcome("id-" + source, source, status, rows_in, rows_in - rows_rejected, rows_rejected, 0, 0.1, error)


def summary_of(
    batches: list[BatchOutcome], threshold: float = 0.05, failures: list[str] | None = None, min_rows: int = 0
) -> RunSummary:
    return RunSummary(
        pipeline="sales",
        source="/exports",
        warehouse="/w.duckdb",
        batches=batches,
        already_loaded=2,
        marts_refreshed_days=None,
        seconds=4.0,
        failures=failures or [],
        max_reject_rate=threshold,
        reject_rate_min_rows=min_rows,
        peak_memory_bytes=300 << 20,
    )


# ---- The guard, as plain functions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows_in", "rows_rejected", "threshold", "trips"),
    [
        (20, 1, 0.05, False),  # exactly at the threshold
        (20, 2, 0.05, True),
        (1_000, 51, 0.05, True),
        (1_000, 50, 0.05, False),
        (0, 0, 0.05, False),  # nothing read: no rate, never over
        (0, 0, 0.0, False),
        (10, 1, 0.0, True),
        (10, 10, 1.0, False),  # 1 accepts anything, even a batch rejected whole
    ],
    ids=["at", "over", "51-of-1000", "50-of-1000", "empty", "empty-at-zero", "any-at-zero", "all-at-one"],
)
def test_a_batch_trips_the_guard_only_strictly_over_the_threshold(rows_in, rows_rejected, threshold, trips):
    summary = summary_of([batch("a.csv", rows_in, rows_rejected)], threshold)
    assert bool(summary.over_threshold) is trips
    assert summary.state == ("rejects_over_threshold" if trips else "completed")


@pytest.mark.parametrize(
    ("rows_in", "rows_rejected", "trips"),
    [
        (19, 6, False),  # a third of a small batch: kept and reported, but no failure
        (99, 98, False),
        (100, 6, True),  # at the minimum size the threshold applies
        (1_000, 51, True),
        (100, 5, False),  # at the minimum size, at the threshold
        (23, 23, True),  # rejected whole: the minimum size does not spare it
        (1, 1, True),
    ],
    ids=[
        "small-third",
        "small-all-but-one",
        "at-minimum-over",
        "large-over",
        "at-minimum-at",
        "small-whole",
        "one-row",
    ],
)
def test_the_threshold_applies_to_batches_of_the_minimum_size_and_to_batches_rejected_whole(
    rows_in, rows_rejected, trips
):
    summary = summary_of([batch("a.csv", rows_in, rows_rejected)], 0.05, min_rows=100)

    assert bool(summary.over_threshold) is trips
    assert summary.state == ("rejects_over_threshold" if trips else "completed")
    assert final_state(summary).is_failed() is trips
    # the rejects are counted and reported whether or not they trip the guard
    assert (summary.rows_rejected, summary.max_batch_reject_rate) == (rows_rejected, rows_rejected / rows_in)


def test_a_small_batch_rejected_whole_is_named_as_such_beside_a_large_batch_over_the_threshold():
    summary = summary_of(
        [batch("/in/customers.csv", 23, 23), batch("/in/orders.csv", 1_000, 123), batch("/in/fx.csv", 7, 2)],
        min_rows=100,
    )

    assert final_state(summary).message == (
        "2 batch(es) over the 5.0% reject-rate threshold (batches of at least 100 rows) or rejected whole: "
        "customers.csv rejected whole (23 of 23 rows), orders.csv 12.3% (123 of 1,000 rows)"
    )
    record = run_record(summary, "run-1", None, datetime(2026, 11, 24, tzinfo=UTC))
    assert (record["reject_rate_min_rows"], record["max_batch_reject_rate"]) == (100, 1.0)
    assert record["max_guarded_batch_reject_rate"] == 1.0  # the batch rejected whole; fx.csv's 28.6% is not guarded


def test_a_tiny_file_that_cannot_be_read_fails_the_run_whatever_the_minimum_size():
    unreadable = batch("/in/customers_2026-10-01.csv.gz", 0, 0, "failed", "the gzip stream is corrupt or truncated")

    summary = summary_of([unreadable], min_rows=100, failures=["/in/customers_2026-10-01.csv.gz: the gzip stream ..."])

    assert final_state(summary).is_failed() and summary.state == "failed" and not summary.over_threshold


def test_the_summary_says_the_guard_s_rule():
    markdown = render_markdown(summary_of([batch("/in/fx.csv", 7, 2)], min_rows=100))

    assert "Reject-rate threshold per batch: 5.0% (batches of at least 100 rows, and any batch rejected whole)" in (
        markdown
    )
    assert "## Over" not in markdown


def test_a_failed_batch_never_trips_the_guard_and_both_problems_are_named():
    summary = summary_of(
        [batch("/in/orders_2026-10-02.csv", 1_000, 123), batch("/in/x.csv", 0, 0, "failed", "gzip is truncated")],
        failures=["/in/x.csv: gzip is truncated"],
    )

    state = final_state(summary)

    assert state.is_failed()
    assert state.message == (
        "1 batch(es) failed: /in/x.csv: gzip is truncated. "
        "1 batch(es) over the 5.0% reject-rate threshold: orders_2026-10-02.csv 12.3% (123 of 1,000 rows)"
    )
    assert summary.state == "failed"


def test_the_threshold_message_names_each_batch_with_its_rate_and_rows():
    offending = [batch("/in/orders_2026-10-02.csv", 1_000, 123), batch("/in/fx.csv", 2_000, 101)]
    assert threshold_message(offending, 0.05, 0) == (
        "2 batch(es) over the 5.0% reject-rate threshold: orders_2026-10-02.csv 12.3% (123 of 1,000 rows), "
        "fx.csv 5.1% (101 of 2,000 rows)"
    )
    assert (threshold_percent(0.05), threshold_percent(0.0125), threshold_percent(1), threshold_percent(0)) == (
        "5.0%",
        "1.25%",
        "100.0%",
        "0.0%",
    )
    assert (percent(0.0504, 0.05), percent(0.15)) == ("5.04%", "15.0%")


def test_the_alert_event_carries_the_offending_batches_and_the_threshold():
    summary = summary_of([batch("/in/a.csv", 20, 3), batch("/in/b.csv", 20, 0)], threshold=0.1)

    event = rejects_event(summary, "run-1")

    assert event["event"] == "batchyard.pipeline.rejects-over-threshold"
    assert event["resource"]["prefect.resource.id"] == "batchyard.pipeline.sales"
    assert event["related"] == [{"prefect.resource.id": "prefect.flow-run.run-1", "prefect.resource.role": "flow-run"}]
    assert event["payload"] == {
        "pipeline": "sales",
        "flow_run_id": "run-1",
        "warehouse": "/w.duckdb",
        "source": "/exports",
        "threshold": 0.1,
        "min_rows": 0,
        "message": "1 batch(es) over the 10.0% reject-rate threshold: a.csv 15.0% (3 of 20 rows)",
        "batches": [{"source": "/in/a.csv", "rows_in": 20, "rows_rejected": 3, "reject_rate": 0.15}],
    }


def test_the_example_automation_is_valid_and_matches_the_alert_event():
    automations = yaml.safe_load((PROJECT_ROOT / "deployments" / "automations.yaml").read_text())["automations"]
    parsed = [AutomationCore.model_validate(automation) for automation in automations]
    alert = next(automation for automation in parsed if REJECTS_OVER_THRESHOLD_EVENT in automation.trigger.expect)
    event = rejects_event(summary_of([batch("/in/a.csv", 20, 3)]), "run-1")
    assert alert.trigger.match.matches(Resource.model_validate(event["resource"]))
    assert [action.type for action in alert.actions] == ["send-notification"]


def test_peak_memory_is_measured_in_bytes():
    peak = peak_memory_bytes()
    assert peak is not None and 10 << 20 < peak < 64 << 30  # this test process: more than 10 MiB, less than 64 GiB


def test_a_run_record_holds_the_rates_and_throughput():
    summary = summary_of([batch("/in/a.csv", 20, 3), batch("/in/b.csv", 80, 2), batch("/in/c.csv", 0, 0)])
    finished = datetime(2026, 11, 24, 3, 0, 4, tzinfo=UTC)

    record = run_record(summary, "run-1", "brave-otter", finished)

    assert record["started_at"] == datetime(2026, 11, 24, 3, 0, 0, tzinfo=UTC)
    assert (record["rows_in"], record["rows_loaded"], record["rows_rejected"]) == (100, 95, 5)
    assert (record["reject_rate"], record["max_batch_reject_rate"], record["rows_per_second"]) == (0.05, 0.15, 25.0)
    assert (record["batches"], record["batches_failed"], record["already_loaded"]) == (3, 0, 2)
    assert record["state"] == "rejects_over_threshold"
    assert record["reason"] == "1 batch(es) over the 5.0% reject-rate threshold: a.csv 15.0% (3 of 20 rows)"
    assert record["peak_memory_bytes"] == 300 << 20

    empty = run_record(summary_of([]), "run-2", None, finished)
    assert (empty["reject_rate"], empty["max_batch_reject_rate"], empty["rows_per_second"]) == (None, None, None)
    assert (empty["state"], empty["reason"]) == ("completed", None)


def test_writing_a_run_twice_leaves_one_row(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    record = run_record(summary_of([batch("/in/a.csv", 20, 3)]), "run-1", None, datetime.now(UTC))

    with open_warehouse(warehouse) as connection:
        record_run(connection, record)
        record_run(connection, record | {"rows_in": 21})
        record_run(connection, run_record(summary_of([]), "run-2", None, datetime.now(UTC)))

    assert query(warehouse, "select flow_run_id, rows_in from meta.runs order by 1") == [("run-1", 21), ("run-2", 0)]


# ---- Flows ------------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("prefect_server")
def test_every_run_records_its_metrics_once_and_a_run_with_nothing_new_records_zero_rows(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    state = access_logs(source=SAMPLE_LOGS, warehouse=warehouse, return_state=True)

    assert state.is_completed(), state.message
    assert_run_matches_ledger(warehouse, state, "completed")
    assert query(
        warehouse,
        "select pipeline, state, reason, batches, batches_failed, already_loaded, rows_in, rows_rejected, "
        "reject_rate_threshold from meta.runs",
    ) == [("access_logs", "completed", None, 3, 0, 0, 9_859, 197, 0.05)]

    again = access_logs(source=SAMPLE_LOGS, warehouse=warehouse, return_state=True)

    assert again.is_completed(), again.message
    assert query(
        warehouse,
        "select batches, already_loaded, rows_in, rows_loaded, rows_rejected, reject_rate, rows_per_second, "
        "max_batch_reject_rate, peak_memory_bytes > 0 from meta.runs where flow_run_id = ?",
        [str(again.state_details.flow_run_id)],
    ) == [(0, 3, 0, 0, 0, None, None, None, True)]
    assert query(warehouse, "select count(*), count(distinct flow_run_id) from meta.runs") == [(2, 2)]


def log_lines(count: int, bad: int) -> list[str]:
    """`count` lines, the last `bad` of them malformed (a status of 999)."""
    return [log_line(request=f"GET /{number} HTTP/1.1") for number in range(count - bad)] + [
        log_line(status="999") for _ in range(bad)
    ]


@pytest.mark.usefixtures("prefect_server")
def test_a_batch_over_the_threshold_loads_fails_the_run_and_raises_the_alert(tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr("tasks.kit.steps.emit_event", lambda **event: sent.append(event))
    source = tmp_path / "logs"
    write_log(source / "bad.log", log_lines(100, 15))  # 15%
    write_log(source / "edge.log", log_lines(100, 5))  # 5%: at the threshold, not over it
    write_log(source / "small.log", log_lines(20, 5))  # 25%, but under the guard's minimum size of 100 rows
    warehouse = tmp_path / "warehouse.duckdb"

    state = access_logs(source=source, warehouse=warehouse, return_state=True)

    assert state.is_failed()
    assert state.message == (
        "1 batch(es) over the 5.0% reject-rate threshold (batches of at least 100 rows): bad.log 15.0% (15 of 100 rows)"
    )
    # loaded and quarantined as usual, the small batch's rejects too
    assert query(warehouse, "select count(*) from logs.requests") == [(195,)]
    assert query(
        warehouse, "select regexp_extract(source, '[^/]+$'), count(*) from meta.rejects group by all order by 1"
    ) == [("bad.log", 15), ("edge.log", 5), ("small.log", 5)]
    assert query(warehouse, "select count(*) from meta.batches where status = 'loaded'") == [(3,)]
    assert_run_matches_ledger(warehouse, state, "rejects_over_threshold")
    assert query(
        warehouse, "select max_batch_reject_rate, max_guarded_batch_reject_rate, reject_rate_min_rows from meta.runs"
    ) == [(0.25, 0.15, 100)]
    # the alert, then the completion: every batch loaded, so the audit downstream still runs
    assert [event["event"] for event in sent] == [
        "batchyard.pipeline.rejects-over-threshold",
        "batchyard.pipeline.completed",
    ]
    alert = sent[0]
    assert alert["resource"]["prefect.resource.id"] == "batchyard.pipeline.access_logs"
    assert alert["payload"]["flow_run_id"] == str(state.state_details.flow_run_id)
    assert alert["payload"]["warehouse"] == str(warehouse)
    assert alert["payload"]["threshold"] == 0.05
    assert alert["payload"]["batches"] == [
        {"source": str(source / "bad.log"), "rows_in": 100, "rows_rejected": 15, "reject_rate": 0.15}
    ]

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    by_key = {artifact.key: artifact.data for artifact in artifacts}
    markdown = by_key["access-logs-summary"]
    assert "| 220 | 195 | 25 | 11.36% |" in markdown
    assert "## Over the 5.0% reject-rate threshold (batches of at least 100 rows)\n" in markdown
    assert f"| {source / 'bad.log'} | 100 | 15 | 15.0% |" in markdown
    assert " MiB |" in markdown
    assert max(line.count("|") for line in markdown.splitlines()) <= 8, "a table of more than 7 columns overflows"
    table = by_key["access-logs-batches"]
    table = json.loads(table) if isinstance(table, str) else table
    assert [(row["source"], row["reject rate"], row["error"]) for row in table] == [
        (str(source / "bad.log"), "15.00%", "over the reject-rate threshold"),
        (str(source / "edge.log"), "5.00%", ""),
        (str(source / "small.log"), "25.00%", ""),
        ("TOTAL", "11.36%", ""),
    ]
    assert table[-1]["status"] == "1 over the reject-rate threshold or rejected whole"


@pytest.mark.usefixtures("prefect_server")
def test_the_command_exits_1_over_the_threshold_and_0_for_a_small_batch_or_when_told_to_accept_it(tmp_path, capsys):
    source = tmp_path / "logs"
    write_log(source / "bad.log", log_lines(20, 3))

    assert flows.access_logs.main(["--source", str(source), "--warehouse", str(tmp_path / "small.duckdb")]) == 0
    every_batch = ["--reject-rate-min-rows", "0"]
    assert (
        flows.access_logs.main(["--source", str(source), "--warehouse", str(tmp_path / "a.duckdb"), *every_batch]) == 1
    )
    assert "bad.log 15.0% (3 of 20 rows)" in capsys.readouterr().err
    accepted = [
        "--source",
        str(source),
        "--warehouse",
        str(tmp_path / "b.duckdb"),
        "--max-reject-rate",
        "1",
        *every_batch,
    ]
    assert flows.access_logs.main(accepted) == 0
    assert query(tmp_path / "b.duckdb", "select state, reject_rate_threshold from meta.runs") == [("completed", 1.0)]


@pytest.mark.usefixtures("prefect_server")
def test_a_threshold_given_in_percent_is_refused_before_anything_loads(tmp_path):
    source = tmp_path / "logs"
    write_log(source / "bad.log", log_lines(20, 3))

    state = access_logs(source=source, warehouse=tmp_path / "w.duckdb", max_reject_rate=5, return_state=True)

    assert state.is_failed()
    assert "max_reject_rate" in state.message
    assert not (tmp_path / "w.duckdb").exists()
    with pytest.raises(SystemExit):  # argparse: exit 2 with its message
        flows.access_logs.main(["--source", str(source), "--max-reject-rate", "5"])
