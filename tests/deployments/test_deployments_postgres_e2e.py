"""The deployments end to end on a PostgreSQL-backed Prefect server, Prefect's production backend: the stack of
test_deployments_e2e.py (tests/support/deployment_stack.py) with its server on a throwaway PostgreSQL database
(tests/support/postgres_server.py), under the burst of landed files that makes a SQLite-backed server log
"database is locked" tracebacks, after that module's checks of what the server's database carries: events that start
the audit (and not for a failed run), the scheduler's cron runs, the deployments' parameter schemas. Its other checks
(the UI's pages, a single landed file, the docs' commands) run on SQLite only, for the suite's time."""

import re

import pytest
from deployment_api import Api, assert_completed
from deployment_stack import PrefectStack
from flow_process import generate_logs
from postgres_server import postgres  # noqa: F401 - the session's PostgreSQL server, a fixture
from test_deployments_e2e import (
    test_a_failed_run_does_not_start_the_audit_while_a_completed_one_does as check_audit_triggers,
)
from test_deployments_e2e import (
    test_a_run_started_by_a_cron_schedule_starts_the_audit_within_seconds_too as check_cron_runs,
)
from test_deployments_e2e import (
    test_every_deployed_parameter_has_a_description_and_no_default_path_of_the_deploying_machine as check_schemas,
)
from warehouse_snapshot import assert_matches_independent_computation, query

from tasks.core.settings import WAREHOUSE_WRITE_LIMIT

pytestmark = pytest.mark.slow

BURST = 20  # landed files, each announced by the watcher and loaded by a run of its own
BURST_TIMEOUT = 600  # seconds: the worker starts a process per run, 20 of them at once on 2 cores


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres):  # noqa: F811
    """The stack, its runs taking the write turn per load, and the turn's limit created before the first run, as
    docs/operations.md advises on PostgreSQL (runs that create it at once make the server log an ERROR)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BATCHYARD_WRITE_TURN", "per-load")
        with PrefectStack(tmp_path_factory.mktemp("deployments-postgres-e2e"), database=postgres) as running:
            running.command("prefect", "global-concurrency-limit", "create", WAREHOUSE_WRITE_LIMIT, "--limit", "1")
            yield running


@pytest.fixture(scope="module")
def api(stack):
    return Api(stack)


def test_the_server_keeps_its_state_in_postgresql(stack, postgres):  # noqa: F811
    database = f"prefect_{stack.port}"
    with postgres.connect(database) as connection:
        deployments = connection.execute("select count(*) from deployment").fetchone()[0]
    assert deployments == len(Api(stack).request("POST", "/deployments/filter", json={"limit": 200}).json()) > 0
    assert not (stack.root / "prefect-home" / "prefect.db").exists()


# Before the burst, whose last check reads the server's whole log: these runs' events and schedules are in it too.
def test_a_completed_run_starts_the_audit_and_a_failed_one_does_not(stack, api, tmp_path):
    check_audit_triggers(stack, api, tmp_path)


def test_a_run_started_by_a_cron_schedule_starts_the_audit_within_seconds(stack, api, tmp_path):
    check_cron_runs(stack, api, tmp_path)


def test_every_deployed_parameter_has_a_description_and_a_default_valid_on_any_clone(stack, api):
    check_schemas(stack, api)


def test_a_burst_of_landed_files_loads_each_file_once_and_leaves_no_error_in_the_server_log(stack, api, tmp_path):
    worker_log = stack.logs / "worker.log"
    earlier_runs_log = len(worker_log.read_text())
    generated = generate_logs(tmp_path / "generated", 2, 11, "--days", str(BURST), "--start", "2026-12-01")
    for path in sorted(generated.iterdir()):
        path.rename(stack.landing / path.name)  # one rename each: a file appears whole
    names = sorted(path.name for path in stack.landing.glob("access-*"))
    assert len(names) == BURST

    on_arrival = [
        api.triggered_run(
            "access-logs",
            "access-logs-on-arrival",
            lambda parameters, name=name: parameters["files"] == [name],
            timeout=BURST_TIMEOUT,
        )
        for name in names
    ]
    for run in on_arrival:
        assert_completed(run)

    assert len(api.runs_of("access-logs", "access-logs-on-arrival")) == BURST  # one run per file, none twice
    assert_matches_independent_computation(stack.landing, stack.default_warehouse)
    per_source = query(
        stack.default_warehouse, "select source, count(*) from meta.batches where status = 'loaded' group by source"
    )
    assert sorted(count for _, count in per_source) == [1] * BURST
    # a turn for the file's load and one for the mart rebuild, in each run
    burst_log = worker_log.read_text()[earlier_runs_log:]
    turns = burst_log.count(f"took the warehouse write turn {WAREHOUSE_WRITE_LIMIT}")
    assert turns == 2 * BURST
    limit = api.request("GET", f"/v2/concurrency_limits/{WAREHOUSE_WRITE_LIMIT}").json()
    assert (limit["limit"], limit["active_slots"]) == (1, 0)
    server_log = (stack.logs / "server.log").read_text()
    assert not re.search(r"\bERROR\b|Traceback", server_log), stack.log_tail("server", 200)
