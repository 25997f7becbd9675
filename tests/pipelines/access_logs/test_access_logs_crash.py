"""Exactly once under crashes: a run killed with SIGKILL at any moment, then run again, leaves the warehouse
identical to one clean run; so does a run killed while it loads the lines appended to logs it loaded before."""

import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
from flow_process import generate_logs, run_flow_process, start_flow
from warehouse_snapshot import query, snapshot

from tasks.core.settings import staging_root_for
from tasks.core.staging import MANIFEST
from tasks.pipelines.access_logs.source import ACCESS_LOG_FORMAT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

# Where in a run to kill it, as fractions of a clean run's duration: start-up and discovery, staging, loading,
# and the mart rebuild at the end all get hit across these.
KILL_POINTS = (0.35, 0.55, 0.7, 0.85, 0.95)


def test_a_run_killed_at_any_moment_then_rerun_equals_one_clean_run(tmp_path):
    source = generate_logs(tmp_path / "logs", 12, 11, "--days", "4")
    small_chunks = ("--chunk-mb", "1")  # many chunks and parts, so a kill lands mid-batch
    started = time.monotonic()
    clean = run_flow_process(source, tmp_path / "clean" / "warehouse.duckdb", *small_chunks)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stderr
    expected = snapshot(tmp_path / "clean" / "warehouse.duckdb")

    for point in KILL_POINTS:
        warehouse = tmp_path / f"killed-at-{point}" / "warehouse.duckdb"
        running = start_flow(source, warehouse, *small_chunks)
        time.sleep(clean_seconds * point)
        running.send_signal(signal.SIGKILL)
        running.wait()

        rerun = run_flow_process(source, warehouse, *small_chunks)

        assert rerun.returncode == 0, f"killed at {point:.0%} of a run: {rerun.stderr}"
        assert snapshot(warehouse) == expected, f"killed at {point:.0%} of a run"


# The run that loads appended lines is killed at these fractions of a clean such run's duration (most of which is
# start-up, with these data: the later points land in its loads and the mart rebuild), the moment it begins reading
# a range, and the moment it has read (staged) one, before loading it; after that last kill the grown files are
# also rotated (access.log -> access.log.1), so the re-run reads what the killed run read from other paths.
APPENDED_KILL_POINTS = (0.75, 0.9)
BEGAN_READING = "killed as it began reading a range"
ROTATED = "killed once it had read a range, then the files rotated"
# The share of each file loaded before the rest is appended: most lines arrive by the append, so that reading and
# loading them fills most of the second run.
FIRST_SHARE = 0.3
SMALL_CHUNKS = ("--chunk-mb", "1")


def test_a_run_killed_while_loading_appended_lines_then_rerun_loads_them_exactly_once(tmp_path):
    complete = generate_logs(tmp_path / "complete", 6, 17, "--days", "3", "--gzip-share", "0")
    one_step = tmp_path / "one-step" / "warehouse.duckdb"
    with ThreadPoolExecutor(max_workers=1) as meanwhile:
        whole_files = meanwhile.submit(run_flow_process, complete, one_step, *SMALL_CHUNKS)
        logs = tmp_path / "logs"
        rests = write_first_parts(complete, logs, FIRST_SHARE)
        first_part = tmp_path / "first-part" / "warehouse.duckdb"
        first = run_flow_process(logs, first_part, *SMALL_CHUNKS)
        assert first.returncode == 0, first.stderr
        assert whole_files.result().returncode == 0, whole_files.result().stderr
    for name, rest in rests.items():
        with (logs / name).open("ab") as log:
            log.write(rest)

    # every case starts from the warehouse the first parts gave: a copy of it, with its own (empty) staging
    clean = copy_warehouse(first_part, tmp_path / "clean")
    started = time.monotonic()
    appended = run_flow_process(logs, clean, *SMALL_CHUNKS)
    clean_seconds = time.monotonic() - started
    assert appended.returncode == 0, appended.stderr
    expected = snapshot(clean)
    # the ledger differs from one load of the whole files (two ranges of each stream, not one); the data may not
    assert loaded_data(clean) == loaded_data(one_step)

    kills = {
        f"killed at {point:.0%} of a run": partial(kill_after, seconds=clean_seconds * point)
        for point in APPENDED_KILL_POINTS
    }
    kills[BEGAN_READING] = partial(kill_once, staging_shows=batches_being_read)
    kills[ROTATED] = partial(kill_once, staging_shows=batches_read)
    read_not_recorded = {}
    for number, (case, kill) in enumerate(kills.items()):
        warehouse = copy_warehouse(first_part, tmp_path / f"case-{number}")
        kill(start_flow(logs, warehouse, *SMALL_CHUNKS), warehouse)
        read_not_recorded[case] = ranges_read_not_recorded(warehouse)
        renamed = rotate(logs) if case == ROTATED else {}

        rerun = run_flow_process(logs, warehouse, *SMALL_CHUNKS)

        assert rerun.returncode == 0, f"{case}: {rerun.stderr}"
        assert with_sources_renamed(snapshot(warehouse), renamed) == expected, case
    assert read_not_recorded[ROTATED], f"no kill landed between reading a range and recording it: {read_not_recorded}"


