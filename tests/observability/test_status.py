"""flows/status.py: the verdicts (OK, LATE, FAILING) on hand-built rows at a fixed time, the schedules they read from
prefect.yaml, and the command on a small hand-built warehouse."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from warehouse_snapshot import foreign_database

from flows.status import main
from tasks.core.deployments import deployment_definitions
from tasks.observability.status import (
    FAILING,
    LATE,
    OK,
    PipelineActivity,
    expected_intervals,
    grace,
    known_pipelines,
    schedule_interval,
    verdict,
)
from tasks.warehouse.connection import open_warehouse
from tasks.warehouse.runs import record_run

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def activity(state: str | None = "completed", run_ago: timedelta | None = HOUR, loaded_ago: timedelta | None = HOUR):
    return PipelineActivity(
        pipeline="sales",
        last_run_at=None if run_ago is None else NOW - run_ago,
        last_run_state=state,
        last_run_reason=None if state == "completed" else "1 batch(es) over the 5.0% reject-rate threshold: a.csv",
        last_loaded_at=None if loaded_ago is None else NOW - loaded_ago,
    )


@pytest.mark.parametrize(
    ("row", "interval", "word", "detail"),
    [
        (activity(), DAY, OK, "expected every 24 h (+6 h grace)"),
        (activity(loaded_ago=30 * HOUR), DAY, OK, "expected every 24 h (+6 h grace)"),  # at the edge: not late
        (activity(loaded_ago=30 * HOUR + timedelta(seconds=1)), DAY, LATE, "last load 30 h ago; expected every 24 h"),
        (activity(loaded_ago=3 * HOUR), HOUR, LATE, "last load 3 h ago; expected every 1 h (+1 h grace)"),
        (activity("failed"), DAY, FAILING, "1 batch(es) over the 5.0% reject-rate threshold: a.csv"),
        (activity("rejects_over_threshold", loaded_ago=None), None, FAILING, "1 batch(es) over the 5.0%"),
        (activity(loaded_ago=90 * DAY), None, OK, "not scheduled"),
        (activity(None, None, None), None, OK, "never run; not scheduled"),
        (activity(None, None, None), DAY, LATE, "nothing loaded yet; expected every 24 h"),
        (activity("completed", HOUR, None), 31 * DAY, LATE, "nothing loaded yet; expected every 31 d"),
    ],
    ids=[
        "ok",
        "at-the-grace",
        "just-late",
        "hourly-late",
        "failed",
        "over-threshold",
        "unscheduled-old",
        "never-run-unscheduled",
        "never-run-scheduled",
        "ran-but-never-loaded",
    ],
)
def test_a_pipeline_is_failing_late_or_ok(row, interval, word, detail):
    judged = verdict(row, interval, NOW)
    assert judged.word == word
    assert judged.detail.startswith(detail), judged.detail


def test_the_expected_intervals_come_from_every_pipeline_folder_s_cron_schedules(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(
        "definitions: {work_pools: {pool: {name: p}}}\n"
        "deployments:\n"
        "  - {name: report-weekly, entrypoint: 'flows/report.py:report', schedules: [{cron: '0 6 * * 1'}]}\n"
        "  - {name: report-monthly, entrypoint: 'flows/report.py:report', schedules: [{cron: '0 6 1 * *'}]}\n"
    )
    for pipeline, deployments in {
        "sensors": "[{name: sensors-hourly, entrypoint: 'flows/sensors.py:sensors', schedules: [{cron: '5 * * * *'}]}]",
        "ledgers": "[{name: ledgers-monthly, entrypoint: 'flows/ledgers.py:ledgers', "
        "schedules: [{cron: '0 3 1 * *', timezone: Europe/Paris}]}, "
        "{name: ledgers-paused, entrypoint: 'flows/ledgers.py:ledgers', schedules: [{cron: '* * * * *', active: false}]}]",
        "on_demand": "[{name: on-demand, entrypoint: 'flows/on_demand.py:on_demand'}]",
    }.items():
        (tmp_path / "pipelines" / pipeline).mkdir(parents=True)
        (tmp_path / "pipelines" / pipeline / "deployments.yaml").write_text(f"deployments: {deployments}\n")
    definitions = deployment_definitions(base, tmp_path / "pipelines")

    assert expected_intervals(definitions) == {
        "sensors": HOUR,
        "ledgers": 31 * DAY,
        "report": 7 * DAY,  # weekly and monthly: the shorter
    }
    assert known_pipelines(definitions) == {"sensors", "ledgers", "on_demand", "report"}
    assert {spec["work_pool"]["name"] for spec in definitions["deployments"]} == {"p"}
    assert schedule_interval("0 3 1 * *") == 31 * DAY
    assert schedule_interval("*/15 * * * 1-5") == timedelta(days=2, minutes=15)  # Friday 23:45 to Monday 00:00
    assert (grace(HOUR), grace(DAY), grace(31 * DAY)) == (HOUR, 6 * HOUR, timedelta(days=7, hours=18))


def run_row(pipeline: str, flow_run_id: str, started: datetime, state: str = "completed", **values) -> dict:
    row = {
        "pipeline": pipeline,
        "flow_run_id": flow_run_id,
        "flow_run_name": None,
        "started_at": started,
        "finished_at": started + timedelta(seconds=12),
        "state": state,
        "reason": None,
        "batches": 3,
        "batches_failed": 0,
        "already_loaded": 0,
        "rows_in": 9_859,
        "rows_loaded": 9_662,
        "rows_rejected": 197,
        "reject_rate": 197 / 9_859,
        "max_batch_reject_rate": 0.02,
        "reject_rate_threshold": 0.05,
        "bytes_read": 2_000_000,
        "seconds": 12.0,
        "rows_per_second": 9_859 / 12,
        "peak_memory_bytes": 300 << 20,
    }
    return row | values


def loaded_batch(connection, pipeline: str, flow_run_id: str, finished: datetime) -> None:
    connection.execute(
        "insert into meta.batches by name select ? as batch_id, ? as pipeline, 'x' as source, 'f' as fingerprint, "
        "1 as size_bytes, 'loaded' as status, 1 as rows_in, 1 as rows_loaded, 0 as rows_rejected, 1 as bytes_read, "
        "? as started_at, ? as finished_at, ? as flow_run_id",
        [flow_run_id + pipeline, pipeline, finished, finished, flow_run_id],
    )


@pytest.fixture(autouse=True)
def wide_output(monkeypatch):
    """As in a wide terminal, whatever COLUMNS the test runner has (xdist's workers have 80): the reason is cut only
    where a terminal is narrow."""
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """access_logs loaded 20 minutes ago; sales' latest run (2 h ago) tripped the guard; migrate loaded 40 days ago."""
    path = tmp_path / "warehouse.duckdb"
    with open_warehouse(path) as connection:
        record_run(connection, run_row("access_logs", "r1", NOW - 20 * timedelta(minutes=1)))
        loaded_batch(connection, "access_logs", "r1", NOW - 20 * timedelta(minutes=1))
        reason = "1 batch(es) over the 5.0% reject-rate threshold: customers_2026-10-02.csv 100.0% (23 of 23 rows)"
        sales = {"rows_in": 23, "rows_loaded": 0, "rows_rejected": 23, "reject_rate": 1.0, "rows_per_second": 11.5}
        record_run(connection, run_row("sales", "r2", NOW - 2 * HOUR, "rejects_over_threshold", reason=reason, **sales))
        loaded_batch(connection, "sales", "r2", NOW - 2 * HOUR)
        loaded_batch(connection, "migrate", "r0", NOW - 40 * DAY)  # before meta.runs existed
    return path


def test_the_command_shows_runs_and_verdicts_and_exits_1_when_something_fails(warehouse, capsys):
    code = main(["--warehouse", str(warehouse)], now=NOW)

    out = capsys.readouterr().out
    assert code == 1
    assert "9,859" in out and "9,662" in out and "197" in out and "2.00%" in out  # access_logs' run
    assert "822" in out and "300" in out  # rows/s, peak MiB
    assert "over threshold" in out and "100.00%" in out and "1 batch(es) over the 5.0% reject-rate threshold: cu" in out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 6}
    assert "OK" in lines["access_logs"] and "20 min 00 s" in lines["access_logs"]
    assert "FAILING" in lines["sales"]
    assert "OK" in lines["migrate"] and "not scheduled" in lines["migrate"] and "40 d" in lines["migrate"]
    # a scheduled pipeline that never ran is late; an unscheduled one that never ran (word_count) is not listed
    assert "LATE" in lines["billing"] and "nothing loaded yet; expected every 31 d" in lines["billing"]
    verdicts = out.split("Pipelines:")[1]
    listed = [line.split("│")[1].strip() for line in verdicts.splitlines() if line.count("│") > 6]
    assert listed == ["access_logs", "billing", "migrate", "sales"]
    assert "2 of 4 pipeline(s) late or failing" in out


