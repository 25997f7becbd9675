"""Benchmark: the access-log pipeline over growing prefixes of one folder of daily logs, one run per prefix.

    python bench/access_logs_runs.py --data-dir DIR --files 99 99 100          # one warehouse: later runs add files
    python bench/access_logs_runs.py --data-dir DIR --files 3 9 30 --fresh     # each prefix in a new warehouse

The logs in DIR are not generated here: generate them first (data/generate_access_logs.py, e.g. `--size-mb 1000
--days 100 --seed 11` for one new file among 100, `--size-mb 10240 --days 30 --seed 7` for scale). Each run sees
the first N files of DIR by name (hard links in a folder of its own), against one real Prefect server; it is timed
end to end (wall and CPU time of the flow's process tree, peak RSS), and the server says how long its mart rebuild
(the `rebuild-marts` task) took. With the same warehouse, `--files 99 99 100` is a first run over 99 files, a re-run
with nothing new, and a run with one new file. Prints a table; exit status 2 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from access_logs import PrefectServer, RunResult, _base_env, flow_command, run_measured, tail

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from independent_access_logs import list_input_files  # noqa: E402


def rebuild_seconds(api_url: str) -> float | None:
    """The run time of the newest `rebuild-marts` task run the server knows of."""
    body = {"task_runs": {"name": {"like_": "rebuild-marts"}}, "sort": "EXPECTED_START_TIME_DESC", "limit": 1}
    request = urllib.request.Request(
        f"{api_url}/task_runs/filter",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        runs = json.loads(response.read())
    return runs[0].get("total_run_time") if runs else None


def link_prefix(files: list[Path], count: int, folder: Path) -> None:
    """Make `folder` hold hard links to exactly the first `count` of `files`."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {path.name: path for path in files[:count]}
    for present in folder.iterdir():
        if present.name not in wanted:
            present.unlink()
    for name, path in wanted.items():
        if not (folder / name).exists():
            os.link(path, folder / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="generated daily logs")
    parser.add_argument("--files", type=int, nargs="+", required=True, help="how many files each run sees")
    parser.add_argument("--fresh", action="store_true", help="a new warehouse for each run")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (warehouses, logs)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed for one run")
    args = parser.parse_args(argv)

    files = list_input_files(args.data_dir)
    if max(args.files) > len(files):
        raise SystemExit(f"{args.data_dir} holds {len(files)} log files, fewer than {max(args.files)}")
    work = Path(tempfile.mkdtemp(prefix="bench_access_logs_runs_", dir=args.data_dir.parent))
    server = PrefectServer(work / "prefect_home", work / "prefect_server.log")
    status = 0
    results: list[tuple[int, RunResult, float | None]] = []
    try:
        server.start()
        env = _base_env(server.home) | {"PREFECT_API_URL": server.api_url}
        for number, count in enumerate(args.files):
            place = work / (f"run-{number}" if args.fresh else "shared")
            link_prefix(files, count, place / "logs")
            command = flow_command(place / "logs", place / "warehouse.duckdb")
            run = run_measured(command, env, work / f"run-{number}.log", args.timeout)
            rebuild = rebuild_seconds(server.api_url)
            results.append((count, run, rebuild))
            print(
                f"{count} files: exit {run.returncode}, {run.seconds:.1f} s, CPU {run.cpu_seconds:.1f} s, "
                f"mart rebuild {rebuild if rebuild is None else round(rebuild, 2)} s, "
                f"peak RSS {run.peak_rss_bytes / 2**20:.0f} MiB",
                flush=True,
            )
            if run.returncode != 0:
                print(f"FAILED, last lines of {run.log}:\n{tail(run.log)}")
                status = 2
                break
    finally:
        server.stop()
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\n| files | wall s | CPU s | mart rebuild s | peak RSS MiB |\n|---:|---:|---:|---:|---:|")
    for count, run, rebuild in results:
        shown = "n/a" if rebuild is None else f"{rebuild:.2f}"
        print(f"| {count} | {run.seconds:.1f} | {run.cpu_seconds:.1f} | {shown} | {run.peak_rss_bytes / 2**20:.0f} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
