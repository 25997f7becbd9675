"""A command without PREFECT_API_URL runs on the project's local Prefect server, started on first use and left up
for later runs (tasks/kit/local_server.py), instead of a temporary server per run."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest
from project_code import PROJECT_ROOT

import tasks.kit.local_server as local_server
from tasks.pipelines.access_logs import SAMPLE


def run_access_logs(environment: dict, warehouse) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "flows/access_logs.py", "--source", str(SAMPLE), "--warehouse", str(warehouse)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def prefect_home(tmp_path):
    """A Prefect home of its own; whatever local server was started there is stopped at the end."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    yield home
    record = home / "batchyard-local-server.json"
    if record.exists():
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@pytest.mark.slow
def test_the_first_run_starts_the_local_server_and_the_next_one_uses_it(tmp_path, prefect_home):
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    environment |= {"PREFECT_HOME": str(prefect_home), "BATCHYARD_LOCAL_SERVER": "on"}
    # a record left by a server that is gone: not trusted, a new one starts
    (prefect_home / "batchyard-local-server.json").write_text(
        json.dumps({"api_url": "http://127.0.0.1:9/api", "pid": 999_999_999, "log": "gone.log"})
    )

    first = run_access_logs(environment, tmp_path / "warehouse.duckdb")
    second = run_access_logs(environment, tmp_path / "warehouse.duckdb")

    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    record = json.loads((prefect_home / "batchyard-local-server.json").read_text())
    ui = record["api_url"].removesuffix("/api")
    assert f"Started the local Prefect server: UI {ui} (pid {record['pid']}" in first.stdout
    assert f"Using the local Prefect server: UI {ui} (pid {record['pid']}" in second.stdout
    assert f"stop it with kill {record['pid']}" in second.stdout
    assert "temporary server" not in first.stderr + second.stderr
    os.kill(record["pid"], 0)  # still up after both runs
    # both runs are on the server, browsable in its UI
    request = urllib.request.Request(f"{record['api_url']}/flow_runs/count", data=b"{}", method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read()) == 2
    loaded = "meta.batches: 3 loaded batch(es): 9,859 rows in, 9,662 loaded, 197 rejected"
    assert loaded in first.stdout and loaded in second.stdout  # the second run found everything loaded


def test_a_configured_api_or_the_switch_off_leaves_prefect_as_it_is(monkeypatch):
    said = []
    monkeypatch.setattr(local_server, "LOCAL_SERVER", False)
    assert local_server.use_local_server(say=said.append) is None
    monkeypatch.setattr(local_server, "LOCAL_SERVER", True)
    monkeypatch.setattr(local_server.PREFECT_API_URL, "value", lambda: "http://127.0.0.1:4200/api")
    assert local_server.use_local_server(say=said.append) is None
    assert said == []
