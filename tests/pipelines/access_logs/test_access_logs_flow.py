"""The access-logs flow end to end, under one Prefect test server: results against an independent computation,
re-runs, changed files, unreadable files, the task cache, and the command line."""

import gzip
import json
import logging
import os
import random
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from flow_process import generate_logs
from independent_access_logs import compute_expected
from log_files import log_line, write_log
from polars.testing import assert_frame_equal
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from warehouse_snapshot import (
    assert_matches_independent_computation,
    assert_sessions_match_independent_computation,
    marts,
    query,
    snapshot,
)

from flows.access_logs import access_logs
from tasks.core.settings import staging_root_for
from tasks.core.staging import read_manifest
from tasks.observability.summaries import RunSummary

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_LOGS = PROJECT_ROOT / "data" / "sample_logs"

pytestmark = pytest.mark.usefixtures("prefect_server")


def run_flow(source: Path, warehouse: Path, **parameters):
    """Run the flow; return its final state and the run summary it carries."""
    state = access_logs(source=source, warehouse=warehouse, return_state=True, **parameters)
    summary = state.result(raise_on_failure=False)
    return state, summary


def test_the_sample_logs_load_and_agree_with_an_independent_computation(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(SAMPLE_LOGS, warehouse)

    assert state.is_completed(), state.message
    assert isinstance(summary, RunSummary)
    assert summary.rows_in == summary.rows_loaded + summary.rows_rejected
    assert summary.rows_rejected > 0
    assert_matches_independent_computation(SAMPLE_LOGS, warehouse)
    assert query(warehouse, "select count(*) from meta.rejects where reason = ''") == [(0,)]


def test_a_second_run_loads_nothing_and_changes_nothing(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_LOGS, warehouse)
    first = snapshot(warehouse)

    state, summary = run_flow(SAMPLE_LOGS, warehouse)

    assert state.is_completed()
    assert summary.batches == []
    assert summary.already_loaded == len(list(SAMPLE_LOGS.iterdir()))
    assert snapshot(warehouse) == first


def test_a_log_rewritten_with_other_content_loads_it_and_keeps_the_old_rows(tmp_path):
    source = tmp_path / "logs"
    shutil.copytree(SAMPLE_LOGS, source)
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(source, warehouse)
    other_day = generate_logs(tmp_path / "other", 0.05, 3, "--days", "1", "--start", "2026-10-09", "--gzip-share", "0")
    rewritten = source / "access-2026-10-01.log"
    everything = tmp_path / "everything"
    shutil.copytree(SAMPLE_LOGS, everything)
    shutil.copy(next(other_day.iterdir()), everything / "access-2026-10-09.log")
    shutil.copy(next(other_day.iterdir()), rewritten)

    state, summary = run_flow(source, warehouse)

    assert state.is_completed()
    assert [Path(batch.source).name for batch in summary.batches] == [rewritten.name]
    expected, actual = compute_expected(everything), marts(warehouse)
    for mart in ("hourly", "daily", "top_paths"):
        assert_frame_equal(actual[mart], expected[mart], check_dtypes=False, check_column_order=False)
    assert_sessions_match_independent_computation(everything, warehouse)


def test_the_issue_14_rotation_keeps_every_request_of_the_three_loads(tmp_path):
    """load, logrotate (create), load, logrotate (delaycompress), load: 5,000 + 3,000 + 2,000 requests, each once."""
    source = tmp_path / "logs"
    warehouse = tmp_path / "warehouse.duckdb"
    writes = iter(range(10_000))

    def write_requests(count: int) -> None:
        clients = (f"10.0.{request // 256}.{request % 256}" for request in writes)  # each request its own client
        lines = [log_line(client=next(clients), request=f"GET /{n} HTTP/1.1") for n in range(count)]
        write_log(source / "access.log", lines)

    write_requests(5000)
    first, _ = run_flow(source, warehouse)
    (source / "access.log").rename(source / "access.log.1")
    write_requests(3000)
    second, _ = run_flow(source, warehouse)
    (source / "access.log.2.gz").write_bytes(gzip.compress((source / "access.log.1").read_bytes()))
    (source / "access.log.1").unlink()
    (source / "access.log").rename(source / "access.log.1")
    write_requests(2000)
    third, summary = run_flow(source, warehouse)

    assert [state.is_completed() for state in (first, second, third)] == [True, True, True]
    assert [Path(batch.source).name for batch in summary.batches] == ["access.log"]
    assert summary.already_loaded == 2
    assert query(warehouse, "select count(*) from logs.requests") == [(10_000,)]
    assert query(warehouse, "select sum(requests) from logs.daily") == [(10_000,)]
    assert query(warehouse, "select status, count(*) from meta.batches group by all") == [("loaded", 3)]


def test_error_logs_are_left_out_unless_a_pattern_asks_for_them(tmp_path):
    source = tmp_path / "logs"
    write_log(source / "access.log", [log_line()])
    write_log(source / "access.log-20261201.gz", [log_line(request="GET /rotated HTTP/1.1")])
    write_log(source / "error.log", [log_line(request="GET /error HTTP/1.1")])
    warehouse = tmp_path / "warehouse.duckdb"

    run_flow(source, warehouse)
    by_default = query(warehouse, "select path from logs.requests order by path")
    run_flow(source, warehouse, patterns=["error.log*"])

    assert by_default == [("/index.html",), ("/rotated",)]
    assert query(warehouse, "select path from logs.requests order by path") == [
        ("/error",),
        ("/index.html",),
        ("/rotated",),
    ]


def test_named_files_can_be_reloaded_on_demand_without_changing_the_result(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_LOGS, warehouse)
    first = snapshot(warehouse)
    reloaded = sorted(SAMPLE_LOGS.iterdir())[-1]
    # the loaded batches' staged folders removed to free their space: the reload stages its file again
    for staged in (staging_root_for(warehouse) / "access_logs").iterdir():
        if staged.is_dir():
            shutil.rmtree(staged)

    state, summary = run_flow(SAMPLE_LOGS, warehouse, files=[reloaded.name], reload=True)

    assert state.is_completed(), state.message
    assert [Path(batch.source).name for batch in summary.batches] == [reloaded.name]
    assert summary.already_loaded == 0
    assert snapshot(warehouse) == first


def test_unreadable_files_fail_only_their_own_batch(tmp_path):
    source = tmp_path / "logs"
    write_log(source / "good.log", [log_line(), log_line(status="404")])
    (source / "truncated.log.gz").write_bytes(gzip.compress(b"x" * 5000 + b"\n")[:40])
    (source / "binary.log").write_bytes(bytes(range(256)) * 4)
    (source / "latin1.log").write_bytes((log_line(user_agent="caf\xe9") + "\n").encode("latin-1"))
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(source, warehouse)

    assert state.is_failed()
    assert "3 batch(es) failed" in state.message
    assert query(warehouse, "select count(*) from logs.requests") == [(2,)]
    failed = dict(
        query(warehouse, "select regexp_extract(source, '[^/]+$'), error from meta.batches where status = 'failed'")
    )
    assert failed.keys() == {"truncated.log.gz", "binary.log", "latin1.log"}
    assert "gzip stream is corrupt or truncated" in failed["truncated.log.gz"]
    assert "line 1 is not UTF-8" in failed["latin1.log"]
    assert failed["binary.log"].startswith("line 1 ")


def test_a_batch_failing_after_its_retries_is_recorded_and_the_others_load(tmp_path, monkeypatch):
    import flows.access_logs
    import tasks.kit.steps

    source = tmp_path / "logs"
    write_log(source / "good.log", [log_line()])
    write_log(source / "flaky.log", [log_line(request="GET /flaky HTTP/1.1")])  # other content: not a copy
    real_stage_batch = tasks.kit.steps.stage_batch

    def disk_error_on_flaky(batch, *arguments, **options):
        if batch.path.name == "flaky.log":
            raise OSError("input/output error")
        return real_stage_batch(batch, *arguments, **options)

    monkeypatch.setattr(tasks.kit.steps, "stage_batch", disk_error_on_flaky)
    quick_retries = tasks.kit.steps.stage_file_batch.with_options(
        retries=1, retry_delay_seconds=0, retry_jitter_factor=None
    )
    monkeypatch.setattr(flows.access_logs, "stage_file_batch", quick_retries)
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(source, warehouse)

    assert state.is_failed()
    assert "flaky.log: OSError: input/output error" in state.message
    assert query(warehouse, "select regexp_extract(source, '[^/]+$'), status, error from meta.batches order by 1") == [
        ("flaky.log", "failed", "OSError: input/output error"),
        ("good.log", "loaded", None),
    ]


def stage_states(state) -> dict[str, str]:
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    return {run.name: run.state.name for run in task_runs if run.name.startswith("stage ")}


def staging_times(warehouse: Path) -> dict[str, float]:
    folders = (staging_root_for(warehouse) / "access_logs").iterdir()
    return {folder.name: read_manifest(folder).started_at for folder in folders if folder.is_dir()}


def test_staging_is_cached_by_content_so_a_rebuilt_warehouse_does_not_parse_again(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_LOGS, warehouse)
    staged_at = staging_times(warehouse)
    # the first rebuild finds the staged folders (the first run had nothing staged to cache yet), the second hits
    # Prefect's cache, which trusts a batch's result only while its staged folder is there
    for expected in ("Completed", "Cached"):
        for leftover in tmp_path.glob("warehouse.duckdb*"):
            leftover.unlink()

        state, _ = run_flow(SAMPLE_LOGS, warehouse)

        states = stage_states(state)
        assert states and set(states.values()) == {expected}, states
        assert staging_times(warehouse) == staged_at, "parsed again"
        assert_matches_independent_computation(SAMPLE_LOGS, warehouse)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--source", "/nonexistent/logs"], "source folder /nonexistent/logs does not exist"),
        (["--source", "{file}"], "is not a folder"),
        (["--file", "nowhere.log"], "nowhere.log is not in"),
        (["--warehouse", "{file}/warehouse.duckdb"], "cannot write the warehouse at"),
    ],
    ids=["missing-source", "source-is-a-file", "unknown-file", "unwritable-warehouse"],
)
def test_bad_settings_stop_the_command_with_one_clear_message(tmp_path, arguments, message):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    arguments = [argument.replace("{file}", str(blocker)) for argument in arguments]
    if "--warehouse" not in arguments:
        arguments += ["--warehouse", str(tmp_path / "warehouse.duckdb")]

    finished = subprocess.run(
        [sys.executable, "flows/access_logs.py", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True
    )

    assert finished.returncode == 2
    assert message in finished.stderr
    assert len(finished.stderr.strip().splitlines()) == 1, finished.stderr


def test_a_session_gap_under_a_minute_is_refused_by_the_command_and_the_flow(tmp_path):
    finished = subprocess.run(
        [sys.executable, "flows/access_logs.py", "--session-gap-minutes", "0"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 2
    assert "--session-gap-minutes: must be at least 1, not 0" in finished.stderr

    state, _ = run_flow(SAMPLE_LOGS, tmp_path / "warehouse.duckdb", session_gap_minutes=0)  # as from a deployment
    assert state.is_failed()
    assert "session_gap_minutes" in state.message
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_a_run_publishes_its_summary_and_progress_as_artifacts(tmp_path):
    state, summary = run_flow(SAMPLE_LOGS, tmp_path / "warehouse.duckdb")

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
    by_type = {artifact.type: artifact for artifact in artifacts}
    assert set(by_type) == {"table", "markdown", "progress"}
    table = by_type["table"].data
    table = json.loads(table) if isinstance(table, str) else table
    batches, total = table[:-1], table[-1]
    assert len(batches) == 3
    assert total["source"] == "TOTAL"
    assert total["rows in"] == sum(row["rows in"] for row in batches) == summary.rows_in
    assert total["rows in"] == total["loaded"] + total["rejected"]
    assert by_type["progress"].data == 100.0
    assert f"{summary.rows_rejected:,}" in by_type["markdown"].data


@pytest.mark.slow
def test_generated_logs_read_in_small_chunks_agree_with_an_independent_computation(tmp_path):
    source = generate_logs(tmp_path / "logs", 20, 23, "--days", "5", "--gzip-share", "0.5")
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(source, warehouse, chunk_mb=1)

    assert state.is_completed(), state.message
    assert len(summary.batches) == 5
    assert_matches_independent_computation(source, warehouse)


def mutate(line: str, rng: random.Random) -> str:
    """One random edit of the kind real corruption makes: a character replaced, dropped or doubled."""
    position = rng.randrange(len(line))
    edit = rng.choice(("replace", "drop", "double"))
    if edit == "drop":
        return line[:position] + line[position + 1 :]
    if edit == "double":
        return line[:position] + line[position] + line[position:]
    return line[:position] + rng.choice(' "\\[]/:-+?09aZ\té€') + line[position + 1 :]


def test_randomly_corrupted_lines_are_judged_as_the_independent_computation_judges_them(tmp_path):
    rng = random.Random(20261123)
    sample = (SAMPLE_LOGS / "access-2026-10-01.log").read_text().splitlines()
    source = tmp_path / "logs"
    write_log(source / "fuzzed.log", [mutate(line, rng) if line else line for line in sample for _ in range(2)])
    warehouse = tmp_path / "warehouse.duckdb"

    # about a third of the lines break: far over the reject-rate guard, which is not what this test is about
    state, summary = run_flow(source, warehouse, max_reject_rate=1.0)

    assert state.is_completed(), state.message
    assert 0 < summary.rows_loaded < summary.rows_in
    assert_matches_independent_computation(source, warehouse)


def test_the_command_explains_itself():
    finished = subprocess.run(
        [sys.executable, "flows/access_logs.py", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )

    assert finished.returncode == 0
    for option in ("--source", "--warehouse", "--chunk-mb"):
        assert option in finished.stdout


def test_a_completed_run_announces_itself_for_downstream_deployments_and_a_failed_one_does_not(tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr("tasks.kit.steps.emit_event", lambda **event: sent.append(event))
    warehouse = tmp_path / "warehouse.duckdb"

    state, summary = run_flow(SAMPLE_LOGS, warehouse)

    assert state.is_completed()
    assert len(sent) == 1
    assert sent[0]["event"] == "batchyard.pipeline.completed"
    assert sent[0]["resource"]["prefect.resource.id"] == "batchyard.pipeline.access_logs"
    payload = sent[0]["payload"]
    assert payload["flow_run_id"] == str(state.state_details.flow_run_id)
    assert (payload["warehouse"], payload["rows_loaded"], payload["batches_loaded"]) == (str(warehouse), 9_662, 3)

    # a run that finds nothing new changes nothing downstream: no completion, so no audit or report of the same data
    state, summary = run_flow(SAMPLE_LOGS, warehouse)

    assert state.is_completed() and summary.already_loaded == 3
    assert len(sent) == 1

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "binary.log").write_bytes(bytes(range(256)))
    state, summary = run_flow(tmp_path / "bad", warehouse)

    assert state.is_failed()
    assert len(sent) == 1


def test_a_backfill_loads_the_files_dated_in_its_range_again(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    run_flow(SAMPLE_LOGS, warehouse)
    first = snapshot(warehouse)

    state, summary = run_flow(
        SAMPLE_LOGS, warehouse, first_day=date(2026, 10, 2), last_day=date(2026, 10, 31), reload=True
    )

    assert state.is_completed()
    assert sorted(Path(batch.source).name for batch in summary.batches) == [
        "access-2026-10-02.log",
        "access-2026-10-03.log.gz",
    ]
    assert snapshot(warehouse) == first


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_named_file_that_is_not_there_fails_the_run_in_one_line_without_a_traceback(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    handler = Records()
    run_loggers = [logging.getLogger(name) for name in ("prefect.flow_runs", "prefect.task_runs")]
    for logger in run_loggers:
        logger.addHandler(handler)
    try:
        state, _ = run_flow(landing, tmp_path / "warehouse.duckdb", files=["access-2026-10-03.log.gz"], reload=True)
    finally:
        for logger in run_loggers:
            logger.removeHandler(handler)

    assert state.is_failed()
    assert f"access-2026-10-03.log.gz is not in {landing}" in state.message
    errors = [record for record in handler.records if record.levelno >= logging.ERROR]
    assert errors and all(f"access-2026-10-03.log.gz is not in {landing}" in record.getMessage() for record in errors)
    assert not [record for record in errors if record.exc_info], "a traceback went with the one line"


def test_relative_paths_are_taken_in_the_project_folder_wherever_the_run_starts(tmp_path, monkeypatch):
    """As a worker in its own clone takes the run form's `data/...` defaults: in its project folder."""
    source = tmp_path / "logs"
    shutil.copytree(SAMPLE_LOGS, source)
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.chdir(tmp_path / "logs")  # anywhere but the project folder

    state, summary = run_flow(
        Path(os.path.relpath(source, PROJECT_ROOT)), Path(os.path.relpath(warehouse, PROJECT_ROOT))
    )

    assert state.is_completed(), state.message
    assert Path(summary.source).resolve() == source and Path(summary.warehouse).resolve() == warehouse
    assert_matches_independent_computation(source, warehouse)
