"""tasks/core/settings.py: every BATCHYARD_* value is checked against what it may be, and a bad one stops every command
and every flow run with one line naming it, before anything is written; flow parameters get the flags' bounds."""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tasks.core import settings
from tasks.core.settings import PROJECT_ROOT, SettingError, check_parameters, staging_root_for
from tasks.kit.cli import prefect_api_problem

PYTHON = sys.executable


# Settings are read once, at import: a fresh interpreter imports tasks.core.settings again for each environment (reloading
# it there is safe: nothing else is imported) and prints what check_settings() says, one JSON line per case.
CHECK_EACH_ENVIRONMENT = """
import importlib, json, os, sys
for variables in json.loads(sys.stdin.read()):
    os.environ.update(variables)
    import tasks.core.settings
    settings = importlib.reload(tasks.core.settings)
    try:
        settings.check_settings()
        print(json.dumps(None))
    except settings.SettingError as error:
        print(json.dumps(str(error)))
    for name in variables:
        del os.environ[name]
"""


def check_settings_under(environments: list[dict[str, str]]) -> list[str | None]:
    """What check_settings() says under each of `environments` (added to this one): its line, or None."""
    checked = subprocess.run(
        [PYTHON, "-c", CHECK_EACH_ENVIRONMENT],
        input=json.dumps(environments),
        cwd=PROJECT_ROOT,
        env={name: value for name, value in os.environ.items() if not name.startswith("BATCHYARD_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in checked.stdout.splitlines()]


BAD_VALUES = (
    ("BATCHYARD_CHUNK_BYTES", "abc", "a whole number from 1,024 to 1,073,741,824 (1 KiB to 1 GiB)"),
    ("BATCHYARD_CHUNK_BYTES", "512", "a whole number from 1,024"),
    ("BATCHYARD_CHUNK_BYTES", "2147483648", "to 1,073,741,824"),
    ("BATCHYARD_MAX_LINE_BYTES", "33554432", "from 1,024 to 16,777,216 (1 KiB to BATCHYARD_CHUNK_BYTES)"),
    ("BATCHYARD_MAX_LINE_BYTES", "-1", "from 1,024"),
    ("BATCHYARD_MAX_REJECT_RATE", "7", "a number from 0 to 1"),
    ("BATCHYARD_MAX_REJECT_RATE", "nan", "a number from 0 to 1"),
    ("BATCHYARD_MAX_REJECT_RATE", "5%", "a number from 0 to 1"),
    ("BATCHYARD_REJECT_RATE_MIN_ROWS", "-1", "a whole number from 0 to 1,000,000,000 (rows; 0: every batch)"),
    ("BATCHYARD_REJECT_RATE_MIN_ROWS", "1e3", "a whole number from 0"),
    ("BATCHYARD_SESSION_GAP_MINUTES", "0", "a whole number from 1 to 525,600"),
    ("BATCHYARD_SESSION_GAP_MINUTES", "1.5", "a whole number"),
    ("BATCHYARD_PARSE_WORKERS", "0", "a whole number from 1 to 256"),
    ("BATCHYARD_TASK_THREADS", "100000", "a whole number from 1 to 256"),
    ("BATCHYARD_SPLIT_BYTES", "", "a whole number from 1,024"),
    ("BATCHYARD_REDUCERS", "100000", "a whole number from 1 to 4,096"),
    ("BATCHYARD_MIGRATION_BATCH_ROWS", "0", "a whole number from 1 to 10,000,000"),
    ("BATCHYARD_DASK_WORKERS", "-1", "a whole number from 0 to 256"),
    ("BATCHYARD_DASK_ADDRESS", "not an address", "a Dask scheduler address such as tcp://host:8786"),
    (
        "BATCHYARD_DASK_ADDRESS",
        "tcp://host:8786",
        "paired with BATCHYARD_STAGING, a folder this process and every Dask",
    ),
    ("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "lots", "a size DuckDB understands"),
    ("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "1kb", "from 16MiB"),
    ("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "384", "a size DuckDB understands"),
    ("BATCHYARD_WAREHOUSE", "", "a path (not empty"),
    ("BATCHYARD_WRITE_TURN", "per-file", "must be per-run or per-load"),
    ("BATCHYARD_REPORTS", " ", "a path (not empty"),
)


def test_a_bad_environment_value_is_refused_in_one_line_naming_it_its_value_and_what_is_allowed():
    lines = check_settings_under([{variable: value} for variable, value, _ in BAD_VALUES])

    for (variable, value, allowed), line in zip(BAD_VALUES, lines, strict=True):
        assert line is not None, f"{variable}={value!r} passed"
        assert line.startswith(f"{variable}={value!r} is not allowed: it must be ") and allowed in line, line
        assert "\n" not in line


GOOD_VALUES = (
    ("BATCHYARD_CHUNK_BYTES", "1048576"),
    ("BATCHYARD_CHUNK_BYTES", " 33554432 "),
    ("BATCHYARD_MAX_REJECT_RATE", "1"),
    ("BATCHYARD_MAX_REJECT_RATE", "0"),
    ("BATCHYARD_REJECT_RATE_MIN_ROWS", "0"),
    ("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "1.5GiB"),
    ("BATCHYARD_WAREHOUSE_MEMORY_LIMIT", "50%"),
    ("BATCHYARD_DASK_ADDRESS", ""),
    ("BATCHYARD_STAGING", ""),
    ("BATCHYARD_WAREHOUSE_WRITE_LIMIT", ""),
    ("BATCHYARD_WRITE_TURN", "per-load"),
    ("BATCHYARD_DASK_WORKERS", "0"),
)


def test_good_environment_values_pass_and_two_bad_ones_are_counted():
    remote_cluster = {"BATCHYARD_DASK_ADDRESS": "tcp://10.0.0.5:8786", "BATCHYARD_STAGING": "/shared/batchyard"}
    two_bad = {"BATCHYARD_CHUNK_BYTES": "x", "BATCHYARD_REDUCERS": "y"}
    environments = [{variable: value} for variable, value in GOOD_VALUES] + [remote_cluster, two_bad]
    *lines, last = check_settings_under(environments)

    assert lines == [None] * (len(GOOD_VALUES) + 1)
    assert last.startswith("BATCHYARD_CHUNK_BYTES='x'") and last.endswith("(and 1 more bad BATCHYARD_* value(s))")


@pytest.mark.parametrize(
    "script",
    ["flows/sales.py", "flows/status.py", "deployments/serve.py"],  # the shared command line, status's, serve's
)
def test_every_command_refuses_a_bad_environment_value_with_one_line_and_exit_2_writing_nothing(script, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    environment = {**os.environ, "BATCHYARD_CHUNK_BYTES": "abc", "BATCHYARD_WAREHOUSE": str(warehouse)}
    environment.pop("PREFECT_API_URL", None)

    ran = subprocess.run(
        [PYTHON, script], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert ran.returncode == 2, ran.stderr
    assert ran.stderr.count("\n") == 1 and "BATCHYARD_CHUNK_BYTES='abc' is not allowed" in ran.stderr, ran.stderr
    assert not list(tmp_path.iterdir())


def closed_port() -> int:
    """A local port nothing listens on (just released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_prefect_api_stops_a_flow_command_before_the_warehouse_exists(tmp_path):
    api_url = f"http://127.0.0.1:{closed_port()}/api"
    warehouse = tmp_path / "warehouse.duckdb"
    environment = {**os.environ, "PREFECT_API_URL": api_url}

    ran = subprocess.run(
        [PYTHON, "flows/sales.py", "--warehouse", str(warehouse)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode == 2
    assert ran.stderr == (
        f"sales: cannot reach the Prefect API at {api_url}: connection refused; unset PREFECT_API_URL to use a "
        "temporary local server, or start the server\n"
    )
    assert not list(tmp_path.iterdir()), "no warehouse, no lock, no staging"


def test_any_http_answer_counts_as_a_reachable_api():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert prefect_api_problem(f"http://127.0.0.1:{server.server_port}/api") is None
    finally:
        server.shutdown()
    assert prefect_api_problem("") is None  # none configured: a temporary server
    assert "cannot reach the Prefect API at http://127.0.0.1:" in prefect_api_problem(
        f"http://127.0.0.1:{closed_port()}/api"
    )


@pytest.mark.parametrize(
    ("parameters", "line"),
    [
        ({"chunk_mb": -5}, "chunk_mb=-5 is not allowed: it must be a number from 0.0009765625 to 1,024 (MiB, 1 KiB"),
        ({"max_reject_rate": 7}, "max_reject_rate=7 is not allowed: it must be a number from 0 to 1"),
        ({"reject_rate_min_rows": -1}, "reject_rate_min_rows=-1 is not allowed: it must be a whole number from 0"),
        ({"reducers": 100_000}, "reducers=100000 is not allowed: it must be a whole number from 1 to 4,096"),
        ({"split_mb": 16_385}, "split_mb=16385 is not allowed: it must be a number from 0.0009765625 to 16,384"),
        ({"session_gap_minutes": True}, "session_gap_minutes=True is not allowed"),
        ({"patterns": ["*.log", ""]}, "patterns=['*.log', ''] is not allowed: it must be a list of file-name patterns"),
        ({"patterns": ["/var/log/*"]}, "patterns=['/var/log/*'] is not allowed: it must be a list of file-name"),
        ({"patterns": "*.log"}, "patterns='*.log' is not allowed: it must be a list of file-name patterns"),
    ],
    ids=[
        "negative-chunk",
        "rate-as-percent",
        "negative-minimum-rows",
        "too-many-reducers",
        "split-over-16-gib",
        "a-bool",
        "empty-pattern",
        "absolute-pattern",
        "not-a-list",
    ],
)
def test_a_parameter_outside_its_settings_bounds_is_one_line(parameters, line):
    with pytest.raises(SettingError) as refused:
        check_parameters({"source": Path("x"), **parameters})

    assert str(refused.value).startswith(line)


def test_parameters_within_bounds_and_others_pass():
    check_parameters({"chunk_mb": 1, "split_mb": 0.5, "max_reject_rate": 0.0, "reducers": 4, "anything": -1})
    check_parameters({"patterns": ["*.log", "!*.gz", "access.log-*"]})
    check_parameters({"patterns": None})


# Flow runs (as from a deployment or the UI): they fail at once, Failed with the one line, nothing written.


@pytest.fixture
def sales_flow(prefect_server):
    import flows.sales

    return flows.sales.sales


@pytest.mark.parametrize(
    ("parameters", "line"),
    [
        ({"chunk_mb": -5}, "chunk_mb=-5.0 is not allowed: it must be a number from 0.0009765625 to 1,024"),
        ({"max_reject_rate": 7}, "max_reject_rate=7.0 is not allowed: it must be a number from 0 to 1"),
    ],
    ids=["negative-chunk", "rate-as-percent"],
)
def test_a_flow_run_with_a_parameter_out_of_bounds_fails_at_once_with_one_line(sales_flow, tmp_path, parameters, line):
    warehouse = tmp_path / "warehouse.duckdb"

    state = sales_flow(warehouse=warehouse, **parameters, return_state=True)

    assert state.is_failed()
    assert state.message.startswith(line) and "\n" not in state.message, state.message
    assert not list(tmp_path.iterdir())


def test_a_flow_run_under_a_bad_environment_value_fails_with_its_line(sales_flow, tmp_path, monkeypatch):
    monkeypatch.setattr(
        "tasks.core.settings._refusals", ["BATCHYARD_CHUNK_BYTES='abc' is not allowed: it must be a whole number"]
    )

    state = sales_flow(warehouse=tmp_path / "warehouse.duckdb", return_state=True)

    assert state.is_failed()
    assert state.message == "BATCHYARD_CHUNK_BYTES='abc' is not allowed: it must be a whole number"
    assert not list(tmp_path.iterdir())


def test_the_flows_schemas_carry_the_bounds_for_the_ui():
    import flows.access_logs
    import flows.sales
    import flows.word_count

    properties = flows.sales.sales.parameters.properties
    assert (properties["chunk_mb"]["minimum"], properties["chunk_mb"]["maximum"]) == (1 / 1024, 1024)
    assert properties["chunk_mb"]["type"] == "number" and "chunk_bytes" not in properties
    split = flows.word_count.word_count.parameters.properties["split_mb"]
    assert (split["minimum"], split["maximum"], split["default"]) == (1 / 1024, 16 * 1024, 64)
    assert (properties["max_reject_rate"]["minimum"], properties["max_reject_rate"]["maximum"]) == (0, 1)
    minimum_rows = properties["reject_rate_min_rows"]
    assert (minimum_rows["minimum"], minimum_rows["maximum"], minimum_rows["default"]) == (0, 1_000_000_000, 100)
    assert flows.access_logs.access_logs.parameters.properties["session_gap_minutes"]["minimum"] == 1
    # the flow's version is still its own file's hash, not that of the module that checks its settings
    assert flows.sales.sales.fn.__wrapped__.__code__.co_filename.endswith("flows/sales.py")
    assert flows.sales.sales.version != flows.access_logs.access_logs.version


def test_the_staging_root_means_the_same_folder_in_any_working_directory(tmp_path, monkeypatch):
    """The flow's process decides where staging goes and hands that path to its tasks, which may run on Dask workers
    in other working directories: a relative BATCHYARD_STAGING or warehouse is taken where the flow runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings, "STAGING", "shared")
    shared = staging_root_for(Path("warehouse.duckdb"))
    monkeypatch.setattr(settings, "STAGING", None)
    beside = staging_root_for(Path("warehouse.duckdb"))

    assert shared.is_absolute() and shared.parent == tmp_path / "shared"
    assert beside == tmp_path / "staging"
