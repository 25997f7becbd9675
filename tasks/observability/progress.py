"""What a person sees while a run works: a progress bar in the terminal and progress artifacts in the UI, per
batch, and the outcomes of the batches' futures gathered as they finish."""

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from time import monotonic

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
    at once (at `start`, the fraction already done, as for a resumed copy), or (`lazily`) only for work still going
    after that long: a batch staged within a second, as most export files are, shows none (its run's progress counts
    it), which saved the server two writes per file."""

    def __init__(self, description: str, lazily: bool = False, start: float = 0.0):
        self.description = description
        self.artifact_id = None if lazily else create_progress_artifact(100.0 * start, description=description)
        self.shown = start
        self.shown_at = monotonic()

    def show(self, fraction: float) -> None:
        now = monotonic()
        due = now - self.shown_at >= PROGRESS_EVERY_SECONDS
        if self.artifact_id is None:
            if due and fraction < 1.0:
                self.artifact_id = create_progress_artifact(100.0 * fraction, description=self.description)
                self.shown, self.shown_at = fraction, now
        elif fraction > self.shown and (fraction >= 1.0 or due):
            update_progress_artifact(self.artifact_id, 100.0 * fraction)
            self.shown, self.shown_at = fraction, now


def tenth_to_log(logged_tenths: int, fraction: float) -> int | None:
    """The tenth of the work to log as done, if `fraction` has passed a tenth beyond `logged_tenths` and the work
    is not finished (its outcome says that); else None."""
    tenths = int(fraction * 10)
    return tenths if tenths > logged_tenths and fraction < 1.0 else None


class BatchProgress:
    """One batch's staging progress: a Prefect progress artifact on its task run once it takes more than a second,
    and a log line every 10%."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.artifact = ProgressArtifact(f"staging {batch.path.name}", lazily=True)
        self.logged_tenths = 0

    def report(self, fraction: float) -> None:
        self.artifact.show(fraction)
        if (tenths := tenth_to_log(self.logged_tenths, fraction)) is not None:
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


class RunProgress:
    """How many of a run's `total` units of work are done: a progress artifact in the Prefect UI and, run by hand, a
    terminal bar; a context manager, `advance()` after each unit."""

    def __init__(self, what: str, unit: str, total: int):
        self.total = total
        self.done = 0
        self.artifact = ProgressArtifact(f"{what}: {unit} done out of {total}")
        self.bar = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not sys.stderr.isatty(),
            transient=False,
        )
        self.bar_task = self.bar.add_task(what, total=total)

    def __enter__(self) -> "RunProgress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.__exit__(*exc_info)
        if not self.total:
            self.artifact.show(1.0)

    def advance(self) -> None:
        self.done += 1
        self.bar.advance(self.bar_task)
        self.artifact.show(self.done / self.total)


def completed_in_turn(futures: Sequence[PrefectFuture], what: str, unit: str) -> Iterator[PrefectFuture]:
    """Yield `futures` as they finish, showing how many have (RunProgress)."""
    with RunProgress(what, unit, len(futures)) as progress:
        for future in as_completed(futures):
            yield future
            progress.advance()


class LoadsFollowed(RunProgress):
    """A run's loads as they end, one per batch: each outcome logged (rows in, loaded, rejected, or why it failed) and
    counted in the run's progress, gathered for its summary (`followed`)."""

    def __init__(self, what: str, total: int):
        super().__init__(what, "batches", total)
        self.outcomes: list[BatchOutcome] = []
        self.errors: list[str] = []

    def loaded(self, outcome: BatchOutcome) -> None:
        """A batch's outcome as its ledger row has it: loaded, or failed with its error."""
        self.outcomes.append(outcome)
        logger = get_run_logger()
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
        self.advance()

    def not_loaded(self, batch: Batch, error: BaseException) -> None:
        """A batch whose load failed after its retries: it could not reach the warehouse to be recorded there."""
        self.errors.append(f"{batch.source}: {type(error).__name__}: {error}")
        get_run_logger().error("%s could not be loaded after its retries: %s", batch.source, error)
        self.advance()

    def followed(self) -> FollowedBatches:
        return FollowedBatches(outcomes=self.outcomes, errors=self.errors)


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
