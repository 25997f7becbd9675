"""A local Prefect server that outlives a command's run, so that local runs start at once and stay browsable.

Without PREFECT_API_URL, a flow would start Prefect's temporary server for its own run: 15-30 s of start-up every
time, and the run's page is gone when it ends. Instead a command (python flows/<name>.py) uses the project's local
server: the one recorded in PREFECT_HOME that still answers, or one started now (`prefect server start` on a free
local port, in its own session, with its log beside the record), which stays up for later runs until it is stopped.
Each run prints one line saying which, with the UI's address and how to stop it.

BATCHYARD_LOCAL_SERVER=off keeps Prefect's temporary server per run (the tests set it: nothing long-lived is left
behind); a set PREFECT_API_URL always wins.
"""

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from prefect.context import refresh_global_settings_context
from prefect.settings import PREFECT_API_URL, PREFECT_HOME

from tasks.core.errors import PermanentError
from tasks.core.settings import LOCAL_SERVER

STARTUP_SECONDS = 120  # a first start creates the server's database: tens of seconds on a busy machine


class LocalServerUnavailable(PermanentError):
    """The local Prefect server could not be started."""


def record_path() -> Path:
    """Where the local server is recorded: beside the database it serves, in PREFECT_HOME."""
    return Path(PREFECT_HOME.value()).expanduser() / "batchyard-local-server.json"


def is_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_local_server(say=print) -> str | None:
    """Point this process at the project's local Prefect server, started now if none answers, and say so in one
    line; None (and nothing changes) when PREFECT_API_URL is set or BATCHYARD_LOCAL_SERVER is off."""
    if PREFECT_API_URL.value() or not LOCAL_SERVER:
        return None
    with _starting_one_at_a_time():
        recorded = _read_record()
        if recorded and is_healthy(recorded["api_url"]):
            server, started = recorded, False
        else:
            say(
                "Starting a local Prefect server for this and later runs (once; it takes up to a minute the first "
                "time)..."
            )
            server, started = _start(), True
    ui = server["api_url"].removesuffix("/api")
    say(
        f"{'Started' if started else 'Using'} the local Prefect server: UI {ui} (pid {server['pid']}, log "
        f"{server['log']}); it stays up for later runs: stop it with kill {server['pid']}"
    )
    os.environ["PREFECT_API_URL"] = server["api_url"]  # the flow's process and any it starts read it from here
    refresh_global_settings_context()
    return server["api_url"]


@contextmanager
def _starting_one_at_a_time():
    """Two commands started at once agree on one server."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_record() -> dict | None:
    try:
        recorded = json.loads(record_path().read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) and {"api_url", "pid", "log"} <= set(recorded) else None


def start_prefect_server(stdout, stderr, on_started=lambda server: None) -> tuple[subprocess.Popen, str]:
    """`prefect server start` on a free local port, in its own session (Ctrl-C in the terminal does not reach it),
    writing to `stdout` and `stderr`; returns it and its API URL once it answers. `on_started` hears of it at once, before the
    wait (e.g. to stop it at exit). LocalServerUnavailable, with the server stopped, when it exits first or does not
    answer within STARTUP_SECONDS."""
    port = free_local_port()
    api_url = f"http://127.0.0.1:{port}/api"
    environment = {**os.environ, "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    server = subprocess.Popen(
        # --no-prompt: `server start` may otherwise offer to change the user's Prefect profile
        [sys.executable, "-m", "prefect", "--no-prompt", "server", "start", "--log-level", "WARNING"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    on_started(server)
    deadline = time.monotonic() + STARTUP_SECONDS
    while server.poll() is None and not is_healthy(api_url):
        if time.monotonic() > deadline:
            server.send_signal(signal.SIGTERM)
            raise LocalServerUnavailable(
                f"the Prefect server did not answer within {STARTUP_SECONDS} s (is another server still using the "
                "database in PREFECT_HOME?)"
            )
        time.sleep(0.2)
    if server.poll() is not None:  # e.g. the port was taken meanwhile: then whatever answered is not ours
        raise LocalServerUnavailable(f"the Prefect server exited with code {server.returncode} before it answered")
    return server, api_url


def _start() -> dict:
    log = record_path().with_suffix(".log")
    with log.open("ab") as output:
        try:
            server, api_url = start_prefect_server(output, output)
        except LocalServerUnavailable as error:
            raise LocalServerUnavailable(
                f"{error} (see {log}); set PREFECT_API_URL to a running server, or BATCHYARD_LOCAL_SERVER=off for "
                "a temporary one per run"
            ) from error
    recorded = {"api_url": api_url, "pid": server.pid, "log": str(log)}
    record_path().write_text(json.dumps(recorded))
    return recorded
