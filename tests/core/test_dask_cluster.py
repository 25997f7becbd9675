"""Every pipeline that parses files, run as a command on a real Dask cluster (`dask scheduler` and two `dask worker`
processes, each in a folder and an environment of its own, as if on separate machines, sharing a staging folder and
the session's Prefect server): the same warehouse as a run on threads, its parsing done by the workers and its loads
by the flow's process, and the same warehouse again when a worker is SIGKILLed in the middle of a run."""

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dask_cluster import DaskCluster
from flow_process import PROJECT_ROOT, generate_logs, run_flow_process, start_flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import PREFECT_API_URL
from warehouse_snapshot import snapshot

from flows.access_logs import access_logs
from flows.billing import billing
from flows.sales import sales
from flows.word_count import word_count
from tasks.core.staging import MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


@dataclass(frozen=True)
class Pipeline:
    flow: object
    sample: str
    schemas: tuple[str, ...]
    parameters: dict[str, object] = field(default_factory=dict)  # the same as `arguments`, for the run on threads
    arguments: tuple[str, ...] = ()
    parses: tuple[str, ...] = ("stage ",)  # how the names of the task runs that parse files start
    loads: str = "load "  # and those of the task runs that write to the warehouse
    run_specific: frozenset[str] = frozenset()  # columns that differ between two runs by nature


PIPELINES = {
    "access_logs": Pipeline(access_logs, "sample_logs", ("logs", "meta")),
    "sales": Pipeline(sales, "sample_sales", ("sales", "meta")),
    "billing": Pipeline(
        billing,
        "sample_billing",
        ("billing", "meta"),
        {"period": "2026-10"},
        ("--period", "2026-10"),
        run_specific=frozenset({"issued_at"}),
    ),
    "word_count": Pipeline(
        word_count,
        "sample_corpus",
        ("wordcount", "meta"),
        {"reducers": 3, "split_mb": 1},
        ("--reducers", "3", "--split-mb", "1"),
        parses=("map ", "reduce "),
        loads="merge-reduced-run",
    ),
}


@pytest.fixture(scope="module")
def cluster(prefect_server, tmp_path_factory):
    """A scheduler and two workers for the module; every one of their processes is gone afterwards, also on failure."""
    root = tmp_path_factory.mktemp("dask-cluster")
    cluster = DaskCluster(root, PREFECT_API_URL.value(), staging=root / "shared-staging")
    try:
        yield cluster.start(workers=2)
    finally:
        cluster.stop()
    assert cluster.running() == []


def run_on_cluster(cluster: DaskCluster, source: Path, warehouse: Path, *arguments: str, flow: str = "access_logs"):
    return run_flow_process(
        source,
        warehouse,
        *arguments,
        "--dask-address",
        cluster.address,
        flow=flow,
        settings={"BATCHYARD_STAGING": str(cluster.staging)},
    )


def task_runs(log: str) -> list[str]:
    """The names of the task runs that finished, as Prefect logged them."""
    return re.findall(r"Task run '([^']*)' - Finished in state Completed", log)


@pytest.mark.parametrize("name", PIPELINES)
def test_each_pipeline_on_the_cluster_gives_the_same_warehouse_as_on_threads(name, cluster, tmp_path):
    pipeline = PIPELINES[name]
    source = PROJECT_ROOT / "data" / pipeline.sample
    invoices = {"out": tmp_path / "threads" / "invoices"} if name == "billing" else {}
    on_threads = pipeline.flow(
        source=source,
        warehouse=tmp_path / "threads" / "warehouse.duckdb",
        **pipeline.parameters,
        **invoices,
        return_state=True,
    )
    assert on_threads.is_completed(), on_threads.message
    marks = cluster.log_marks()

    invoices = ("--out", str(tmp_path / "dask" / "invoices")) if name == "billing" else ()
    on_dask = run_on_cluster(
        cluster, source, tmp_path / "dask" / "warehouse.duckdb", *pipeline.arguments, *invoices, flow=name
    )

    assert on_dask.returncode == 0, on_dask.stderr
    # the workers ran parsing tasks and nothing else, the flow's process none of them, and it wrote the warehouse
    on_workers, in_the_flow = task_runs(cluster.worker_logs_since(marks)), task_runs(on_dask.stderr)
    assert on_workers and all(name.startswith(pipeline.parses) for name in on_workers), on_workers
    assert not any(name.startswith(pipeline.parses) for name in in_the_flow), in_the_flow
    assert any(name.startswith(pipeline.loads) for name in in_the_flow), in_the_flow
    on_cluster, on_threads = (
        snapshot(tmp_path / run / "warehouse.duckdb", pipeline.schemas, pipeline.run_specific)
        for run in ("dask", "threads")
    )
    assert on_cluster == on_threads


def test_a_remote_cluster_without_a_shared_staging_folder_is_refused_in_one_line_before_anything_is_written(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"

    refused = run_flow_process(PROJECT_ROOT / "data" / "sample_logs", warehouse, "--dask-address", "tcp://127.0.0.1:1")

    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and "must be paired with BATCHYARD_STAGING" in refused.stderr, refused.stderr
    assert not warehouse.exists()


# Last: it leaves the module's cluster with a replacement worker.
def test_a_worker_killed_while_it_parses_leaves_the_warehouse_of_a_clean_run(cluster, tmp_path):
    source = generate_logs(tmp_path / "logs", 4, 19, "--days", "4", "--gzip-share", "0")
    clean = access_logs(source=source, warehouse=tmp_path / "clean" / "warehouse.duckdb", return_state=True)
    assert clean.is_completed(), clean.message
    warehouse = tmp_path / "killed" / "warehouse.duckdb"
    victim = cluster.worker_process("worker-1")
    # small chunks: a file takes many parts, so the kill lands between two of them
    run = start_flow(
        source,
        warehouse,
        "--chunk-mb",
        "0.0625",
        "--dask-address",
        cluster.address,
        settings={"BATCHYARD_STAGING": str(cluster.staging)},
    )
    try:
        while len(list(cluster.staging.glob("*/access_logs/*.partial-*"))) < 2 and run.poll() is None:
            time.sleep(0.01)  # both workers (one thread each) are parsing a file
        assert run.poll() is None, "the run ended before the kill"
        victim.kill()
        _, stderr = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()

    assert run.returncode == 0, stderr
    # the scheduler lost worker-1 mid-run and its nanny started a replacement, which joined
    assert re.findall(r"(Register|Remove) worker .* name: worker-1\b", cluster.log("scheduler")) == [
        "Register",
        "Remove",
        "Register",
    ]
    # the killed worker's half-written staging stays behind as scratch, never loaded: the batch was staged again whole
    (abandoned,) = cluster.staging.glob("*/access_logs/*.partial-*")
    assert (abandoned.with_name(abandoned.name.split(".partial-")[0]) / MANIFEST).exists()
    assert snapshot(warehouse) == snapshot(tmp_path / "clean" / "warehouse.duckdb")
    # the killed task run was run again to completion: none is left Running (or Crashed) in Prefect
    flow_run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", stderr)[1]
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    assert {task_run.state.name for task_run in task_runs} == {"Completed"}
