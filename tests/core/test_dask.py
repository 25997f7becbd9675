"""`--dask-workers`: a flow's command on a local Dask cluster of two worker processes that the command starts itself
(prefect-dask's DaskTaskRunner on a LocalCluster), against the session's Prefect server: the same warehouse as the flow
on threads. A real cluster of separate processes, with every parsing pipeline, is tests/core/test_dask_cluster.py."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flow_process import run_flow_process
from independent_word_count import assert_matches_independent_computation, corpus_files
from warehouse_snapshot import snapshot

from flows.word_count import word_count

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def test_word_count_on_two_local_dask_workers_gives_the_same_warehouse_as_on_threads(tmp_path):
    source = shutil.copytree(PROJECT_ROOT / "data" / "sample_corpus", tmp_path / "corpus")
    settings = ("--split-mb", "1", "--reducers", "3")
    on_threads = word_count(source, tmp_path / "threads" / "warehouse.duckdb", 3, 1, return_state=True)  # 1 MiB splits
    assert on_threads.is_completed(), on_threads.message

    on_dask = run_flow_process(
        source, tmp_path / "dask" / "warehouse.duckdb", *settings, "--dask-workers", "2", flow="word_count"
    )

    assert on_dask.returncode == 0, on_dask.stderr
    assert "LocalCluster" in on_dask.stderr  # the tasks did go to Dask
    schemas = ("wordcount", "meta")
    dask_warehouse = tmp_path / "dask" / "warehouse.duckdb"
    assert snapshot(dask_warehouse, schemas) == snapshot(tmp_path / "threads" / "warehouse.duckdb", schemas)
    assert_matches_independent_computation(corpus_files(source), dask_warehouse)


def test_a_cluster_in_the_environment_takes_the_parsing_flows_but_never_the_migration(tmp_path):
    """A work pool's worker set up for the cluster (docs/operations.md) runs migrate too: its table copies write the
    warehouse, so they stay on the flow's threads."""
    environment = {
        **os.environ,
        "BATCHYARD_DASK_ADDRESS": "tcp://127.0.0.1:8786",
        "BATCHYARD_STAGING": str(tmp_path / "staging"),
    }
    runners = subprocess.run(
        [
            sys.executable,
            "-c",
            "from flows.access_logs import access_logs; from flows.migrate import migrate; "
            "print(type(access_logs.task_runner).__name__, type(migrate.task_runner).__name__)",
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert runners.stdout.split() == ["DaskTaskRunner", "ThreadPoolTaskRunner"]
