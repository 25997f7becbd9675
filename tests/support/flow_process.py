"""Running a flow's command (access logs unless told) as a separate process against the test session's Prefect
server."""

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil
from prefect.settings import PREFECT_API_URL

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def flow_command(source: Path, warehouse: Path, *extra: str, flow: str = "access_logs") -> list[str]:
    return [sys.executable, f"flows/{flow}.py", "--source", str(source), "--warehouse", str(warehouse), *extra]


def flow_environment(**settings: str) -> dict[str, str]:
    """The environment of this process with `settings` (BATCHYARD_STAGING=...), pointed at the Prefect server the
    session's harness started, without the server's write turn: the harness runs its server in Prefect's ephemeral
    mode, which has no lease repossessor, so the slot of a run these tests kill would never come back. The end-to-end
    tests use a real server."""
    return {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "BATCHYARD_WAREHOUSE_WRITE_LIMIT": "", **settings}


def start_flow(
    source: Path, warehouse: Path, *extra: str, flow: str = "access_logs", settings: dict[str, str] | None = None
) -> subprocess.Popen:
    return subprocess.Popen(
        flow_command(source, warehouse, *extra, flow=flow),
        cwd=PROJECT_ROOT,
        env=flow_environment(**settings or {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_flow_process(
    source: Path, warehouse: Path, *extra: str, flow: str = "access_logs", settings: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        flow_command(source, warehouse, *extra, flow=flow),
        cwd=PROJECT_ROOT,
        env=flow_environment(**settings or {}),
        capture_output=True,
        text=True,
        timeout=900,
    )


def generate_logs(out: Path, size_mb: float, seed: int, *extra: str) -> Path:
    return _generate("data/generate_access_logs.py", out, seed, "--size-mb", str(size_mb), *extra)


def generate_corpus(out: Path, size_mb: float, seed: int, files: int) -> Path:
    return _generate("data/generate_corpus.py", out, seed, "--size-mb", str(size_mb), "--files", str(files))


def generate_sales(out: Path, days: int, customers: int, orders_per_day: int, seed: int) -> Path:
    sizes = ("--days", str(days), "--customers", str(customers), "--orders-per-day", str(orders_per_day))
    return _generate("data/generate_sales.py", out, seed, *sizes)


def _generate(script: str, out: Path, seed: int, *arguments: str) -> Path:
    """Run one of the project's data generators, which are commands rather than modules."""
    command = [sys.executable, script, "--out", str(out), "--seed", str(seed), *arguments]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True, capture_output=True)
    return out


def peak_rss_while_running(process: subprocess.Popen, every_seconds: float = 0.1) -> int:
    """Wait for `process`, sampling the resident memory of it and its children; return the peak in bytes."""
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(member.memory_info().rss for member in tree))
        except psutil.NoSuchProcess:
            pass
        time.sleep(every_seconds)
    return peak


def rss_growth_while(work: Callable[[], T], every_seconds: float = 0.02) -> tuple[T, int]:
    """Run `work` in this process, sampling its resident memory meanwhile; return its result and how far the
    memory rose above where it started, in bytes."""
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(every_seconds):
            peak = max(peak, process.memory_info().rss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, peak - baseline