def test_the_command_exits_0_when_all_is_well_and_1_when_a_scheduled_pipeline_is_late(warehouse, capsys):
    assert main(["--warehouse", str(warehouse), "--pipeline", "access_logs"], now=NOW) == 0
    assert "All 1 pipeline(s) OK" in capsys.readouterr().out

    assert main(["--warehouse", str(warehouse), "--pipeline", "access_logs"], now=NOW + 3 * HOUR) == 1
    assert "last load 3 h 20 min ago" in capsys.readouterr().out

    assert main(["--warehouse", str(warehouse), "--pipeline", "billing", "--limit", "1"], now=NOW) == 1
    out = capsys.readouterr().out
    assert "No runs recorded" in out and "nothing loaded yet; expected every 31 d" in out


def test_a_missing_warehouse_is_one_line_and_exit_2_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "warehouse.duckdb"

    assert main(["--warehouse", str(missing)], now=NOW) == 2

    assert capsys.readouterr().err.strip() == f"status: no warehouse at {missing}"
    assert not missing.parent.exists()
    with pytest.raises(SystemExit) as usage:
        main(["--limit", "0"])
    assert usage.value.code == 2


def test_the_limit_and_pipeline_select_the_runs_shown(warehouse, capsys):
    assert main(["--warehouse", str(warehouse), "--limit", "1"], now=NOW) == 1
    out = capsys.readouterr().out
    runs = out.split("Pipelines:")[0]
    assert "access_logs" in runs and "rejects_over_threshold" not in runs  # the newest run only


