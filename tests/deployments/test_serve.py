"""deployments/serve.py: every deployment of the project is served as defined, and one command loads a file
dropped into the landing folder."""

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from warehouse_snapshot import query

from tasks.core.deployments import deployment_definitions

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_LOG = PROJECT_ROOT / "data" / "sample_logs" / "access-2026-10-01.log"
DEPLOYMENTS = deployment_definitions()["deployments"]

# deployments/ is a folder of files, not a package: load the script as CI would run it, by its path
_spec = importlib.util.spec_from_file_location("batchyard_serve", PROJECT_ROOT / "deployments" / "serve.py")
serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(serve)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """What serve.py would serve, by name, converted from a folder that is not the project's."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)
        return {deployment.name: deployment for deployment in serve.deployments_from_yaml()}


def by_name(function):
    return pytest.mark.parametrize("spec", DEPLOYMENTS, ids=[spec["name"] for spec in DEPLOYMENTS])(function)


def test_every_deployment_in_the_file_is_served_once(served):
    assert sorted(served) == sorted(spec["name"] for spec in DEPLOYMENTS)
    assert len(DEPLOYMENTS) == len(served)


@by_name
def test_the_entrypoint_description_and_parameters_are_those_of_the_file(served, spec):
    deployment = served[spec["name"]]

    assert deployment.entrypoint == spec["entrypoint"], "relative to the project folder, wherever serve.py started"
    assert deployment.description == spec["description"]
    assert deployment.parameters == spec.get("parameters", {})
    assert deployment.work_pool_name is None, "served runs start in the serving process, not on a worker"


@by_name
def test_cron_schedules_keep_their_time_zone(served, spec):
    schedules = served[spec["name"]].schedules

    assert [(s.schedule.cron, s.schedule.timezone) for s in schedules] == [
        (given["cron"], given["timezone"]) for given in spec.get("schedules", [])
    ]
    assert all(schedule.active for schedule in schedules)


@by_name
def test_event_triggers_keep_their_event_match_and_parameter_templates(served, spec):
    triggers = served[spec["name"]].triggers
    given = spec.get("triggers", [])

    assert len(triggers) == len(given)
    for trigger, written in zip(triggers, given, strict=True):
        assert trigger.type == written["type"] == "event"
        assert trigger.expect == set(written["expect"])
        assert trigger.match.model_dump() == written.get("match", {})
        assert trigger.match_related.model_dump() == written.get("match_related", {})
        assert trigger.parameters == written["parameters"], "templates left for the server to fill per event"
        assert trigger.enabled == written.get("enabled", True)
        for key in ("posture", "threshold"):
            if key in written:
                assert getattr(trigger, key) == written[key]
        if "within" in written:
            assert trigger.within.total_seconds() == written["within"]


@by_name
def test_concurrency_limits_are_copied_with_their_collision_strategy(served, spec):
    deployment = served[spec["name"]]
    given = spec.get("concurrency_limit")

    if isinstance(given, dict):
        assert deployment.concurrency_limit == given["limit"]
        assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy(
            given.get("collision_strategy", "ENQUEUE")
        )
    else:
        assert deployment.concurrency_limit == given
        assert deployment.concurrency_options is None


def write_prefect_file(folder: Path, deployment: dict) -> Path:
    path = folder / "prefect.yaml"
    path.write_text(yaml.safe_dump({"name": "batchyard", "deployments": [deployment]}))
    return path


def test_environment_placeholders_are_filled_as_prefect_deploy_does_and_event_templates_are_not(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHYARD_TEST_SOURCE", "/srv/logs")
    path = write_prefect_file(
        tmp_path,
        {
            "name": "templated",
            "entrypoint": "flows/access_logs.py:access_logs",
            "parameters": {"source": "{{ $BATCHYARD_TEST_SOURCE }}"},
            "triggers": [{"type": "event", "expect": ["x.happened"], "parameters": {"files": ["{{ event.id }}"]}}],
        },
    )

    (deployment,) = serve.deployments_from_yaml(path)

    assert deployment.parameters == {"source": "/srv/logs"}
    assert deployment.triggers[0].parameters == {"files": ["{{ event.id }}"]}


def test_a_deployment_key_serve_does_not_handle_stops_it_instead_of_being_dropped(tmp_path):
    path = write_prefect_file(
        tmp_path, {"name": "with-sla", "entrypoint": "flows/access_logs.py:access_logs", "sla": [{"name": "x"}]}
    )

    with pytest.raises(serve.DeploymentFileError, match=r"with-sla.*'sla'"):
        serve.deployments_from_yaml(path)


def test_a_schedule_prefect_refuses_names_its_deployment(tmp_path):
    path = write_prefect_file(
        tmp_path,
        {
            "name": "badly-timed",
            "entrypoint": "flows/access_logs.py:access_logs",
            "schedules": [{"cron": "every hour", "timezone": "UTC"}],
        },
    )

    with pytest.raises(serve.DeploymentFileError, match="deployment badly-timed: .*CronSchedule"):
        serve.deployments_from_yaml(path)


def test_prefects_temporary_server_runs_triggers_but_not_the_scheduler():
    """Why serve.py starts a whole server: should a Prefect upgrade schedule in temporary servers too, this fails
    and serve.py may go back to plain `prefect.serve`."""
    import prefect.server.services.scheduler  # noqa: F401  (registers the scheduler's services)
    from prefect.server.events.services.triggers import ReactiveTriggers
    from prefect.server.services.base import RunInEphemeralServers
    from prefect.server.services.perpetual_services import get_perpetual_services

    in_temporary_servers = {config.function.__name__ for config in get_perpetual_services(ephemeral=True)}
    everywhere_else = {config.function.__name__ for config in get_perpetual_services(ephemeral=False)}

    assert "schedule_deployments" in everywhere_else - in_temporary_servers
    assert issubclass(ReactiveTriggers, RunInEphemeralServers)


def test_the_command_refuses_a_missing_landing_folder_before_starting_anything(tmp_path, capsys):
    assert serve.main(["--landing", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")
        time.sleep(0.25)


@pytest.mark.slow
def test_one_command_loads_a_file_dropped_into_the_landing_folder_and_stops_cleanly(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    log = tmp_path / "serve.log"
    environment = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),  # a server of its own, on a database of its own
        "BATCHYARD_WAREHOUSE": str(warehouse),  # the flow's default, which the deployments do not override
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # how often the runner looks for triggered runs; 10 s by default
    }
    environment.pop("PREFECT_API_URL", None)  # the case at hand: no server running
    with log.open("w") as output:
        serving = subprocess.Popen(
            [sys.executable, "deployments/serve.py", "--landing", str(landing), "--interval", "1"],
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    landed = (landing / SAMPLE_LOG.name).resolve()
    processes = []
    try:
        wait_for(lambda: "Watching" in log.read_text() or serving.poll() is not None, 90, "the server to start")
        processes = psutil.Process(serving.pid).children(recursive=True)  # the server among them
        shutil.copy(SAMPLE_LOG, landed)
        # the run of this file logs its rows (an hourly run, should the test cross hh:05, has no file to log)
        wait_for(
            lambda: (
                re.search(r"Flow run '[^']+' - Finished in state", log.read_text().partition(f"{landed}: ")[2])
                or serving.poll() is not None
            ),
            60,
            "the triggered run to load the file and finish",
        )
        assert serving.poll() is None, log.read_text()

        serving.send_signal(signal.SIGTERM)
        assert serving.wait(timeout=30) == 0, log.read_text()
        psutil.wait_procs(processes, timeout=20)
        assert not [process for process in processes if process.is_running()], "the server outlived the command"
    finally:
        if serving.poll() is None:
            os.killpg(serving.pid, signal.SIGKILL)
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()

    batches = query(warehouse, "select source, status, rows_in from meta.batches")
    assert batches == [(str(landed), "loaded", len(SAMPLE_LOG.read_bytes().splitlines()))]
