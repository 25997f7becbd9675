"""Run batchyard's deployments on this machine with one command: no work pool, no worker, no second definition.

    python deployments/serve.py [--prefect-file FILE] [--landing DIR]

Every deployment of the project (deployments/base.yaml and each pipeline's deployments.yaml, as
tasks/core/deployments.py puts them together; or those of a prefect.yaml given with --prefect-file) is served from
this process (cron schedules and event triggers included), and the landing watcher runs alongside, so a file
dropped into the landing folder starts the on-arrival deployment of the pipeline that claims it.
Ctrl-C or SIGTERM stops it all.

It needs a whole Prefect server. Prefect's temporary server, the one a flow starts when PREFECT_API_URL is unset,
runs the trigger services but not the scheduler, so cron schedules would never fire; and each flow run would start
a temporary server of its own. So with PREFECT_API_URL set, this serves against that server; without it, it starts
`prefect server start` on a free local port for as long as it runs (its UI address and pid are logged; only a
SIGKILL of this process leaves it running).

Flows run from the project folder, as a worker does after prefect.yaml's pull step, so relative paths in the
file mean the same here and there. The work pool and pull steps are the worker's business and are ignored.
"""

import argparse
from pathlib import Path

from tasks.core.settings import LANDING, SCAN_SECONDS
from tasks.kit.arguments import answer_early, seconds_between_scans