def test_an_unknown_pipeline_is_one_line_naming_the_known_ones_and_exit_2(warehouse, capsys):
    assert main(["--warehouse", str(warehouse), "--pipeline", "salse"], now=NOW) == 2

    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("status: no pipeline called 'salse'; the known pipelines are access_logs, billing, ")
    assert "migrate" in error and "sales" in error and "warehouse_audit" in error


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_text("id,name\n1,a\n"), "is not a DuckDB database (nothing was written to it)"),
        (lambda path: path.write_bytes(b""), "is not a DuckDB database (nothing was written to it)"),
        (lambda path: path.mkdir(), "is a folder or a device, not a DuckDB file"),
        (foreign_database, "is a DuckDB database but not a batchyard warehouse (it holds main.orders)"),
    ],
    ids=["text-file", "empty-file", "folder", "foreign-duckdb"],
)
def test_a_file_that_is_not_a_warehouse_is_one_line_and_exit_2_and_left_as_it_is(tmp_path, capsys, make, message):
    path = tmp_path / "warehouse.duckdb"
    make(path)
    before = path.read_bytes() if path.is_file() else None

    assert main(["--warehouse", str(path)], now=NOW) == 2

    error = capsys.readouterr().err
    assert error.startswith("status: ") and message in error and error.count("\n") == 1, error
    assert (path.read_bytes() if path.is_file() else None) == before


def test_an_unreadable_warehouse_is_one_line_and_exit_2(warehouse, capsys, monkeypatch):
    real_open = Path.open

    def open_as_another_user(path, mode="r", *arguments, **options):
        # tests run as root, who may read anything: opening the warehouse fails as chmod 0 makes it fail for others
        if path == warehouse:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *arguments, **options)

    monkeypatch.setattr(Path, "open", open_as_another_user)
    assert main(["--warehouse", str(warehouse)], now=NOW) == 2
    assert capsys.readouterr().err == f"status: cannot read the warehouse {warehouse}: permission denied\n"
