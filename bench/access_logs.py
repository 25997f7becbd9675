"""Benchmark: the access-log pipeline against plain hand-written DuckDB SQL over the same files.

    python bench/access_logs.py --size-mb 50 [--mix browsing|bot-heavy] [--data-dir DIR] [--seed 7] [--days N] [--keep]

One run:
1. generates N MiB of logs with data/generate_access_logs.py (or reuses DIR when it already holds the logs
   this script generated there with the same size, seed, days and generator source);
2. times the plain DuckDB query (tests/support/independent_access_logs.sql through compute_expected), marts and
   sessions, wall and CPU time;
3. starts a real Prefect server (``prefect server start`` on a free local port, PREFECT_HOME in a temp
   dir, analytics off), runs ``python flows/access_logs.py --source DIR --warehouse <tmp>/warehouse.duckdb``
   against it, timing it end to end (wall and CPU) and sampling the RSS of its whole process tree; then stops the
   server;
4. runs the pipeline on a tiny input with the server and without PREFECT_API_URL (Prefect then starts its own
   temporary server) to show the fixed cost of a run;
5. compares logs.hourly, logs.daily, logs.top_paths, logs.sessions and logs.sessions_daily with the plain query's
   results (and the row counts of logs.requests and meta.rejects with the well-formed and rejected line counts),
   printing MATCH or the differences, then a summary table.

Exit status: 0 when everything matches, 1 on differences, 2 when a run failed.
Uses only the standard library, duckdb, polars and psutil.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import psutil

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "data" / "generate_access_logs.py"
FLOW = REPO / "flows" / "access_logs.py"
PYTHON = sys.executable
PREFECT = str(Path(sys.executable).with_name("prefect"))
MARKER = ".bench_access_logs.json"

sys.path.insert(0, str(REPO / "tests" / "support"))
import independent_access_logs as reference  # noqa: E402

# A handful of lines for the fixed-cost runs: 4 well-formed, 1 rejected.
TINY_LINES = [
    '10.0.0.1 - - [01/Oct/2026:10:00:00 +0200] "GET /index.html HTTP/1.1" 200 512 "-" "bench/1.0"',
    '10.0.0.2 - - [01/Oct/2026:10:00:01 +0200] "GET /about?x=1 HTTP/1.1" 404 - "-" "bench/1.0"',
    '10.0.0.1 - - [01/Oct/2026:10:00:02 +0200] "POST /api/items HTTP/1.1" 201 20 "-" "bench/1.0"',
    '10.0.0.3 - - [01/Oct/2026:10:00:03 +0200] "GET / HTTP/2.0" 500 0 "-" "bench/1.0"',
    '10.0.0.3 - - [31/Apr/2026:10:00:03 +0200] "GET / HTTP/2.0" 500 0 "-" "bench/1.0"',
]

TINY_OPTIONS = ("--max-reject-rate", "0.5")  # a fifth of the tiny input is its one reject

MART_QUERIES = {
    "hourly": "SELECT hour, requests, bytes, status_4xx, status_5xx FROM logs.hourly ORDER BY hour",
    "daily": "SELECT day, requests, distinct_clients FROM logs.daily ORDER BY day",
    "top_paths": "SELECT day, rank, path, requests FROM logs.top_paths ORDER BY day, rank",
    "sessions": "SELECT * EXCLUDE (gap_minutes) FROM logs.sessions ORDER BY client, user_agent, start_utc",
    "sessions_daily": "SELECT * FROM logs.sessions_daily ORDER BY day",
}
# Averages are summed in whatever order each engine's threads meet the rows: equal to this many decimals.
AVERAGE_DECIMALS = 9


# ------------------------------------------------------------------------------------------------ data


def flow_command(source: Path, warehouse: Path, *options: str) -> list[str]:
    return [PYTHON, str(FLOW), "--source", str(source), "--warehouse", str(warehouse), *options]


def _log_files(directory: Path) -> list[Path]:
    return reference.list_input_files(directory) if directory.is_dir() else []


def prepare_data(directory: Path, size_mb: float, seed: int, days: int | None, mix: str) -> str:
    """Make sure directory holds the generated logs; return "reused" or "generated"."""
    if not GENERATOR.is_file():
        raise SystemExit(f"{GENERATOR} does not exist yet")
    cmd = [PYTHON, str(GENERATOR), "--out", str(directory), "--size-mb", str(size_mb), "--seed", str(seed)]
    cmd += ["--mix", mix]
    if days is not None:
        cmd += ["--days", str(days)]
    wanted = {"size_mb": size_mb, "seed": seed, "days": days, "mix": mix}
    return prepare_generated(directory, GENERATOR, wanted, cmd, _log_files, directory / MARKER)


def prepare_generated(
    directory: Path, generator: Path, wanted: dict, command: list[str], list_files, marker: Path
) -> str:
    """Make sure `directory` holds what `command` (running `generator`) generates for the arguments `wanted`;
    return "reused" or "generated". A marker file records the arguments, the generator's hash and the files, so a
    later run reuses them; only files a run of this script generated are ever replaced, since anything else in the
    folder would be read by the contenders too."""
    wanted = {**wanted, "generator_sha256": hashlib.sha256(generator.read_bytes()).hexdigest()}
    previous = None
    if marker.is_file():
        with contextlib.suppress(ValueError, OSError):
            previous = json.loads(marker.read_text())
    present = {p.name: p.stat().st_size for p in list_files(directory)}
    if previous and previous.get("args") == wanted and previous.get("files") == present:
        return "reused"
    ours = set(previous.get("files", {})) if previous else set()
    others = [p.name for p in list_files(directory) if p.name not in ours]
    if others:
        raise SystemExit(
            f"{directory} holds input files this benchmark did not generate ({', '.join(others[:3])}...); "
            "use an empty or new folder"
        )
    for name in ours:
        (directory / name).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    print("generating:", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    print(f"generated in {time.perf_counter() - started:.0f} s", flush=True)
    marker.write_text(json.dumps({"args": wanted, "files": {p.name: p.stat().st_size for p in list_files(directory)}}))
    return "generated"


def uncompressed_bytes(files: list[Path]) -> int:
    total = 0
    for p in files:
        if p.name.endswith(".gz"):
            with gzip.open(p, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    total += len(chunk)
        else:
            total += p.stat().st_size
    return total


# ------------------------------------------------------------------------------------------- processes


@dataclass
class RunResult:
    seconds: float
    returncode: int
    peak_rss_bytes: int
    log: Path
    cpu_seconds: float = 0.0  # user + system of the process and the children it waited for


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def _own_peak_rss(pid: int) -> int:
    """The process's own peak RSS so far (VmHWM), which the kernel keeps between samples; 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    kib = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(kib.group(1)) * 1024 if kib else 0


