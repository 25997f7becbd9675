"""What a person sees of a migration: each table's copy progress, the tables' verdicts as they finish, and the
run's table artifact and summary."""

import time

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger

from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.observability.progress import ProgressArtifact, completed_in_turn, tenth_to_log
from tasks.observability.summaries import RunSummary, render_markdown
from tasks.pipelines.migrate.migration import PIPELINE as MIGRATION
from tasks.pipelines.migrate.migration import MigrationPlan, TableOutcome, TablePlan
from tasks.pipelines.migrate.migration import report_rows as migration_report_rows
from tasks.warehouse.loads import BatchOutcome


class CopyProgress:
    """One table's copy progress: a Prefect progress artifact on its task run (ProgressArtifact: written at most once
    a second and at the end), created at the first report, which says where a resumed copy starts, and a log line
    every 10%."""

    def __init__(self, plan: TablePlan):
        self.plan = plan
        self.artifact: ProgressArtifact | None = None
        self.logged_tenths = 0

    def report(self, rows_read: int, total_rows: int) -> None:
        fraction = min(rows_read / max(total_rows, 1), 1.0)
        if self.artifact is None:
            self.artifact = ProgressArtifact(f"copying {self.plan.description}", start=fraction)
            self.logged_tenths = int(fraction * 10)
            return
        self.artifact.show(fraction)
        if (tenths := tenth_to_log(self.logged_tenths, fraction)) is not None:
            self.logged_tenths = tenths
            get_run_logger().info("%s: %d%% copied (%s rows)", self.plan.description, tenths * 10, f"{rows_read:,}")


def follow_tables(futures: list[PrefectFuture], plans: list[TablePlan]) -> list[TableOutcome]:
    """Wait for each table's verification (one future per plan, in order), showing progress and logging verdicts."""
    logger = get_run_logger()
    plan_of = {id(future): plan for future, plan in zip(futures, plans, strict=True)}
    outcomes = []
    for future in completed_in_turn(futures, "migrate", "tables"):
        plan = plan_of[id(future)]
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - one failed table must not stop the others being followed
            outcome = TableOutcome(
                plan.source_table, plan.target_table, "failed", 0, 0, 0, 0.0, f"{type(error).__name__}: {error}"
            )
        if outcome.error:
            logger.error("%s failed: %s", plan.description, outcome.error)
        else:
            logger.info(
                "%s: %s, %s rows in, %s loaded, %s rejected",
                plan.description,
                outcome.verdict,
                f"{outcome.rows_in:,}",
                f"{outcome.rows_loaded:,}",
                f"{outcome.rows_rejected:,}",
            )
        outcomes.append(outcome)
    return sorted(outcomes, key=lambda outcome: outcome.table)


def summarize_migration(
    plan: MigrationPlan,
    warehouse: str,
    outcomes: list[TableOutcome],
    max_reject_rate: float = MAX_REJECT_RATE,
    peak_memory_bytes: int | None = None,
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS,
) -> RunSummary:
    """The run's summary, one batch per table copied or failed; unchanged tables count as already loaded."""
    return RunSummary(
        pipeline=MIGRATION,
        source=plan.source,
        warehouse=warehouse,
        batches=[
            BatchOutcome(
                "",
                f"{plan.source}#{outcome.table}",
                "failed" if outcome.error else "loaded",
                outcome.rows_in,
                outcome.rows_loaded,
                outcome.rows_rejected,
                0,
                outcome.seconds,
                outcome.error,
            )
            for outcome in outcomes
            if outcome.verdict != "unchanged"
        ],
        already_loaded=sum(outcome.verdict == "unchanged" for outcome in outcomes),
        marts_refreshed_days=None,
        seconds=time.time() - plan.started_at,
        failures=[f"{outcome.table}: {outcome.error}" for outcome in outcomes if outcome.error],
        max_reject_rate=max_reject_rate,
        reject_rate_min_rows=reject_rate_min_rows,
        peak_memory_bytes=peak_memory_bytes,
    )


def publish_migration(plan: MigrationPlan, summary: RunSummary, outcomes: list[TableOutcome]) -> None:
    """A table artifact with one row per table, the run's markdown summary, and a log line."""
    create_table_artifact(
        migration_report_rows(outcomes), key="migrate-tables", description=f"migrate: tables from {plan.source}"
    )
    create_markdown_artifact(render_markdown(summary), key="migrate-summary", description="migrate: run summary")
    get_run_logger().info(
        "migrate %s: %d table(s) copied, %d unchanged, %d failed; %s rows in, %s loaded, %s rejected; %.1f s",
        plan.source,
        sum(outcome.verdict == "copied" for outcome in outcomes),
        summary.already_loaded,
        len(summary.failures),
        f"{summary.rows_in:,}",
        f"{summary.rows_loaded:,}",
        f"{summary.rows_rejected:,}",
        summary.seconds,
    )