def command_line() -> argparse.ArgumentParser:
    """The command's arguments, built before the imports below: --help and a mistyped argument answer at once."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--prefect-file", type=Path, help="a prefect.yaml to serve instead of the project's deployments"
    )
    parser.add_argument(
        "--landing",
        type=Path,
        default=LANDING,
        help="folder the landing watcher watches (the deployments' parameters come from their definitions)",
    )
    parser.add_argument(
        "--interval",
        type=seconds_between_scans,
        default=SCAN_SECONDS,
        help="seconds between scans of the landing folder",
    )
    return parser


answer_early(__name__, command_line)

import asyncio
import atexit
import contextlib
import copy
import os
import signal
import subprocess
import sys
import threading
from typing import Any

import yaml

# Prefect's own converters: the ones `prefect deploy` applies to these very keys, so a served deployment cannot
# drift from a deployed one. They are private modules; pyproject pins prefect<3.10 and tests/test_serve.py
# converts every deployment, so a move shows up as a failing test, not as a wrong schedule.
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule
from prefect.cli.deploy._triggers import _initialize_deployment_triggers
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.context import refresh_global_settings_context
from prefect.deployments.runner import RunnerDeployment
from prefect.events import emit_event
from prefect.flows import load_flow_from_entrypoint
from prefect.logging import get_logger
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL
from prefect.utilities.templating import apply_values

from tasks.core.deployments import DeploymentsInvalid, deployment_definitions
from tasks.core.landing import LandedFile, LandingScanner, landed_event, watch
from tasks.core.settings import PROJECT_ROOT
from tasks.kit.cli import CommandRefused, exit_process, parse_command_line, prefect_api_problem, refuse
from tasks.kit.discovery import SourceUnavailable, check_source
from tasks.kit.local_server import LocalServerUnavailable, start_prefect_server
from tasks.pipelines import landings

# Keys of a prefect.yaml deployment that `flow.to_deployment` takes as they are, those converted to Prefect
# objects first, and those that only a worker uses. Any other key stops the command: serving without it would
# silently run something other than what `prefect deploy` deploys.
PASSED_AS_IS = {"description", "parameters", "tags", "version", "paused", "enforce_parameter_schema"}
CONVERTED = {"name", "entrypoint", "schedules", "triggers", "concurrency_limit"}
WORKER_ONLY = {"work_pool", "pull", "build", "push"}

# How long the server it started has to stop at exit before it is killed.
SERVER_STOP_SECONDS = 15

logger = get_logger("batchyard.serve")


class DeploymentFileError(Exception):
    """prefect.yaml has something this command cannot serve faithfully."""


class ServerUnavailable(Exception):
    """No Prefect server to serve against: the configured one does not answer, or ours did not start."""


def deployments_from_yaml(path: Path | None = None) -> list[RunnerDeployment]:
    """The deployments of a prefect.yaml (the project's own when `path` is None), as `flow.to_deployment` builds them
    (nothing is sent to a server).

    Entrypoints are relative to the project folder; `{{ $VAR }}` placeholders take environment values as
    `prefect deploy` gives them, while the triggers' `{{ event... }}` templates stay for the server to fill.
    """
    content = deployment_definitions() if path is None else yaml.safe_load(Path(path).read_text())
    path = path or "the project's deployments"
    specs = (content.get("deployments") if isinstance(content, dict) else None) or []
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise DeploymentFileError(f"{path}: `deployments` must be a list of deployments")
    deployments = []
    for spec in specs:
        try:
            deployments.append(deployment_from_spec(apply_values(spec, os.environ, remove_notset=False)))
        except DeploymentFileError:
            raise
        except Exception as error:  # Prefect refusing a schedule or a trigger, an entrypoint that does not load
            raise DeploymentFileError(f"deployment {spec.get('name', '<unnamed>')}: {error}") from error
    return deployments


def deployment_from_spec(spec: dict[str, Any]) -> RunnerDeployment:
    """One prefect.yaml deployment as a RunnerDeployment of its entrypoint's flow."""
    name = spec.get("name", "<unnamed>")
    unknown = set(spec) - PASSED_AS_IS - CONVERTED - WORKER_ONLY
    if unknown:
        raise DeploymentFileError(f"deployment {name}: serve.py does not handle {sorted(unknown)}")
    if "entrypoint" not in spec:
        raise DeploymentFileError(f"deployment {name}: no entrypoint")
    spec = copy.deepcopy(spec)  # Prefect's trigger converter fills in names in place
    schedules = spec.get("schedules")
    triggers = spec.get("triggers")
    concurrency_limit = spec.get("concurrency_limit")
    if isinstance(concurrency_limit, dict):
        concurrency_limit = ConcurrencyLimitConfig(**concurrency_limit)
    # From the project folder, as `prefect deploy` runs: the deployment's entrypoint comes out as written.
    with contextlib.chdir(PROJECT_ROOT):
        flow = load_flow_from_entrypoint(spec["entrypoint"])
        return flow.to_deployment(
            name=name,
            schedules=None if schedules is None else [_schedule_config_to_deployment_schedule(s) for s in schedules],
            triggers=None if triggers is None else _initialize_deployment_triggers(name, triggers),
            concurrency_limit=concurrency_limit,
            **{key: spec[key] for key in PASSED_AS_IS & set(spec)},
        )


def use_or_start_server() -> str:
    """The API URL to serve against: PREFECT_API_URL if set, else that of a server started here for this run."""
    if configured := PREFECT_API_URL.value():
        if problem := prefect_api_problem(configured):
            raise ServerUnavailable(problem)
        return configured
    api_url = start_local_server()
    # This process's threads and the flow-run processes the runner starts all read the URL from here.
    os.environ["PREFECT_API_URL"] = api_url
    refresh_global_settings_context()
    return api_url


def start_local_server() -> str:
    """Start `prefect server start` on a free local port and wait until it answers; it is stopped at exit."""
    # Registered before any Prefect client exists, so it runs after Prefect drains its event and log workers; the
    # server's own session keeps Ctrl-C to this process, which stops the runner first and the server last.
    try:
        server, api_url = start_prefect_server(
            # its banner goes nowhere; its warnings and errors reach this command's stderr
            subprocess.DEVNULL,
            None,
            on_started=lambda server: atexit.register(stop_local_server, server),
        )
    except LocalServerUnavailable as error:
        raise ServerUnavailable(str(error)) from error
    logger.info(
        "Prefect server started for this run (pid %s, stopped on exit); its UI: %s",
        server.pid,
        api_url.removesuffix("/api"),
    )
    return api_url


def stop_local_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=SERVER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def start_landing_watcher(landing: Path, interval_seconds: float, stopping: threading.Event) -> threading.Thread:
    """Announce each file that lands complete in `landing` as a `batchyard.file.landed` event, from a thread."""

    def announce(landed: LandedFile) -> None:
        if stopping.is_set():  # the server may be going away
            return
        emit_event(**landed_event(landed))
        logger.info("%s landed (%s bytes): event sent", landed.path, f"{landed.size_bytes:,}")

    def keep_watching() -> None:
        scanners = [LandingScanner(landing, claim.patterns, claim.pipeline) for claim in landings()]
        while not stopping.is_set():
            try:
                watch(scanners, announce, interval_seconds, scans=None)
            except Exception:  # e.g. a file moved away mid-scan: one bad scan must not end the watching
                logger.exception("Scanning %s failed; scanning again in %s s", landing, interval_seconds)
                stopping.wait(interval_seconds)

    watcher = threading.Thread(target=keep_watching, name="landing-watcher", daemon=True)
    watcher.start()
    return watcher


def serve(deployments: list[RunnerDeployment], landing: Path, interval_seconds: float) -> None:
    """Register the deployments, then watch the landing folder and run what is due until stopped.

    This is `prefect.serve` plus the watcher, which starts only once the deployments' triggers exist, so no
    announced file can go unnoticed.
    """
    runner = Runner(name="batchyard-serve")
    for deployment in deployments:
        runner.add_deployment(deployment)
        logger.info("Serving %s", deployment.name)
    stopping = threading.Event()
    start_landing_watcher(landing, interval_seconds, stopping)
    logger.info("Watching %s for access logs every %s s", landing, interval_seconds)
    try:
        asyncio.run(run_until_stopped(runner))
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        logger.info("Stopped")


async def run_until_stopped(runner: Runner) -> None:
    """Run the runner until Ctrl-C or SIGTERM, either of which stops it gracefully (in-flight runs are cancelled).

    `asyncio.run` sees Ctrl-C only when the signal lands on the main thread: here it usually lands on another
    (the watcher's, or one of Prefect's), and the idle event loop slept on through it. A loop signal handler
    wakes the loop whichever thread the signal lands on, and so also makes the runner's own SIGTERM handler
    reliable.
    """
    loop = asyncio.get_running_loop()
    stop_requested = False

    def stop() -> None:
        nonlocal stop_requested
        if stop_requested or not runner.started or runner.stopping:
            raise KeyboardInterrupt  # a second Ctrl-C, or one before the runner runs: unwind now
        stop_requested = True
        logger.info("Stopping: cancelling runs in flight, then the server (Ctrl-C again to hurry)")
        loop.create_task(runner.astop())

    for signum in (signal.SIGINT, signal.SIGHUP):  # Ctrl-C, or the terminal closing
        loop.add_signal_handler(signum, stop)
    await runner.start()  # installs its SIGTERM handler, which stops it the same way


def unwind(signum, frame) -> None:
    raise KeyboardInterrupt  # before the runner runs: unwind, so that the exit hooks stop the server


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked with the settings and the landing folder: anything bad stops it with one line and
    exit code 2, before a server is started. (The deployments are read afterwards: that loads every flow.)"""
    parser = command_line()
    # the Prefect API is checked by use_or_start_server: without PREFECT_API_URL this starts a server of its own
    args = parse_command_line(parser, argv, "serve", prefect=False)
    try:
        args.landing = args.landing.resolve()
        check_source(args.landing)
    except (SourceUnavailable, OSError, ValueError, RuntimeError) as error:  # ValueError: a NUL; RuntimeError: a loop
        refuse("serve", error)
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_arguments(argv)
    except CommandRefused as refused:
        return refused.say()
    landing = args.landing
    try:  # everything that can be checked fails here, before a server is started
        deployments = deployments_from_yaml(args.prefect_file and args.prefect_file.resolve())
    except (DeploymentFileError, DeploymentsInvalid, OSError, ValueError, yaml.YAMLError) as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, unwind)
    os.chdir(PROJECT_ROOT)  # where flow runs start, and where Prefect reads pyproject's [tool.prefect] settings
    try:
        use_or_start_server()
        serve(deployments, landing, args.interval)
    except ServerUnavailable as error:
        print(f"serve: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # stopped while the server was starting
        pass
    return 0


if __name__ == "__main__":
    exit_process(main())