def write_first_parts(complete: Path, logs: Path, share: float) -> dict[str, bytes]:
    """Write the first `share` of each file in `complete` into `logs`, cut after a whole line (a last line without
    its newline would wait for the next run); return the rest of each, by file name."""
    logs.mkdir()
    rests = {}
    for path in sorted(complete.iterdir()):
        content = path.read_bytes()
        cut = content.index(b"\n", int(len(content) * share)) + 1
        (logs / path.name).write_bytes(content[:cut])
        rests[path.name] = content[cut:]
    return rests


def copy_warehouse(warehouse: Path, folder: Path) -> Path:
    folder.mkdir()
    return Path(shutil.copy2(warehouse, folder / warehouse.name))


def kill_after(running: subprocess.Popen, warehouse: Path, seconds: float) -> None:
    time.sleep(seconds)
    running.send_signal(signal.SIGKILL)
    running.wait()


def kill_once(running: subprocess.Popen, warehouse: Path, staging_shows: Callable[[Path], set[str]]) -> None:
    """SIGKILL the run the moment its staging shows a batch (being read, or read)."""
    while running.poll() is None and not staging_shows(warehouse):
        time.sleep(0.005)
    running.send_signal(signal.SIGKILL)
    running.wait()


def batches_being_read(warehouse: Path) -> set[str]:
    """The batches being staged: each has a scratch folder until it is read whole."""
    scratch = (staging_root_for(warehouse) / ACCESS_LOG_FORMAT.pipeline).glob("*.partial-*")
    return {folder.name.split(".partial-")[0] for folder in scratch}


def batches_read(warehouse: Path) -> set[str]:
    """The batches staged (read whole): their folder, its manifest written, has its final name."""
    manifests = (staging_root_for(warehouse) / ACCESS_LOG_FORMAT.pipeline).glob(f"*/{MANIFEST}")
    return {manifest.parent.name for manifest in manifests if ".partial-" not in manifest.parent.name}


def ranges_read_not_recorded(warehouse: Path) -> set[str]:
    """The batches a killed run read whole but did not record in the ledger."""
    recorded = {batch_id for (batch_id,) in query(warehouse, "select batch_id from meta.batches")}
    return batches_read(warehouse) - recorded


def rotate(logs: Path) -> dict[str, str]:
    """Rename every log as logrotate does (access.log -> access.log.1); return the old source path of each new one."""
    renamed = {}
    for path in sorted(logs.glob("*.log")):
        rotated = path.rename(path.with_name(path.name + ".1"))
        renamed[str(rotated.resolve())] = str(path.resolve())
    return renamed


def with_sources_renamed(tables: dict[str, list[tuple]], renamed: dict[str, str]) -> dict[str, list[tuple]]:
    """`tables` with each source path in `renamed` replaced by its old one."""
    return {
        table: sorted(
            (tuple(renamed.get(value, value) if isinstance(value, str) else value for value in row) for row in rows),
            key=repr,
        )
        for table, rows in tables.items()
    }


def loaded_data(warehouse: Path) -> dict[str, list[tuple]]:
    """What the warehouse holds of the logs, without where each row came from (batch ids and sources differ between
    loads of the same lines in other pieces): the requests and rejects as multisets, and the marts."""
    without_origin = {
        "logs.requests": "select * exclude (batch_id, source) from logs.requests",
        "meta.rejects": "select line_number, raw, reason from meta.rejects",
    }
    marts = ("logs.hourly", "logs.daily", "logs.top_paths", "logs.sessions", "logs.sessions_daily")
    tables = without_origin | {mart: f"select * from {mart}" for mart in marts}
    return {table: sorted(query(warehouse, sql), key=repr) for table, sql in tables.items()}
