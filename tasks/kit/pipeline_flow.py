"""The body every file pipeline's flow shares: discover → stage → load in the run's write turn → follow → rebuild the
marts → report → announce. A flow calls it from its own body, so its tasks are the flow run's tasks, as if written
there; the flow declares only what differs (its export family, its mart settings, its own steps after the rebuild),
and cannot leave out the write turn, a failed staging's way to the ledger, the summary or the announcement."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from prefect import allow_failure, unmapped
from prefect.futures import PrefectFuture, PrefectWrappedFuture
from prefect.states import State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from tasks.core.batches import Batch
from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.core.staging import StagedBatch
from tasks.kit.discovery import Discovery
from tasks.kit.exports import ExportFamily
from tasks.kit.steps import (
    LOADS_IN_TURN,
    LoadsInTurn,
    announce_completion,
    discover_batches,
    load_batch,
    plan_export_batches,
    rebuild_marts,
    report_run,
    stage_file_batch,
)
from tasks.observability.progress import follow_progress
from tasks.observability.summaries import final_state
from tasks.warehouse.connection import EarlyWriteTurn, HeldForLoads, write_turn_for
from tasks.warehouse.loads import FactTable


def load_export_family(
    family: ExportFamily,
    source: Path,
    warehouse: Path,
    chunk_bytes: int,
    files: list[str] | None,
    reload: bool,
    first_day: date | None = None,
    last_day: date | None = None,
    max_reject_rate: float = MAX_REJECT_RATE,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
    *,
    what: str,
    after_rebuild: Callable[[], object] | None = None,
    report_mart_days: bool = True,
) -> State:
    """Load the export files of `family` in `source` (all, the named `files`, or those exported from `first_day` to
    `last_day`; those loaded before only if `reload`): discover, plan each file's format and table by its kind,
    stage them (mapped), then load, rebuild and report as `load_staged_batches` does. `what` names the files in the
    progress shown. Returns the run's final state, its summary as data."""
    with EarlyWriteTurn() as write_turn:
        discovery = discover_batches(
            source, family.patterns, family.pipeline, warehouse, files, reload, first_day, last_day
        )
        exports = plan_export_batches(discovery, family)
        staged = stage_file_batch.map(
            exports.batches, exports.formats, unmapped(discovery.staging_root), unmapped(chunk_bytes)
        )
        return load_staged_batches(
            write_turn,
            family.pipeline,
            discovery,
            staged,
            exports.batches,
            exports.tables,
            warehouse,
            max_reject_rate,
            reject_rate_min_rows,
            what=what,
            after_rebuild=after_rebuild,
            report_mart_days=report_mart_days,
        )


def load_staged_batches(
    write_turn: EarlyWriteTurn,
    pipeline: str,
    discovery: Discovery,
    staged: Sequence[PrefectFuture[StagedBatch]],
    batches: Sequence[Batch],
    tables: Sequence[FactTable] | unmapped,
    warehouse: Path,
    max_reject_rate: float = MAX_REJECT_RATE,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
    *,
    what: str,
    mart_settings: dict[str, object] | None = None,
    after_rebuild: Callable[[], object] | None = None,
    report_mart_days: bool = True,
) -> State:
    """In the run's write turn (`write_turn`, asked for as the run started; with turns per load: a turn for each time
    a load holds the warehouse, and one for the rebuild and `after_rebuild`): load each staged batch into its table
    (`tables`, one per batch or one `unmapped`), a batch whose staging failed after its retries included, so that it
    reaches the ledger with its error; follow the loads; rebuild the pipeline's marts (with `mart_settings` over the
    defaults); then `after_rebuild`, the pipeline's own steps on the loaded warehouse. After the turn: record and publish the run's summary (with the
    number of mart days rebuilt, unless `report_mart_days` is off because the marts are rebuilt whole) and announce
    it. Returns the run's final state, its summary as data."""
    with write_turn.held():
        with load_runner(warehouse, batches, staged) as loads:
            # allow_failure: a batch whose staging failed after its retries still reaches the ledger, with its error
            parameters = {"staged": allow_failure(staged), "batch": batches, "target": tables}
            loaded = loads.map(load_batch, parameters | {"warehouse": unmapped(warehouse)})
            followed = follow_progress(loaded, batches, what=what)
        with write_turn_for("per-load"):
            marts_refreshed_days = rebuild_marts(pipeline, warehouse, mart_settings)
            if after_rebuild is not None:
                after_rebuild()
    marts_reported = marts_refreshed_days if report_mart_days else None
    summary = report_run(
        pipeline, discovery, warehouse, followed, marts_reported, max_reject_rate, reject_rate_min_rows
    )
    announce_completion(summary)
    return final_state(summary)


@contextmanager
def load_runner(
    warehouse: Path, batches: Sequence[Batch], staged: Sequence[PrefectFuture[StagedBatch]]
) -> Iterator[TaskRunner]:
    """Where the run's loads run: in the flow's own process, whatever runs the staging (threads here, or a Dask
    cluster whose workers may be other machines: the warehouse file is here, and DuckDB allows one writing process),
    on a thread pool, one thread of their own, taking them in file order, with the warehouse held open from one load
    to the next while the next batch is staged already (see HeldForLoads), and closed when the block ends. The staged
    files are read from the staging folder, shared with the workers.

    Loads take turns on the warehouse anyway. On the flow's own pool they queued behind every staging task submitted
    before them (the pool is first in, first out, and a staging task holds its thread while it waits for its turn to
    parse), so the first load started only once the last file's staging had a thread. On their own thread, each
    batch loads as soon as it is staged and the load before it is done. File order rather than staging order: the
    files are staged in about that order (submitted so, and sharing the parse slots in turn), and a run killed midway then
    leaves the first files loaded, the same ones each time. One thread whatever the number of files: the thread
    waits for each batch's staging in turn."""
    # the last batch has none after it
    following = {batch.batch_id: upcoming for batch, upcoming in zip(batches, staged[1:], strict=False)}

    def next_is_staged(batch: Batch) -> bool:
        upcoming = following.get(batch.batch_id)
        return isinstance(upcoming, PrefectWrappedFuture) and upcoming.wrapped_future.done()

    held = HeldForLoads(warehouse)
    in_turn = LOADS_IN_TURN.set(LoadsInTurn(held, next_is_staged))
    try:
        with ThreadPoolTaskRunner(max_workers=1) as runner:
            yield runner
    finally:
        LOADS_IN_TURN.reset(in_turn)
        held.close()
