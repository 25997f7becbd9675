"""What a person sees while a run works: a progress bar in the terminal and progress artifacts in the UI, per
batch, and the outcomes of the batches' futures gathered as they finish."""

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prefect.artifacts import (
    create_progress_artifact,
    update_progress_artifact,
)
from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tasks.core.batches import Batch
from tasks.core.mapreduce import MapCounters, MapOutput, Split
from tasks.warehouse.loads import BatchOutcome

# A progress artifact is updated at most this often, and once at the end. Each update is a write to the server's
# database: a run staging 56 files sent 179 (two of them for the end of each one-chunk file), and on a SQLite-backed
# server a burst of writes makes other requests fail with "database is locked" (503), each retried after 2, 4, 8 s:
# the write turn's request among them (docs/performance.md, sales).
PROGRESS_EVERY_SECONDS = 1.0


class ProgressArtifact:
    """A Prefect progress artifact, written at most once every PROGRESS_EVERY_SECONDS and once at the end; created
    at once, or (`lazily`) only for work still going after that long: a batch staged within a second, as most
    export files are, shows none (its run's progress counts it), which saved the server two writes per file."""

    def __init__(self, description: str, lazily: bool = False):
        self.description = description
        self.artifact_id = None if lazily else create_progress_artifact(0.0, description=description)
        self.shown = 0.0
        self.shown_at = time.monotonic()

    def show(self, fraction: float) -> None:
        now = time.monotonic()
        due = now - self.shown_at >= PROGRESS_EVERY_SECONDS
        if self.artifact_id is None:
            if due and fraction < 1.0:
                self.artifact_id = create_progress_artifact(100.0 * fraction, description=self.description)
                self.shown, self.shown_at = fraction, now
        elif fraction > self.shown and (fraction >= 1.0 or due):
            update_progress_artifact(self.artifact_id, 100.0 * fraction)
            self.shown, self.shown_at = fraction, now


class BatchProgress:
    """One batch's staging progress: a Prefect progress artifact on its task run once it takes more than a second,
    and a log line every 10%."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.artifact = ProgressArtifact(f"staging {batch.path.name}", lazily=True)
        self.logged_tenths = 0

    def report(self, fraction: float) -> None:
        self.artifact.show(fraction)
        tenths = int(fraction * 10)
        if tenths > self.logged_tenths and fraction < 1.0:
            self.logged_tenths = tenths
            get_run_logger().info(
                "%s: %d%% staged (%s of %s MB as stored)",
                self.batch.path.name,
                tenths * 10,
                f"{fraction * self.batch.size_bytes / 1e6:,.0f}",
                f"{self.batch.size_bytes / 1e6:,.0f}",
            )


@dataclass(frozen=True)
class FollowedBatches:
    """The ledger outcomes of the batches, and the errors of loads that failed after their retries (those could not
    reach the warehouse to be recorded there)."""

    outcomes: list[BatchOutcome]
    errors: list[str]


def completed_in_turn(futures: Sequence[PrefectFuture], what: str, unit: str) -> Iterator[PrefectFuture]:
    """Yield `futures` as they finish, showing how many have in the Prefect UI (a progress artifact) and, run by
    hand, as a terminal bar."""
    total = len(futures)
    artifact = ProgressArtifact(f"{what}: {unit} done out of {total}")
    with Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        transient=False,
    ) as bar:
        task_bar = bar.add_task(what, total=total)
        for done, future in enumerate(as_completed(futures), start=1):
            yield future
            bar.advance(task_bar)
            artifact.show(done / total)
    if not total:
        artifact.show(1.0)


def follow_progress(futures: Sequence[PrefectFuture], batches: Sequence[Batch], what: str) -> FollowedBatches:
    """Wait for `futures` (one per batch, in the same order), showing progress and logging each batch's outcome."""
    logger = get_run_logger()
    batch_of = {id(future): batch for future, batch in zip(futures, batches, strict=True)}
    outcomes: list[BatchOutcome] = []
    errors: list[str] = []
    for future in completed_in_turn(futures, what, "batches"):
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - one failed batch must not stop the others being followed
            source = batch_of[id(future)].source
            errors.append(f"{source}: {type(error).__name__}: {error}")
            logger.error("%s could not be loaded after its retries: %s", source, error)
        else:
            outcomes.append(outcome)
            if outcome.error:
                logger.error("%s failed: %s", outcome.source, outcome.error)
            else:
                logger.info(
                    "%s: %s rows in, %s loaded, %s rejected",
                    outcome.source,
                    f"{outcome.rows_in:,}",
                    f"{outcome.rows_loaded:,}",
                    f"{outcome.rows_rejected:,}",
                )
    return FollowedBatches(outcomes=outcomes, errors=errors)


def follow_maps(futures: Sequence[PrefectFuture], splits: Sequence[Split], what: str) -> list[MapOutput]:
    """Wait for the map tasks (one per split, in the same order), showing progress; a map that failed after its
    retries becomes a MapOutput with its error, which fails its batch and no other."""
    split_of = {id(future): split for future, split in zip(futures, splits, strict=True)}
    outputs = []
    for future in completed_in_turn(futures, what, "splits"):
        try:
            outputs.append(future.result())
        except Exception as error:  # noqa: BLE001 - one failed split must not stop the other batches
            split = split_of[id(future)]
            get_run_logger().error("%s could not be mapped after its retries: %s", split.description, error)
            outputs.append(MapOutput(split, "", MapCounters(), error=f"{type(error).__name__}: {error}"))
    return outputs
