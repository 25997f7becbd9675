"""A Dask cluster started the way operators start one: `dask scheduler` and `dask worker` commands as separate
processes on loopback, each in a working directory and an environment of its own (as if on separate machines), sharing
only the staging folder and the Prefect server."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from distributed import Client

DASK = str(Path(sys.executable).with_name("dask"))
START_SECONDS = 60


@dataclass
class DaskCluster:
    """A scheduler and its workers under `root` (one folder each, with its log); stop() ends every process."""

    root: Path
    prefect_api_url: str
    staging: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    started: list[psutil.Process] = field(default_factory=list)  # each process and its children, to prove them gone

    @property
    def address(self) -> str:
        return json.loads((self.root / "scheduler" / "scheduler.json").read_text())["address"]

    def start(self, workers: int) -> "DaskCluster":
        """The scheduler on a port of its choosing (it writes it into its address file), then `workers` workers."""
        address_file = self.root / "scheduler" / "scheduler.json"
        scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(address_file)]
        self._start("scheduler", [*scheduler, "--no-dashboard"])
        deadline = time.monotonic() + START_SECONDS
        while not address_file.exists():
            if time.monotonic() > deadline or self.processes["scheduler"].poll() is not None:
                raise TimeoutError(f"the Dask scheduler did not start: {self.log('scheduler')[-2000:]}")
            time.sleep(0.1)
        for number in range(1, workers + 1):
            self.add_worker(f"worker-{number}")
        self.wait_for_workers(workers)
        return self

    def add_worker(self, name: str) -> None:
        """One `dask worker` command (its nanny and one worker process of one thread) in a folder of its own."""
        command = [DASK, "worker", self.address, "--name", name, "--host", "127.0.0.1", "--nworkers", "1"]
        folder = self.root / name
        self._start(name, [*command, "--nthreads", "1", "--no-dashboard", "--local-directory", str(folder / "dask")])

    def wait_for_workers(self, count: int) -> None:
        with Client(self.address, timeout=START_SECONDS) as client:
            client.wait_for_workers(count, timeout=START_SECONDS)

    def worker_process(self, name: str) -> psutil.Process:
        """The process that runs `name`'s tasks, as the kernel's OOM killer would pick it: the child its nanny spawned
        (beside multiprocessing's resource tracker)."""
        children = psutil.Process(self.processes[name].pid).children()
        return next(child for child in children if "spawn_main" in " ".join(child.cmdline()))

    def log(self, name: str) -> str:
        return (self.root / name / "log").read_text()

    def log_marks(self) -> dict[str, int]:
        """How far each process's log goes now, for `worker_logs_since`."""
        return {name: len(self.log(name)) for name in self.processes}

    def worker_logs_since(self, marks: dict[str, int]) -> str:
        """What the workers logged after `marks`: Prefect's line for each task run they ran among it."""
        return "".join(self.log(name)[marks[name] :] for name in self.processes if name != "scheduler")

    def _start(self, name: str, command: list[str]) -> None:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": str(folder),
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_API_URL": self.prefect_api_url,
            "BATCHYARD_STAGING": str(self.staging),
        }
        with open(folder / "log", "w") as log:
            process = subprocess.Popen(command, cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process

    def stop(self) -> None:
        """SIGTERM every process (workers first, then the scheduler), SIGKILL what is left after a while."""
        for name in sorted(self.processes, key=lambda name: name == "scheduler"):
            process = self.processes[name]
            with contextlib.suppress(psutil.NoSuchProcess):
                command = psutil.Process(process.pid)
                self.started.extend([command, *command.children(recursive=True)])
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _, alive = psutil.wait_procs(self.started, timeout=10)
        for leftover in alive:
            leftover.kill()

    def running(self) -> list[psutil.Process]:
        """The cluster's processes still running (none once stopped)."""
        return [process for process in self.started if _running(process)]


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
