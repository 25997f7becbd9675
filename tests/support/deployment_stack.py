"""A real Prefect stack on loopback for end-to-end tests: `prefect server start`, a process work pool and worker,
`prefect deploy --all` from a fresh copy of the repository, and batchyard's landing watcher.

Every process runs in its own process group and is stopped, the whole group, when the stack is closed; each wait
is bounded and fails with what the processes logged.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from postgres_server import PostgresServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORK_POOL = "batchyard-process"

T = TypeVar("T")


def copy_of_repository(destination: Path) -> Path:
    """The files git tracks (and new files it would track), copied as a fresh clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = PROJECT_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, check: Callable[[], T | None], timeout_seconds: float, explain: Callable[[], str]) -> T:
    """Poll `check` until it returns something other than None or False; fail naming `what` and `explain()`."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        result = check()
        if result is not None and result is not False:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_seconds:.0f} s waiting for {what}\n{explain()}")


def server_on_postgres(database: PostgresServer, name: str) -> dict[str, str]:
    """The settings that put a Prefect server on a fresh database `name`, the way docs/operations.md says: the URL
    without the password, which asyncpg reads from PGPASSWORD."""
    database.fresh_database(name)
    url = database.url(name, with_password=False).replace("postgresql://", "postgresql+asyncpg://", 1)
    return {"PREFECT_API_DATABASE_CONNECTION_URL": url, "PGPASSWORD": database.password}


class PrefectStack:
    """Server, worker and watcher for one copy of the project; use as a context manager."""

    def __init__(self, root: Path, database: PostgresServer | None = None):
        """`database`: run the server on a fresh database of that PostgreSQL server rather than on SQLite in
        PREFECT_HOME."""
        self.root = root
        self.project = copy_of_repository(root / "project")
        self.logs = root / "logs"
        self.logs.mkdir()
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.environment = {
            **os.environ,
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_API_URL": self.api_url,
            # the UI asks the server which API to call; without this it answers port 4200
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # the worker asks for due runs every 10 s by default; tests should not idle that long
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            # the server's scheduler creates runs of new schedules every 60 s by default
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
            "BATCHYARD_PROJECT": str(self.project),
        }
        self.environment.pop("BATCHYARD_WAREHOUSE_WRITE_LIMIT", None)
        self.environment.pop("BATCHYARD_WAREHOUSE", None)
        if database is not None:
            self.environment |= server_on_postgres(database, f"prefect_{self.port}")
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_files: list = []

    def __enter__(self) -> "PrefectStack":
        try:
            self.start("server", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port))
            wait_for("the Prefect server to be healthy", self._healthy, 120, lambda: self.log_tail("server"))
            self.command("prefect", "work-pool", "create", WORK_POOL, "--type", "process")
            self.command("python", "deployments/build.py")
            self.command("prefect", "--no-prompt", "deploy", "--all", "--prefect-file", "deployments/prefect.yaml")
            self.start("worker", "prefect", "worker", "start", "--pool", WORK_POOL)
            wait_for("the worker to poll its pool", self._pool_ready, 60, lambda: self.log_tail("worker"))
            self.start(
                "watcher", "python", "flows/landing_watcher.py", "--landing", str(self.landing), "--interval", "1"
            )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def landing(self) -> Path:
        return self.project / "data" / "landing"

    @property
    def default_warehouse(self) -> Path:
        return self.project / "data" / "warehouse.duckdb"

    def start(self, name: str, program: str, *arguments: str, project: Path | None = None) -> None:
        """Start `program` in the stack's copy of the project, or in `project`, another copy."""
        project = project or self.project
        log = (self.logs / f"{name}.log").open("w")
        self.log_files.append(log)
        self.processes[name] = subprocess.Popen(
            [str(BIN / program), *arguments],
            cwd=project,
            env={**self.environment, "BATCHYARD_PROJECT": str(project)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops its children too
        )

    def command(self, program: str, *arguments: str) -> str:
        done = subprocess.run(
            [str(BIN / program), *arguments],
            cwd=self.project,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"{program} {' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- last lines of {name}.log ---\n" + "\n".join(text.splitlines()[-lines:])

    def explain(self) -> str:
        return "\n".join(self.log_tail(name) for name in ("worker", "watcher", "server"))

    def move_worker_to(self, project: Path) -> None:
        """Replace the stack's worker with one started in `project`, another copy of the repository, as an operator
        starts a worker in a second clone; its log replaces the first worker's."""
        self.stop("worker")
        self.start("worker", "prefect", "worker", "start", "--pool", WORK_POOL, project=project)
        wait_for("the moved worker to poll its pool", self._pool_ready, 60, lambda: self.log_tail("worker"))

    def _healthy(self) -> bool:
        if self.processes["server"].poll() is not None:
            raise AssertionError(f"the Prefect server exited\n{self.log_tail('server')}")
        try:
            return httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _pool_ready(self) -> bool:
        if self.processes["worker"].poll() is not None:
            raise AssertionError(f"the worker exited\n{self.log_tail('worker')}")
        return httpx.get(f"{self.api_url}/work_pools/{WORK_POOL}", timeout=5).json().get("status") == "READY"

    def close(self) -> None:
        """Stop the watcher and worker before the server (a worker needs the server to shut down cleanly)."""
        for name in ("watcher", "worker", "server"):
            self.stop(name)
        for log in self.log_files:
            log.close()

    def stop(self, name: str) -> None:
        """SIGINT to the process's group, then SIGKILL to whatever is left after a grace period."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        for stop, grace in ((signal.SIGINT, 10), (signal.SIGINT, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, stop)
            except ProcessLookupError:
                break
            try:
                process.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # children of a process that exited may linger
            os.killpg(process.pid, signal.SIGKILL)
