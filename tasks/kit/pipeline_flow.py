"""The body every file pipeline's flow shares: discover → stage → load in the run's write turn → rebuild the marts →
report → announce. A flow calls it from its own body, so its tasks are the flow run's tasks, as if written there; the
flow declares only what differs (its export family, its mart settings, its own steps after the rebuild), and cannot
leave out the write turn, a failed staging's way to the ledger, the summary or the announcement."""

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from prefect import unmapped
from prefect.futures import PrefectFuture
from prefect.states import State
from prefect.utilities.annotations import quote

from tasks.core.batches import Batch
from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.core.staging import StagedBatch
from tasks.kit.discovery import Discovery
from tasks.kit.exports import ExportFamily
from tasks.kit.steps import (
    announce_completion,
    discover_batches,
    load_batches,
    plan_export_batches,
    rebuild_marts,
    report_run,
    stage_file_batch,
)
from tasks.observability.summaries import final_state
from tasks.warehouse.connection import EarlyWriteTurn, write_turn_for
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
    reaches the ledger with its error (`load_batches`, one task following the staging tasks); rebuild the pipeline's
    marts (with `mart_settings` over the defaults); then `after_rebuild`, the pipeline's own steps on the loaded
    warehouse. After the turn: record and publish the run's summary (with the number of mart days rebuilt, unless
    `report_mart_days` is off because the marts are rebuilt whole) and announce it. Returns the run's final state,
    its summary as data."""
    with write_turn.held():
        # quoted: the loads follow the staging tasks as they end, rather than wait for all of them
        targets = [tables.unwrap()] * len(batches) if isinstance(tables, unmapped) else list(tables)
        followed = load_batches(quote(staged), batches, targets, warehouse, what)
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
