"""The deployments end to end, as a user runs them: a real `prefect server start` on 127.0.0.1, a process worker,
`prefect deploy --all` from a fresh copy of the repository and the landing watcher (tests/support/deployment_stack.py).

Runs are started through the REST API as the UI's Run button starts them, and files are dropped into the landing
folder as a user would. The warehouse is checked against the independent computation.
"""

import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser import render_page, visible_text
from deployment_api import Api, assert_completed
from deployment_stack import BIN, PROJECT_ROOT, PrefectStack, wait_for
from flow_process import generate_logs
from independent_access_logs import compute_expected
from report_pages import png_pixels
from warehouse_snapshot import assert_matches_independent_computation, query

from tasks.core.deployments import deployment_definitions
from tasks.core.settings import WAREHOUSE_WRITE_LIMIT
from tasks.observability.audit import warehouse_checks

pytestmark = pytest.mark.slow

DEPLOYMENTS = deployment_definitions()["deployments"]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with PrefectStack(tmp_path_factory.mktemp("deployments-e2e")) as running:
        yield running


@pytest.fixture(scope="module")
def api(stack):
    return Api(stack)


def test_the_ui_lists_every_deployment_with_its_schedule(stack):
    screenshot = SCREENSHOTS / "prefect-ui-deployments.png"
    # the UI shows 10 deployments a page unless asked for more (its pager reads `limit` from the address)
    text = visible_text(render_page(f"{stack.ui_url}/deployments?limit=25", screenshot))

    for deployment in DEPLOYMENTS:
        assert deployment["name"] in text, f"{deployment['name']} is not on the page (see {screenshot})"
    assert text.count("Ready") >= len(DEPLOYMENTS), (
        f"a worker polls the pool, so every deployment is Ready ({screenshot})"
    )
    assert "At 5 minutes past the hour every day" in text, f"the hourly schedule is not shown (see {screenshot})"
    assert "At 02:30 AM every day" in text, f"the audit's daily schedule is not shown (see {screenshot})"
    assert "At 06:00 AM, only on Monday" in text, f"the weekly report's schedule is not shown (see {screenshot})"


