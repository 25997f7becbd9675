"""Every flow imports and is a Prefect flow; every deployment entrypoint resolves to one; schedules parse."""

import importlib
from pathlib import Path

import pytest
from prefect import Flow
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.client.schemas.schedules import CronSchedule
from prefect.events import DeploymentEventTrigger

from tasks.core.deployments import deployment_definitions

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# flows/status.py is a plain command that reads the warehouse (no Prefect flow, no deployment): it must answer when
# the Prefect server is down
COMMANDS = {"__init__.py", "status.py"}
FLOW_FILES = sorted(path for path in (PROJECT_ROOT / "flows").glob("*.py") if path.name not in COMMANDS)
DEPLOYMENTS = deployment_definitions()["deployments"]


def load_entrypoint(entrypoint: str):
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


@pytest.mark.parametrize("flow_file", FLOW_FILES, ids=[path.stem for path in FLOW_FILES])
def test_every_flow_module_imports_and_defines_a_flow(flow_file):
    module = importlib.import_module(f"flows.{flow_file.stem}")
    assert any(isinstance(value, Flow) for value in vars(module).values())


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[deployment["name"] for deployment in DEPLOYMENTS])
def test_every_deployment_resolves_to_a_flow_with_valid_schedules(deployment):
    flow = load_entrypoint(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    assert (PROJECT_ROOT / deployment["entrypoint"].split(":")[0]).is_file()
    for schedule in deployment.get("schedules", []):
        CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
    given = [deployment.get("parameters", {})] + [trigger["parameters"] for trigger in deployment.get("triggers", [])]
    for parameters in given:
        unknown = set(parameters) - set(flow.parameters.properties)
        assert not unknown, f"parameters the flow does not take: {unknown}"
        flow.validate_parameters(parameters)  # types: a templated value is a string, which str and Path accept
    for trigger in deployment.get("triggers", []):
        DeploymentEventTrigger(**{key: value for key, value in trigger.items() if key != "type"})
    limit = deployment.get("concurrency_limit")
    if limit is not None:
        ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else ConcurrencyLimitConfig(limit=limit)


def test_every_flow_has_a_deployment_and_runs_on_the_project_work_pool():
    deployed = {deployment["entrypoint"].split(":")[0] for deployment in DEPLOYMENTS}
    standalone = {"flows/landing_watcher.py"}  # a long-running command, started beside the worker
    assert deployed | standalone == {f"flows/{path.name}" for path in FLOW_FILES}
    assert {deployment["work_pool"]["name"] for deployment in DEPLOYMENTS} == {"batchyard-process"}
