"""A worker started in a second clone of the repository, end to end: the deployments, deployed from the first clone
(a PrefectStack's copy), name no folder of it, so the worker runs the flows of its own clone and loads into its own
`data/` (docs/operations.md: BATCHYARD_PROJECT)."""

import shutil

import pytest
from deployment_api import Api, assert_completed
from deployment_stack import PrefectStack, copy_of_repository
from warehouse_snapshot import assert_matches_independent_computation, query

from tasks.core.deployments import deployment_definitions
from tasks.observability.audit import warehouse_checks

pytestmark = pytest.mark.slow


def test_a_worker_in_a_second_clone_runs_its_own_flows_and_loads_into_its_own_data_folder(tmp_path_factory):
    with PrefectStack(tmp_path_factory.mktemp("second-clone-e2e")) as stack:
        second = copy_of_repository(tmp_path_factory.mktemp("second-clone"))
        api = Api(stack)
        hourly = api.request("GET", f"/deployments/{api.deployment_id('access-logs', 'access-logs-hourly')}").json()
        # as written: the worker's run fills in its project folder when it starts, `prefect deploy` filled in nothing
        assert hourly["pull_steps"] == deployment_definitions()["pull"]
        assert hourly["parameters"] == {"source": "data/landing"}

        stack.move_worker_to(second)
        landing = second / "data" / "landing"
        for sample in sorted((second / "data" / "sample_logs").iterdir()):
            shutil.copy2(sample, landing)
        run_id = api.run_deployment("access-logs", "access-logs-hourly", {})  # the deployment's relative paths

        run = api.finished(run_id)
        assert_completed(run)
        warehouse = second / "data" / "warehouse.duckdb"
        assert_matches_independent_computation(landing, warehouse)
        assert not stack.default_warehouse.exists(), "the run wrote into the deploying clone's warehouse"
        # the audit its completion starts runs on that warehouse too, through the same worker
        audit = api.triggered_run(
            "warehouse-audit", "warehouse-audit", lambda parameters: parameters.get("upstream_flow_run_id") == run_id
        )
        assert_completed(audit)
        assert query(
            warehouse, "select count(*), sum(violations) from meta.check_results where flow_run_id = ?", [audit["id"]]
        ) == [(len(warehouse_checks()), 0)]
        assert not stack.default_warehouse.exists()
