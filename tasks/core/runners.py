"""Where a flow's tasks run: threads in its own process, or a Dask cluster through prefect-dask."""

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from tasks.core.errors import PermanentError
from tasks.core.settings import DASK_ADDRESS, DASK_WORKERS, NEEDS_SHARED_STAGING, STAGING, TASK_THREADS


class DaskNeedsAServer(PermanentError):
    """Workers of a remote Dask cluster cannot report to the temporary server of the flow's process."""


class DaskNeedsSharedStaging(PermanentError):
    """Workers of a remote Dask cluster cannot reach the staging folder beside the warehouse."""


def check_shared_staging(dask_address: str | None) -> None:
    """Refuse a remote cluster without BATCHYARD_STAGING (see NEEDS_SHARED_STAGING)."""
    if dask_address and not STAGING:
        raise DaskNeedsSharedStaging(f"--dask-address {dask_address} {NEEDS_SHARED_STAGING}")


def task_runner(dask_address: str | None = DASK_ADDRESS, dask_workers: int = DASK_WORKERS) -> TaskRunner:
    """The Dask cluster at `dask_address`; or a local one of `dask_workers` processes; or, with neither, a capped
    thread pool (Polars and DuckDB run threads of their own)."""
    if dask_address:
        return _dask_task_runner(address=dask_address)
    if dask_workers:
        return _dask_task_runner(
            cluster_class="distributed.LocalCluster",
            # one task per process at a time: Polars already uses every core of the machine within a task
            cluster_kwargs={"n_workers": dask_workers, "threads_per_worker": 1, "dashboard_address": ":0"},
        )
    return ThreadPoolTaskRunner(max_workers=TASK_THREADS)


def _dask_task_runner(**options: object) -> TaskRunner:
    # imported only when asked for: prefect_dask and distributed add ~0.9 s to every command's start-up
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(**options)


@contextmanager
def prefect_server_for_workers(dask_address: str | None, dask_workers: int) -> Iterator[None]:
    """Dask workers report their task runs to the Prefect server in PREFECT_API_URL. Without one, each worker process
    would start a temporary server of its own (seconds each, and runs split across servers), so for a local cluster
    one temporary server is started here, for the rest of the process, and shared through the environment the
    workers inherit. A remote cluster needs a server its machines can reach: DaskNeedsAServer says so."""
    if PREFECT_API_URL.value() or not (dask_address or dask_workers):
        yield
        return
    if dask_address:
        raise DaskNeedsAServer(
            f"the Dask workers at {dask_address} need a Prefect server to report to: start one "
            "(prefect server start --host 0.0.0.0) and set PREFECT_API_URL=http://<its host>:4200/api for this "
            "command and on every Dask worker"
        )
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start(timeout=120)
    # stopped at exit, after Prefect's services have delivered the last logs and events (they drain first)
    atexit.register(server.stop)
    os.environ["PREFECT_API_URL"] = server.api_url
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield
