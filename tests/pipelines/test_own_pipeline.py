"""docs/own-pipeline.md, built exactly as written: every `File:` block of the guide goes into a fresh copy of the
project, which gains a `sensors` pipeline without a single existing file edited. Its flow then runs in that copy (as a
process, as a user would run it) on generated exports with known good and bad rows, and keeps each promise the guide
makes: every row accounted for, an hourly mart equal to one computed here in Python, a re-run that loads nothing, a
kill -9 mid-run that a re-run repairs into one clean run's warehouse, audit checks that pass (and catch a broken
mart), and a deployment that the generated prefect.yaml and the status command know."""

import random
import re
import shutil
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from flow_process import flow_environment
from warehouse_snapshot import query, snapshot

from tasks.observability.audit import run_checks, warehouse_checks

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GUIDE = PROJECT_ROOT / "docs" / "own-pipeline.md"
# A line `File: `path``, then the fenced block holding that file's whole text.
FILE_BLOCK = re.compile(r"^File: `([^`]+)`\n```[\w-]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NOT_PROJECT_FILES = shutil.ignore_patterns(".venv", ".git", "warehouse*", "test-artifacts", "__pycache__")
EXPECTED_FILES = {
    "tasks/pipelines/sensors/__init__.py",
    "tasks/pipelines/sensors/source.py",
    "tasks/pipelines/sensors/sql/001_sensors.sql",
    "tasks/pipelines/sensors/sql/refresh_marts.sql",
    "tasks/pipelines/sensors/deployments.yaml",
    "flows/sensors.py",
}
SCHEMAS = ("sensors", "meta")
DAYS = 12
SENSORS = ("boiler-1", "boiler-2", "freezer-1", "roof")
# Bad lines every file carries, with what their reject's reason must say: the guide's three kinds (a number that
# does not parse, a missing sensor id, a temperature out of range) and a few more a gateway writes.
BAD_LINES = (
    ("{sensor},{ts},n/a", "temperature_c: 'n/a' is not a decimal number"),
    ('{sensor},{ts},"21,5"', "temperature_c: '21,5' is not a decimal number"),
    (",{ts},19.75", "sensor_id: missing"),
    ("{sensor},{ts},412.0", "temperature_c: '412.0' is outside -60..85"),
    ("{sensor},{ts},-80.5", "temperature_c: '-80.5' is outside -60..85"),
    ("{sensor},{naive_ts},20.0", "reading_ts: '{naive_ts}' has no UTC offset"),
    ("{sensor},{ts}", ""),  # a field short: rejected as a malformed record, whatever the words
)


def guide_files() -> dict[str, str]:
    """Each file the guide has the user write: its path (from the project root) and its text."""
    blocks = FILE_BLOCK.findall(GUIDE.read_text())
    files = {path: text for path, text in blocks}
    assert len(files) == len(blocks), "the guide gives a file twice"
    return files


def project_files() -> list[str]:
    """The project's files as a clone has them (the tracked ones and any new ones not ignored), or, outside git,
    everything but the environment, the warehouse and the caches."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:
        return []
    return [name for name in listed.stdout.decode().split("\0") if name and (PROJECT_ROOT / name).is_file()]


def copy_project(target: Path) -> Path:
    names = project_files()
    if not names:
        return shutil.copytree(PROJECT_ROOT, target, ignore=NOT_PROJECT_FILES)
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target / name)
    return target


def generate_exports(folder: Path, seed: int = 16) -> dict[str, dict]:
    """readings_<day>.csv for DAYS days: each sensor every 10 minutes of the local day (+02:00, so the first two hours
    fall on the previous UTC day), then the BAD_LINES. Returns per file its lines, its good readings (sensor, UTC
    instant, temperature) and its bad lines' numbers with the reason each must get."""
    folder.mkdir(parents=True)
    chance = random.Random(seed)
    offset = timezone(timedelta(hours=2))
    files = {}
    for number in range(DAYS):
        day = date(2026, 11, 1) + timedelta(days=number)
        lines = ["sensor_id,reading_ts,temperature_c"]
        good, bad = [], {}
        for minute in range(0, 24 * 60, 10):
            moment = datetime(day.year, day.month, day.day, tzinfo=offset) + timedelta(minutes=minute)
            for sensor in SENSORS:
                temperature = Decimal(chance.randint(-2500, 4500)) / 100
                lines.append(f"{sensor},{moment.isoformat()},{temperature}")
                good.append((sensor, moment.astimezone(UTC), temperature))
        for position, (template, reason) in enumerate(BAD_LINES):
            moment = datetime(day.year, day.month, day.day, 12, position, tzinfo=offset)
            naive = moment.replace(tzinfo=None).isoformat()
            values = {"sensor": SENSORS[position % len(SENSORS)], "ts": moment.isoformat(), "naive_ts": naive}
            # among the good lines, not only at the end: a bad line stops nothing after it. Line numbers count the
            # header as line 1, so lines[index] is line index + 1.
            index = chance.randint(1, len(lines))
            lines.insert(index, template.format(**values))
            bad = {(line if line <= index else line + 1): said for line, said in bad.items()}
            bad[index + 1] = reason.format(**values)
        name = f"readings_{day.isoformat()}.csv"
        (folder / name).write_text("\n".join(lines) + "\n")
        files[name] = {"rows_in": len(lines) - 1, "good": good, "bad": bad}
    return files


def hourly_from(files: dict[str, dict]) -> dict[tuple[str, datetime], tuple[int, Decimal, float, Decimal]]:
    """sensors.hourly computed here: per sensor and UTC hour, (readings, min, avg, max) of the good readings."""
    temperatures = defaultdict(list)
    for exported in files.values():
        for sensor, moment, temperature in exported["good"]:
            hour = moment.replace(minute=0, second=0, microsecond=0, tzinfo=None)
            temperatures[sensor, hour].append(temperature)
    return {
        key: (len(values), min(values), float(sum(values) / len(values)), max(values))
        for key, values in temperatures.items()
    }


def run_in(project: Path, *command: str) -> subprocess.CompletedProcess:
    """A command of the copy, run from it with the project's Python, importing the copy's code (not this clone's,
    which the environment's editable install would otherwise put first)."""
    return subprocess.run(
        [sys.executable, *command],
        cwd=project,
        env={**flow_environment(), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def load_command(exports: Path, warehouse: Path) -> tuple[str, ...]:
    return ("flows/sensors.py", "--source", str(exports), "--warehouse", str(warehouse))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh copy of the project with the guide's files written into it, and nothing else changed."""
    copy = copy_project(tmp_path_factory.mktemp("copy") / "batchyard")
    files = guide_files()
    assert set(files) >= EXPECTED_FILES, f"the guide lacks {sorted(EXPECTED_FILES - set(files))}"
    assert any(path.startswith("tasks/pipelines/sensors/sql/checks/") for path in files), "the guide has no check"
    for path, text in files.items():
        target = copy / path
        assert not target.exists(), f"the guide has the user edit {path}, an existing file"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return copy


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    folder = tmp_path_factory.mktemp("exports") / "landing"
    return folder, generate_exports(folder)


@pytest.fixture(scope="module")
def loaded(project, exports, tmp_path_factory) -> tuple[Path, dict[str, list[tuple]]]:
    """One clean run of the guide's flow over the exports: its warehouse and, straight after, its snapshot."""
    warehouse = tmp_path_factory.mktemp("clean") / "warehouse.duckdb"
    finished = run_in(project, *load_command(exports[0], warehouse))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return warehouse, snapshot(warehouse, SCHEMAS)


def test_every_row_is_loaded_or_rejected_with_its_reason(exports, loaded):
    folder, files = exports
    warehouse, _ = loaded
    ledger = query(
        warehouse,
        "select source, status, rows_in, rows_loaded, rows_rejected from meta.batches where pipeline = 'sensors'",
    )
    assert sorted(ledger) == sorted(
        (str(folder / name), "loaded", exported["rows_in"], len(exported["good"]), len(exported["bad"]))
        for name, exported in files.items()
    )
    assert all(rows_in == rows_loaded + rows_rejected for _, _, rows_in, rows_loaded, rows_rejected in ledger)
    (readings,) = query(warehouse, "select count(*) from sensors.readings")[0]
    assert readings == sum(len(exported["good"]) for exported in files.values()) == DAYS * 144 * len(SENSORS)

    rejects = query(warehouse, "select source, line_number, reason from meta.rejects where pipeline = 'sensors'")
    assert len(rejects) == DAYS * len(BAD_LINES)
    assert {(source, line) for source, line, _ in rejects} == {
        (str(folder / name), line) for name, exported in files.items() for line in exported["bad"]
    }
    for source, line, reason in rejects:
        assert reason, f"{source}:{line} has no reason"
        assert files[Path(source).name]["bad"][line] in reason, f"{source}:{line}: {reason}"


def test_the_readings_keep_their_values_and_instants(exports, loaded):
    _, files = exports
    warehouse, _ = loaded
    stored = query(
        warehouse, "select sensor_id, timezone('UTC', reading_ts), temperature_c from sensors.readings order by all"
    )
    expected = sorted(
        (sensor, moment.replace(tzinfo=None), temperature)
        for exported in files.values()
        for sensor, moment, temperature in exported["good"]
    )
    assert stored == expected


def test_the_hourly_mart_equals_an_independent_computation(exports, loaded):
    warehouse, _ = loaded
    mart = query(warehouse, "select sensor_id, hour, readings, min_c, avg_c, max_c from sensors.hourly")
    expected = hourly_from(exports[1])
    assert len(mart) == len(expected) == DAYS * 24 * len(SENSORS)
    for sensor, hour, readings, lowest, average, highest in mart:
        count, expected_lowest, expected_average, expected_highest = expected[sensor, hour]
        assert (readings, lowest, highest) == (count, expected_lowest, expected_highest), (sensor, hour)
        assert average == pytest.approx(expected_average, abs=1e-9), (sensor, hour)
    # the first two hours of each file are the previous UTC day's, in that day's partition
    first = min(hour for _, hour in expected)
    assert first == datetime(2026, 10, 31, 22)


def test_a_rerun_loads_nothing(project, exports, loaded):
    warehouse, clean = loaded
    again = run_in(project, *load_command(exports[0], warehouse))
    assert again.returncode == 0, again.stderr
    (latest,) = query(
        warehouse,
        "select batches, already_loaded, rows_in, rows_loaded from meta.runs "
        "where pipeline = 'sensors' order by started_at desc limit 1",
    )
    assert latest == (0, DAYS, 0, 0)  # no batch of its own, every file already loaded
    assert snapshot(warehouse, SCHEMAS) == clean


def test_a_run_killed_mid_load_then_rerun_equals_one_clean_run(project, exports, loaded, tmp_path):
    warehouse = tmp_path / "killed" / "warehouse.duckdb"
    running = subprocess.Popen(
        [sys.executable, *load_command(exports[0], warehouse)],
        cwd=project,
        env={**flow_environment(), "PYTHONPATH": str(project)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # once the first file's load has committed, the others are still to load: kill the run there, with no warning
    seen = []
    for line in running.stderr:
        seen.append(line)
        if re.search(r"readings_\S*: [\d,]+ rows in, [\d,]+ loaded", line):
            running.send_signal(signal.SIGKILL)
            break
    running.wait()
    assert running.returncode == -signal.SIGKILL, "the run ended before its first load:\n" + "".join(seen[-20:])
    (committed,) = query(warehouse, "select count(*) from meta.batches where status = 'loaded'")[0]
    assert committed >= 1
    assert snapshot(warehouse, SCHEMAS) != loaded[1], "the kill came after the run had finished its work"

    rerun = run_in(project, *load_command(exports[0], warehouse))

    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(warehouse, SCHEMAS) == loaded[1]


def test_the_warehouse_audit_runs_the_sensors_checks_and_they_pass(project, loaded, tmp_path):
    warehouse, _ = loaded
    audited = run_in(project, "flows/warehouse_audit.py", "--warehouse", str(warehouse))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    checks = {path.stem for path in (project / "tasks/pipelines/sensors/sql/checks").glob("*.sql")}
    for check in checks:
        assert re.search(rf"^ok +sensors\.{check}\b", audited.stdout, re.MULTILINE), audited.stdout
    recorded = query(
        warehouse, "select check_name, violations from meta.check_results where component = 'sensors' order by all"
    )
    assert recorded == sorted((check, 0) for check in checks)

    # and they are not vacuous: a mart row that drifted from the readings is caught
    broken = tmp_path / "broken.duckdb"
    shutil.copy(warehouse, broken)
    sensors_checks = warehouse_checks({"sensors": project / "tasks/pipelines/sensors/sql"})
    with duckdb.connect(str(broken)) as connection:
        connection.execute("update sensors.hourly set max_c = max_c + 1 where hour = timestamp '2026-11-03 10:00'")
        results = {result.name: result.violations for result in run_checks(connection, sensors_checks)}
    assert results["hourly_matches_readings"] > 0
    assert all(violations == 0 for name, violations in results.items() if name != "hourly_matches_readings")


def test_status_lists_the_pipeline(project, loaded):
    warehouse, _ = loaded
    status = run_in(project, "flows/status.py", "--warehouse", str(warehouse), "--pipeline", "sensors")
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"\bsensors\b.*\bOK\b", status.stdout), status.stdout


def test_the_deployment_is_generated_into_prefect_yaml(project, loaded):
    warehouse, _ = loaded
    built = run_in(project, "deployments/build.py")
    assert built.returncode == 0, built.stdout + built.stderr
    generated = yaml.safe_load((project / "deployments" / "prefect.yaml").read_text())
    (deployment,) = [
        entry for entry in generated["deployments"] if entry.get("entrypoint") == "flows/sensors.py:sensors"
    ]
    assert deployment["name"] == "sensors-daily"
    assert deployment["schedules"] == [{"cron": "30 1 * * *", "timezone": "UTC"}]
    assert deployment.get("work_pool"), "the generator gives the deployment the project's work pool"

    # the status command now knows the pipeline's daily schedule, and a run just now is on time
    status = run_in(project, "flows/status.py", "--warehouse", str(warehouse), "--pipeline", "sensors")
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"\bsensors\b.*\bOK\b", status.stdout), status.stdout