# The sampler's own CPU: every 20 ms it took ~0.04 of a core, which a contender keeping both cores busy loses.
RSS_SAMPLE_SECONDS = 0.1


class PeakRss(threading.Thread):
    """Samples a process tree's summed RSS every RSS_SAMPLE_SECONDS, and the process's own peak (VmHWM, which no
    sample can miss), until stopped; kills the process once past `deadline` (a perf_counter time)."""

    def __init__(self, proc: subprocess.Popen, deadline: float):
        super().__init__(daemon=True)
        self.proc, self.deadline, self.peak = proc, deadline, 0
        self._stopped = threading.Event()

    def run(self) -> None:
        ps = psutil.Process(self.proc.pid)
        while not self._stopped.is_set():
            self.peak = max(self.peak, _tree_rss(ps), _own_peak_rss(self.proc.pid))
            if time.perf_counter() > self.deadline:
                self.proc.kill()
                return
            self._stopped.wait(RSS_SAMPLE_SECONDS)

    def stop(self) -> int:
        self._stopped.set()
        self.join()
        return self.peak


def run_measured(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> RunResult:
    """Run cmd; wall time (to its exit, waited for), exit code and peak RSS (see PeakRss).

    Not the kernel's ru_maxrss: on Linux it includes the child's copy of this process between fork and exec,
    and this process holds the plain query's memory, which made every pipeline look ~1.2 GB."""
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        sampler = PeakRss(proc, started + timeout)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        peak = sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return RunResult(seconds, proc.returncode, peak, log, usage.ru_utime + usage.ru_stime)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["PREFECT_HOME"] = str(prefect_home)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    # a run without PREFECT_API_URL uses Prefect's own temporary server: the local server it would start otherwise
    # outlives the benchmark (every bench/ script builds its environments here)
    env["BATCHYARD_LOCAL_SERVER"] = "off"
    return env


class PrefectServer:
    """``prefect server start`` as a subprocess in its own process group."""

    def __init__(self, home: Path, log: Path):
        self.home = home
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.started_in = 0.0

    def start(self, timeout: float = 180.0) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        started = time.perf_counter()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                env=_base_env(self.home),
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.proc.returncode}:\n{tail(self.log)}")
            if time.perf_counter() - started > timeout:
                self.stop()
                raise RuntimeError(f"prefect server not healthy after {timeout:.0f} s:\n{tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.started_in = time.perf_counter() - started

    def stop(self) -> int | None:
        """SIGINT, then SIGTERM, then SIGKILL to the server's process group; returns its exit code."""
        if self.proc is None:
            return None
        for sig, grace in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        # Anything left in the group (workers that outlived the leader).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------- checks


def _frame_differences(name: str, actual: pl.DataFrame, expected: pl.DataFrame, show: int = 5) -> list[str]:
    out = []
    actual, expected = (frame.with_columns(pl.col(pl.Float64).round(AVERAGE_DECIMALS)) for frame in (actual, expected))
    if actual.schema != expected.schema:
        out.append(f"{name}: schema {dict(actual.schema)} != expected {dict(expected.schema)}")
        if actual.columns != expected.columns:
            return out
        with contextlib.suppress(Exception):
            actual = actual.cast(expected.schema)
    if actual.equals(expected):
        return out
    out.append(f"{name}: {actual.height} rows, expected {expected.height}")
    only_actual = actual.join(expected, on=actual.columns, how="anti", nulls_equal=True)
    only_expected = expected.join(actual, on=actual.columns, how="anti", nulls_equal=True)
    for label, frame in (("only in pipeline", only_actual), ("only in plain query", only_expected)):
        if frame.height:
            out.append(f"  {label} ({frame.height} rows), first {min(show, frame.height)}:")
            out.extend(f"    {row}" for row in frame.head(show).rows())
    if not only_actual.height and not only_expected.height:
        out.append("  same rows, different order or multiplicity")
    return out


def count_lines(files: list[Path]) -> int:
    total = 0
    for path in files:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as stream:
            while block := stream.read(1 << 24):
                total += block.count(b"\n")
    return total


def check_accounting(warehouse: Path, lines: int) -> list[str]:
    """What is wrong with the ledger of a run over `lines` lines: every line in, loaded or rejected, once."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows_in, loaded, rejected = con.sql(
            "select sum(rows_in), sum(rows_loaded), sum(rows_rejected) from meta.batches where status = 'loaded'"
        ).fetchone()
        requests = con.sql("select count(*) from logs.requests").fetchone()[0]
        rejects = con.sql("select count(*) from meta.rejects").fetchone()[0]
    finally:
        con.close()
    differences = [] if rows_in == lines else [f"rows in {rows_in}, the files hold {lines} lines"]
    differences += [] if rows_in == loaded + rejected else [f"rows in {rows_in} != {loaded} loaded + {rejected}"]
    differences += [] if requests == loaded else [f"logs.requests holds {requests} rows, {loaded} loaded"]
    differences += [] if rejects == rejected else [f"meta.rejects holds {rejects} rows, {rejected} rejected"]
    return differences


def compare_warehouse(warehouse: Path, expected: dict[str, pl.DataFrame]) -> list[str]:
    differences = []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        for name, sql in MART_QUERIES.items():
            try:
                actual = con.sql(sql).pl()
            except duckdb.Error as exc:
                differences.append(f"{name}: cannot read ({exc})")
                continue
            differences += _frame_differences(name, actual, expected[name])
        per_file = expected["per_file"]
        for table, column in (("logs.requests", "well_formed"), ("meta.rejects", "rejected")):
            want = int(per_file[column].sum())
            try:
                got = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            except duckdb.Error as exc:
                differences.append(f"{table}: cannot read ({exc})")
                continue
            if got != want:
                differences.append(f"{table}: {got} rows, expected {want} ({column} lines)")
    finally:
        con.close()
    return differences


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, required=True, help="MiB of uncompressed logs to generate")
    parser.add_argument("--data-dir", type=Path, help="logs to generate or reuse (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.add_argument("--days", type=int, help="generator --days (default: the generator's)")
    parser.add_argument(
        "--mix",
        choices=("browsing", "bot-heavy"),
        default="browsing",
        help="generator --mix: visitors browsing several pages, or bot-heavy: most visitors make one request",
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="skip the plain query (for inputs too big for it): check the ledger accounts for every line instead",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (data, warehouse, logs)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for one pipeline run")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_access_logs_"))
    data_dir = args.data_dir.resolve() if args.data_dir else work / "logs"
    data_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    server: PrefectServer | None = None
    try:
        how = prepare_data(data_dir, args.size_mb, args.seed, args.days, args.mix)
        files = _log_files(data_dir)
        input_bytes = uncompressed_bytes(files)
        disk_bytes = sum(p.stat().st_size for p in files)
        print(
            f"data: {data_dir} ({how}): {len(files)} files, {input_bytes / 2**20:.1f} MiB uncompressed, "
            f"{disk_bytes / 2**20:.1f} MiB on disk",
            flush=True,
        )

        # 1. the plain query
        expected: dict[str, pl.DataFrame] | None = None
        if args.pipeline_only:
            lines = count_lines(files)
        else:
            reader, why = reference.choose_reader(files)
            if why:
                print(f"note: {why}; the plain query reads lines through Python instead of read_csv")
            started, cpu_started = time.perf_counter(), _own_cpu_seconds()
            expected = reference.compute_expected(data_dir, reader=reader, sessions=True)
            plain_seconds = time.perf_counter() - started
            plain_cpu = _own_cpu_seconds() - cpu_started
            lines = int(expected["per_file"]["lines"].sum())
            print(
                f"plain DuckDB query: {plain_seconds:.2f} s (CPU {plain_cpu:.1f} s), {lines} lines "
                f"({int(expected['per_file']['rejected'].sum())} rejected), {expected['sessions'].height} sessions",
                flush=True,
            )

        # 2. a real Prefect server
        server = PrefectServer(work / "prefect_home", work / "prefect_server.log")
        server.start()
        print(f"prefect server: healthy at {server.api_url} after {server.started_in:.1f} s", flush=True)

        pipeline: RunResult | None = None
        tiny_with_server: RunResult | None = None
        tiny_without_server: RunResult | None = None
        tiny_dir = work / "tiny"
        tiny_dir.mkdir()
        (tiny_dir / "tiny.log").write_text("\n".join(TINY_LINES) + "\n")
        if FLOW.is_file():
            env = _base_env(server.home)
            env["PREFECT_API_URL"] = server.api_url
            warehouse = work / "warehouse.duckdb"
            cmd = flow_command(data_dir, warehouse)
            print("pipeline:", " ".join(cmd[1:]), flush=True)
            pipeline = run_measured(cmd, env, work / "pipeline.log", args.timeout)
            print(f"pipeline: exit {pipeline.returncode} after {pipeline.seconds:.2f} s", flush=True)
            cmd = flow_command(tiny_dir, work / "tiny_server.duckdb", *TINY_OPTIONS)
            tiny_with_server = run_measured(cmd, env, work / "tiny_server.log", args.timeout)
        else:
            print(f"pipeline: {FLOW.relative_to(REPO)} does not exist yet; skipping the pipeline runs")
        code = server.stop()
        print(f"prefect server: stopped (exit {code})", flush=True)
        server = None

        if FLOW.is_file():
            # 3. fixed cost without a server: Prefect starts a temporary one for the run. It uses the stopped
            # server's PREFECT_HOME, whose database is already migrated, as a user's home would be: in a
            # fresh home the migrations alone can outlast Prefect's startup timeout for temporary servers.
            env = _base_env(work / "prefect_home")
            cmd = flow_command(tiny_dir, work / "tiny_temp.duckdb", *TINY_OPTIONS)
            tiny_without_server = run_measured(cmd, env, work / "tiny_temporary.log", args.timeout)

        # 4. compare
        failed = [r for r in (pipeline, tiny_with_server, tiny_without_server) if r and r.returncode != 0]
        for r in failed:
            print(f"\nFAILED run (exit {r.returncode}), last lines of {r.log}:\n{tail(r.log)}")
            status = 2
        if pipeline is not None and pipeline.returncode == 0 and expected is None:
            differences = check_accounting(work / "warehouse.duckdb", lines)
            print("\n".join(["\nACCOUNTING DIFFERS:", *differences]) if differences else "\nACCOUNTED: every line")
            status = max(status, 1 if differences else 0)
        elif pipeline is not None and pipeline.returncode == 0:
            differences = compare_warehouse(work / "warehouse.duckdb", expected)
            if differences:
                print("\nDIFFERENCES between the pipeline's marts and the plain query:")
                print("\n".join(differences))
                status = max(status, 1)
            else:
                print(
                    "\nMATCH: logs.hourly, logs.daily, logs.top_paths, logs.sessions and logs.sessions_daily equal "
                    "the plain query's results; logs.requests and meta.rejects have the expected row counts"
                )

        # 5. summary
        def cell(run: RunResult | None, fmt: str = "{:.2f}") -> str:
            return "n/a" if run is None else fmt.format(run.seconds)

        rows = [
            ("input MiB (uncompressed)", f"{input_bytes / 2**20:.1f}"),
            ("input lines", f"{lines}"),
            ("traffic mix", args.mix),
        ]
        if expected is not None:
            rows += [
                ("sessions", f"{expected['sessions'].height}"),
                ("plain DuckDB query s", f"{plain_seconds:.2f}"),
                ("plain DuckDB query CPU s", f"{plain_cpu:.1f}"),
                ("plain query lines/s", f"{lines / plain_seconds:,.0f}"),
            ]
        rows += [
            ("pipeline s (server)", cell(pipeline)),
            ("pipeline CPU s", "n/a" if pipeline is None else f"{pipeline.cpu_seconds:.1f}"),
        ]
        if expected is not None:
            rows += [
                ("pipeline / plain", "n/a" if pipeline is None else f"{pipeline.seconds / plain_seconds:.2f}x"),
                ("pipeline / plain, CPU", "n/a" if pipeline is None else f"{pipeline.cpu_seconds / plain_cpu:.2f}x"),
            ]
        rows += [
            ("pipeline lines/s", "n/a" if pipeline is None else f"{lines / pipeline.seconds:,.0f}"),
            (
                "pipeline peak RSS MiB",
                "n/a" if pipeline is None else f"{pipeline.peak_rss_bytes / 2**20:.0f}",
            ),
            ("tiny run s, with server", cell(tiny_with_server)),
            ("tiny run s, no server (temporary)", cell(tiny_without_server)),
        ]
        width = max(len(k) for k, _ in rows)
        print()
        for key, value in rows:
            print(f"{key:<{width}}  {value:>14}")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"\nkept: {work}" + ("" if args.data_dir else f" (logs in {data_dir})"))
        else:
            shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