def test_a_run_started_through_the_api_loads_the_warehouse_and_its_completion_starts_the_audit_and_report(
    stack, api, tmp_path
):
    sample_logs = stack.project / "data" / "sample_logs"
    warehouse = tmp_path / "warehouse.duckdb"

    run_id = api.run_deployment(
        "access-logs", "access-logs-hourly", {"source": str(sample_logs), "warehouse": str(warehouse)}
    )

    assert_completed(api.finished(run_id))
    assert_matches_independent_computation(sample_logs, warehouse)
    audit = api.triggered_run(
        "warehouse-audit", "warehouse-audit", lambda parameters: parameters.get("upstream_flow_run_id") == run_id
    )
    assert_completed(audit)
    assert audit["parameters"]["warehouse"] == str(warehouse)
    assert query(
        warehouse, "select count(*), sum(violations) from meta.check_results where flow_run_id = ?", [audit["id"]]
    ) == [(len(warehouse_checks()), 0)]

    # the same completion starts the daily report, for yesterday, on the warehouse the event names
    daily = api.triggered_run(
        "report", "report-daily", lambda parameters: parameters.get("warehouse") == str(warehouse)
    )
    assert_completed(daily)
    yesterday = datetime.fromisoformat(daily["start_time"]).date() - timedelta(days=1)
    assert (stack.project / "data" / "reports" / f"daily-{yesterday.isoformat()}.html").is_file()

    out = tmp_path / "reports"
    weekly = api.run_deployment(
        "report", "report-weekly", {"date": "2026-10-02", "warehouse": str(warehouse), "out": str(out)}
    )
    assert_completed(api.finished(weekly))
    assert (out / "weekly-2026-W40.html").is_file()
    artifacts = api.request("POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [weekly]}}}).json()
    image = next(artifact for artifact in artifacts if artifact["key"] == "report-weekly-chart")
    screenshot = SCREENSHOTS / "prefect-ui-report-chart.png"
    render_page(f"{stack.ui_url}/artifacts/artifact/{image['id']}", screenshot, window_size=(1400, 800))
    _, _, pixels = png_pixels(screenshot)
    bar_blue = sum(pixel == (0, 0x72, 0xB2) for pixel in pixels)
    assert bar_blue > 5_000, f"the chart's bars are not drawn in the UI: {bar_blue} blue pixels (see {screenshot})"

    # the worker's log carries what its runs printed, and nothing of their processes' teardown (the first runs'
    # processes have long ended by now)
    worker_log = (stack.logs / "worker.log").read_text()
    assert f"Flow run '{api.flow_run(run_id)['name']}' - Finished in state Completed" in worker_log
    assert "nanobind" not in worker_log and "leaked" not in worker_log, stack.log_tail("worker")


def test_a_failed_run_does_not_start_the_audit_while_a_completed_one_does(stack, api, tmp_path):
    sample_logs = stack.project / "data" / "sample_logs"
    failing = api.run_deployment(
        "access-logs",
        "access-logs-hourly",
        {"source": str(tmp_path / "missing"), "warehouse": str(tmp_path / "f.duckdb")},
    )
    succeeding = api.run_deployment(
        "access-logs",
        "access-logs-backfill",
        {"source": str(sample_logs), "warehouse": str(tmp_path / "s.duckdb"), "first_day": "2026-10-02"},
    )

    assert api.finished(failing)["state"]["type"] == "FAILED"
    assert_completed(api.finished(succeeding))
    # the completed run's audit proves the events of both runs were processed by now
    assert_completed(
        api.triggered_run(
            "warehouse-audit",
            "warehouse-audit",
            lambda parameters: parameters.get("upstream_flow_run_id") == succeeding,
        )
    )
    audits = api.runs_of("warehouse-audit", "warehouse-audit")
    assert not [run for run in audits if run["parameters"].get("upstream_flow_run_id") == failing]
    loaded = query(tmp_path / "s.duckdb", "select regexp_extract(source, '[^/]+$') from meta.batches order by 1")
    assert loaded == [("access-2026-10-02.log",), ("access-2026-10-03.log.gz",)]


def test_a_file_dropped_into_the_landing_folder_is_loaded_by_the_event_triggered_deployment(stack, api):
    name = "access-2026-10-01.log"
    arriving = stack.landing / f".{name}.part"  # written under a name the watcher ignores, then renamed
    shutil.copy(stack.project / "data" / "sample_logs" / name, arriving)
    arriving.rename(stack.landing / name)

    run = api.triggered_run("access-logs", "access-logs-on-arrival", lambda parameters: parameters["files"] == [name])

    assert_completed(run)
    assert run["parameters"]["source"] == str(stack.landing.resolve())
    loaded = query(
        stack.default_warehouse,
        "select rows_in, rows_loaded from meta.batches where source = ? and status = 'loaded'",
        [str((stack.landing / name).resolve())],
    )
    expected = compute_expected(stack.project / "data" / "sample_logs")["per_file"]
    assert loaded == [tuple(row[1:3]) for row in expected.rows() if row[0] == name]


def test_a_burst_of_files_and_an_hourly_run_at_the_same_time_all_complete_and_load_each_file_once(stack, api, tmp_path):
    generated = generate_logs(tmp_path / "generated", 3, 5, "--days", "4", "--start", "2026-11-01")
    api_run = api.run_deployment("access-logs", "access-logs-hourly", {})  # as the cron schedule starts it
    for path in sorted(generated.iterdir()):
        path.rename(stack.landing / path.name)  # one rename each: a file appears whole
    names = sorted(path.name for path in stack.landing.glob("access-2026-11-*"))
    assert len(names) == 4

    on_arrival = [
        api.triggered_run(
            "access-logs", "access-logs-on-arrival", lambda parameters, name=name: parameters["files"] == [name]
        )
        for name in names
    ]
    for run in [api.finished(api_run), *on_arrival]:
        assert_completed(run)

    assert_matches_independent_computation(stack.landing, stack.default_warehouse)
    per_source = query(
        stack.default_warehouse, "select source, count(*) from meta.batches where status = 'loaded' group by source"
    )
    assert {count for _, count in per_source} == {1}
    limit = api.request("GET", f"/v2/concurrency_limits/{WAREHOUSE_WRITE_LIMIT}").json()
    assert (limit["limit"], limit["active_slots"]) == (1, 0)


def test_a_run_started_by_a_cron_schedule_starts_the_audit_within_seconds_too(stack, api, tmp_path):
    """Prefect's own Completed event reaches triggers ~15 minutes late for cron-created runs (docs/operations.md); the
    pipeline's completion event must not. A per-minute schedule is added to the backfill deployment for this."""
    warehouse = tmp_path / "cron.duckdb"
    deployment_id = api.deployment_id("access-logs", "access-logs-backfill")
    parameters = {"source": str(stack.project / "data" / "sample_logs"), "warehouse": str(warehouse)}
    created = api.request(
        "POST",
        f"/deployments/{deployment_id}/schedules",
        json=[{"schedule": {"cron": "* * * * *", "timezone": "UTC"}, "active": True, "parameters": parameters}],
    )
    try:
        scheduled = wait_for(
            "the scheduler to create a run for the next minute",
            lambda: min(
                (
                    run
                    for run in api.runs_of("access-logs", "access-logs-backfill")
                    if run["auto_scheduled"] and run["parameters"].get("warehouse") == str(warehouse)
                ),
                key=lambda run: run["expected_start_time"],  # the scheduler creates several minutes ahead
                default=None,
            ),
            90,
            stack.explain,
        )
        upstream = api.finished(scheduled["id"], timeout=150)
    finally:  # only now: deleting a schedule deletes its runs that have not started
        api.request("DELETE", f"/deployments/{deployment_id}/schedules/{created.json()[0]['id']}")

    assert_completed(upstream)
    # how soon the trigger fired is asserted below, from the run's creation time; finishing may take longer, since
    # the audit queues behind earlier audits (one at a time, retried every 30 s) and the machine may be busy
    audit = api.triggered_run(
        "warehouse-audit",
        "warehouse-audit",
        lambda parameters: parameters.get("upstream_flow_run_id") == upstream["id"],
    )
    assert_completed(audit)
    # when the trigger created the audit's run; it may then queue behind earlier audits (one at a time)
    lag = datetime.fromisoformat(audit["created"]) - datetime.fromisoformat(upstream["end_time"])
    assert lag < timedelta(seconds=30), f"the audit was triggered {lag} after its cron-started upstream run ended"


def test_the_docs_examples_of_runs_started_by_hand_work_as_written_on_a_fresh_deployment(stack, api):
    """docs/operations.md's commands under "Running a job by hand", run from the project folder as a reader would
    (with this test's Prefect in place of the project's .venv); last in this module, since they fill the landing
    folder that the tests above expect to hold only their own files."""
    docs = (stack.project / "docs" / "operations.md").read_text()
    block = docs.split("### Running a job by hand", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #")[0].replace(".venv/bin/", f"{BIN}/") for line in block.splitlines()]
    assert len(commands) == 4 and commands[0].startswith("cp ")

    started = []
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command], cwd=stack.project, env=stack.environment, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        started += re.findall(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert len(started) == 3, started

    hourly, by_days, by_name = (api.finished(run_id) for run_id in started)
    for run in (hourly, by_days, by_name):
        assert_completed(run)
    per_file = {row[0]: row[2] for row in compute_expected(stack.project / "data" / "sample_logs")["per_file"].rows()}
    days_loaded = per_file["access-2026-10-01.log"] + per_file["access-2026-10-02.log"]
    assert by_days["state"]["message"].startswith(f"{days_loaded:,} rows loaded"), by_days["state"]["message"]
    assert by_name["state"]["message"].startswith(f"{per_file['access-2026-10-03.log.gz']:,} rows loaded")
    assert_matches_independent_computation(stack.landing, stack.default_warehouse)


def test_every_deployed_parameter_has_a_description_and_no_default_path_of_the_deploying_machine(stack, api):
    """The UI's run form is built from these schemas, and a Custom run submits the defaults it shows: a path of the
    machine that ran `prefect deploy` would send a worker in another clone to write there."""
    deployments = api.request("POST", "/deployments/filter", json={"limit": 200}).json()
    assert sorted(deployment["name"] for deployment in deployments) == sorted(spec["name"] for spec in DEPLOYMENTS)
    for deployment in deployments:
        for name, field in deployment["parameter_openapi_schema"]["properties"].items():
            assert field.get("description"), f"{deployment['name']}: {name} has no description"
            if field.get("format") == "path" and field.get("default") is not None:
                assert not Path(field["default"]).is_absolute(), f"{deployment['name']}: {name}: {field['default']}"
    schemas = {deployment["name"]: deployment["parameter_openapi_schema"]["properties"] for deployment in deployments}
    assert schemas["report-daily"]["period"]["enum"] == ["daily", "weekly", "monthly"]
    assert (schemas["report-daily"]["date"]["type"], schemas["report-daily"]["date"]["default"]) == ("string", "")
    assert schemas["warehouse-audit"]["warehouse"]["default"] == "data/warehouse.duckdb"
    assert schemas["access-logs-hourly"]["source"]["default"] == "data/sample_logs"
    # one name and the same bounds as the command line's flags, which the UI's form and the server enforce
    chunk = schemas["access-logs-hourly"]["chunk_mb"]
    assert (chunk["minimum"], chunk["maximum"], chunk["default"]) == (1 / 1024, 1024, 16)
    assert "chunk_bytes" not in schemas["access-logs-hourly"] and "split_bytes" not in schemas["word-count"]
    assert (schemas["word-count"]["split_mb"]["minimum"], schemas["word-count"]["split_mb"]["maximum"]) == (
        1 / 1024,
        16_384,
    )
    minimum_rows = schemas["sales-daily"]["reject_rate_min_rows"]
    assert (minimum_rows["minimum"], minimum_rows["maximum"], minimum_rows["default"]) == (0, 1_000_000_000, 100)
    # a path or a URL, typed str: its default is the sample's path in the project folder, not the deploying machine's
    assert schemas["migrate"]["source"]["default"] == "data/sample_shop.sqlite"
