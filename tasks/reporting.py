"""What a person sees of a run: progress while it runs, and a summary at the end."""

import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import PrefectFuture, as_completed
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tasks.core.batches import Batch
from tasks.core.mapreduce import MapCounters, MapOutput, Split
from tasks.core.settings import MAX_REJECT_RATE
from tasks.kit.discovery import Discovery
from tasks.observability.audit import CheckResult
from tasks.observability.monitoring import (
    COMPLETED,
    FAILED,
    REJECTS_OVER_THRESHOLD,
    batches_over_threshold,
    percent,
    reject_rate,
    threshold_message,
    threshold_percent,
)
from tasks.pipelines.billing.invoicing import Invoicing
from tasks.pipelines.migrate.migration import PIPELINE as MIGRATION
from tasks.pipelines.migrate.migration import MigrationPlan, TableOutcome, TablePlan
from tasks.pipelines.migrate.migration import report_rows as migration_report_rows
from tasks.pipelines.sales.source import ModelSummary
from tasks.reports.report import Report, chart_data_url, key_figures
from tasks.warehouse.loads import BatchOutcome


@dataclass(frozen=True)
class RunSummary:
    """Totals of one run, for the artifact, the log and the caller."""

    pipeline: str
    source: str
    warehouse: str
    batches: list[BatchOutcome]
    already_loaded: int
    marts_refreshed_days: int | None  # None: the pipeline has no marts to rebuild
    seconds: float
    failures: list[str] = field(default_factory=list)
    max_reject_rate: float = MAX_REJECT_RATE  # a loaded batch rejecting more than this share fails the run
    peak_memory_bytes: int | None = None  # the flow process's peak RSS when it reported; None: not measurable
    half_written: tuple[str, ...] = ()  # logs whose last line is still being written: it loads on a later run

    @property
    def rows_in(self) -> int:
        return sum(batch.rows_in for batch in self.batches)

    @property
    def rows_loaded(self) -> int:
        return sum(batch.rows_loaded for batch in self.batches)

    @property
    def rows_rejected(self) -> int:
        return sum(batch.rows_rejected for batch in self.batches)

    @property
    def bytes_read(self) -> int:
        return sum(batch.bytes_read for batch in self.batches)

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.seconds if self.seconds else 0.0

    @property
    def reject_rate(self) -> float | None:
        """Rows rejected / rows in over the run; None when it read nothing."""
        return reject_rate(self.rows_rejected, self.rows_in)

    @property
    def max_batch_reject_rate(self) -> float | None:
        rates = [reject_rate(batch.rows_rejected, batch.rows_in) for batch in self.batches]
        return max((rate for rate in rates if rate is not None), default=None)

    @property
    def over_threshold(self) -> list[BatchOutcome]:
        """The loaded batches whose reject rate is over `max_reject_rate`: loaded and quarantined, but they fail
        the run."""
        return batches_over_threshold(self.batches, self.max_reject_rate)

    @property
    def problems(self) -> list[str]:
        """Why the run is not Completed: its failed batches, then its batches over the reject-rate threshold."""
        problems = []
        if self.failures:
            problems.append(f"{len(self.failures)} batch(es) failed: " + "; ".join(self.failures))
        if self.over_threshold:
            problems.append(threshold_message(self.over_threshold, self.max_reject_rate))
        return problems

    @property
    def state(self) -> str:
        """meta.runs.state: completed, failed (a batch failed), or rejects_over_threshold (every batch loaded)."""
        if self.failures:
            return FAILED
        return REJECTS_OVER_THRESHOLD if self.over_threshold else COMPLETED


class BatchProgress:
    """One batch's staging progress: a Prefect progress artifact on its task run, and a log line every 10%."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.artifact_id = create_progress_artifact(0.0, description=f"staging {batch.path.name}")
        self.logged_tenths = 0

    def report(self, fraction: float) -> None:
        update_progress_artifact(self.artifact_id, 100.0 * fraction)
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
    artifact_id = create_progress_artifact(0.0, description=f"{what}: {unit} done out of {total}")
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
            update_progress_artifact(artifact_id, 100.0 * done / total)
    if not total:
        update_progress_artifact(artifact_id, 100.0)


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


class CopyProgress:
    """One table's copy progress: a Prefect progress artifact on its task run (created at the first report, which
    says where a resumed copy starts), and a log line every 10%."""

    def __init__(self, plan: TablePlan):
        self.plan = plan
        self.artifact_id = None
        self.logged_tenths = 0

    def report(self, rows_read: int, total_rows: int) -> None:
        fraction = min(rows_read / max(total_rows, 1), 1.0)
        tenths = int(fraction * 10)
        if self.artifact_id is None:
            self.artifact_id = create_progress_artifact(
                100.0 * fraction, description=f"copying {self.plan.description}"
            )
            self.logged_tenths = tenths
            return
        update_progress_artifact(self.artifact_id, 100.0 * fraction)
        if tenths > self.logged_tenths and fraction < 1.0:
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


def summarize(
    pipeline: str,
    discovery: Discovery,
    warehouse: str,
    followed: FollowedBatches,
    marts_refreshed_days: int | None,
    max_reject_rate: float = MAX_REJECT_RATE,
    peak_memory_bytes: int | None = None,
) -> RunSummary:
    batches = sorted(followed.outcomes, key=lambda batch: batch.source)
    failures = [f"{batch.source}: {batch.error}" for batch in batches if batch.status == "failed"] + followed.errors
    return RunSummary(
        pipeline=pipeline,
        source=discovery.source,
        warehouse=warehouse,
        batches=batches,
        already_loaded=discovery.already_loaded,
        marts_refreshed_days=marts_refreshed_days,
        seconds=time.time() - discovery.started_at,
        failures=failures,
        max_reject_rate=max_reject_rate,
        peak_memory_bytes=peak_memory_bytes,
        half_written=discovery.half_written,
    )


def publish_summary(summary: RunSummary) -> None:
    """A table artifact (one row per batch, then totals), a markdown artifact, and a log line."""
    rows = [
        {
            "source": batch.source,
            "status": batch.status,
            "rows in": batch.rows_in,
            "loaded": batch.rows_loaded,
            "rejected": batch.rows_rejected,
            "reject rate": _rate(reject_rate(batch.rows_rejected, batch.rows_in)),
            "seconds": round(batch.seconds, 2),
            "error": batch.error or ("over the reject-rate threshold" if batch in summary.over_threshold else ""),
        }
        for batch in summary.batches
    ]
    rows.append(
        {
            "source": "TOTAL",
            "status": _total_status(summary),
            "rows in": summary.rows_in,
            "loaded": summary.rows_loaded,
            "rejected": summary.rows_rejected,
            "reject rate": _rate(summary.reject_rate),
            "seconds": round(summary.seconds, 2),
            "error": "",
        }
    )
    key = summary.pipeline.replace("_", "-")
    create_table_artifact(rows, key=f"{key}-batches", description=f"{summary.pipeline}: batches of this run")
    create_markdown_artifact(
        render_markdown(summary), key=f"{key}-summary", description=f"{summary.pipeline}: run summary"
    )
    marts = "" if summary.marts_refreshed_days is None else f"; marts rebuilt for {summary.marts_refreshed_days} days"
    logger = get_run_logger()
    logger.info(
        "%s: %d batches loaded, %d already loaded, %d failed; %s rows in, %s loaded, %s rejected (%s); %.1f s, "
        "%s rows/s, peak memory %s%s",
        summary.pipeline,
        sum(batch.status == "loaded" for batch in summary.batches),
        summary.already_loaded,
        len(summary.failures),
        f"{summary.rows_in:,}",
        f"{summary.rows_loaded:,}",
        f"{summary.rows_rejected:,}",
        _rate(summary.reject_rate) or "no rows",
        summary.seconds,
        f"{summary.rows_per_second:,.0f}",
        _mebibytes(summary.peak_memory_bytes),
        marts,
    )
    if summary.half_written:
        logger.info("%s", half_written_message(summary.half_written))
    if summary.over_threshold:
        logger.error("%s", threshold_message(summary.over_threshold, summary.max_reject_rate))


def half_written_message(names: tuple[str, ...]) -> str:
    return (
        f"{len(names)} file(s) end in a half-written line, loaded up to their last complete line; the rest loads "
        f"once its line ends (or the file is rotated): {', '.join(names)}"
    )


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.2%}"


def _mebibytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**20:,.0f} MiB"


def _total_status(summary: RunSummary) -> str:
    verdicts = [f"{len(summary.failures)} failed"] if summary.failures else []
    if summary.over_threshold:
        verdicts.append(f"{len(summary.over_threshold)} over the reject-rate threshold")
    return ", ".join(verdicts) or "ok"


def render_markdown(summary: RunSummary) -> str:
    lines = [
        f"# {summary.pipeline} run",
        "",
        f"Source `{summary.source}` into warehouse `{summary.warehouse}`.",
        "",
        "| batches loaded | already loaded | failed | rows in | loaded | rejected | reject rate | seconds | rows/s "
        "| MB read | peak memory |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {sum(b.status == 'loaded' for b in summary.batches)} | {summary.already_loaded} | {len(summary.failures)} "
        f"| {summary.rows_in:,} | {summary.rows_loaded:,} | {summary.rows_rejected:,} "
        f"| {_rate(summary.reject_rate) or '-'} | {summary.seconds:.1f} "
        f"| {summary.rows_per_second:,.0f} | {summary.bytes_read / 1e6:,.1f} | {_mebibytes(summary.peak_memory_bytes)} |",
        "",
        f"Reject-rate threshold per batch: {threshold_percent(summary.max_reject_rate)}"
        + (
            f"; the worst batch rejected {percent(summary.max_batch_reject_rate)}."
            if summary.max_batch_reject_rate is not None
            else "."
        ),
    ]
    if summary.marts_refreshed_days is not None:
        lines += ["", f"Marts rebuilt for {summary.marts_refreshed_days} days."]
    if summary.half_written:
        lines += ["", half_written_message(summary.half_written) + "."]
    if summary.failures:
        lines += ["", "## Failed batches", ""] + [f"- {failure}" for failure in summary.failures]
    if summary.over_threshold:
        lines += [
            "",
            f"## Over the {threshold_percent(summary.max_reject_rate)} reject-rate threshold",
            "",
            "Loaded, with their rejects in `meta.rejects`; the run ends Failed.",
            "",
            "| batch | rows in | rejected | reject rate |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {batch.source} | {batch.rows_in:,} | {batch.rows_rejected:,} "
            f"| {percent(batch.rows_rejected / batch.rows_in, summary.max_reject_rate)} |"
            for batch in summary.over_threshold
        ]
    return "\n".join(lines)


# Hadoop's names for the counters a MapReduce run keeps, so that its users recognise them.
COUNTER_NAMES = {
    "documents": "Input files",
    "splits": "Input splits (map tasks)",
    "partitions": "Reduce partitions (reduce tasks)",
    "records_read": "Map input records",
    "bytes_read": "Map input bytes",
    "map_output_records": "Map output records",
    "combine_input_records": "Combine input records",
    "combine_output_records": "Combine output records",
    "spilled_records": "Spilled records",
    "spilled_bytes": "Spilled bytes",
    "reduce_input_records": "Reduce input records",
    "reduce_input_groups": "Reduce input groups",
}


def publish_counters(pipeline: str, counters: dict[str, object]) -> None:
    """A table artifact of the run's MapReduce counters, by Hadoop's names."""
    rows = [
        {
            "counter": COUNTER_NAMES.get(name) or f"Reduce output records ({name.removesuffix('_output_records')})",
            "value": value,
        }
        for name, value in counters.items()
        if name in COUNTER_NAMES or name.endswith("_output_records") and name != "map_output_records"
    ]
    key = pipeline.replace("_", "-")
    create_table_artifact(rows, key=f"{key}-counters", description=f"{pipeline}: MapReduce counters of this run")


def publish_model_summary(summary: ModelSummary) -> None:
    """A markdown artifact of the sales star schema's counts and the FX rates its revenue waits for; a warning in
    the log for each missing rate, since revenue_usd stays unknown (never guessed) until the rate arrives."""
    lines = ["# Sales star schema", "", "| | rows |", "|---|---:|"]
    lines += [f"| {name.replace('_', ' ')} | {value:,} |" for name, value in summary.counts.items()]
    if summary.missing_fx_rates:
        lines += ["", "## Missing FX rates: revenue_usd unknown", "", "| day | currency | orders |", "|---|---|---:|"]
        lines += [f"| {day} | {currency} | {orders:,} |" for day, currency, orders in summary.missing_fx_rates]
    create_markdown_artifact("\n".join(lines), key="sales-model", description="sales: the star schema after this run")
    logger = get_run_logger()
    logger.info(
        "sales model: %s", ", ".join(f"{value:,} {name.replace('_', ' ')}" for name, value in summary.counts.items())
    )
    for day, currency, orders in summary.missing_fx_rates:
        logger.warning(
            "no %s rate for %s: revenue_usd of %d shipped/completed order(s) is unknown", currency, day, orders
        )


def publish_invoicing(invoicing: Invoicing, documents: list[Path]) -> None:
    """A markdown artifact of the period's invoicing: invoices issued now and before, totals per currency, where the
    documents are, and the usage that could not be billed; warnings in the log for the exceptions."""
    lines = [
        f"# Invoices for {invoicing.period}",
        "",
        f"{len(invoicing.issued)} issued by this run, {invoicing.already_issued} issued before; "
        f"{len(documents)} documents in `{documents[0].parent if documents else '-'}`.",
        "",
        "| currency | invoices | total |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {currency} | {count:,} | {total:,} |" for currency, (count, total) in invoicing.totals_by_currency.items()
    ]
    if invoicing.exceptions:
        lines += [
            "",
            f"## {len(invoicing.exceptions):,} exceptions: usage not billed, subscriptions without a priced plan",
            "",
            "| customer | event | metric | quantity | reason |",
            "|---|---|---|---:|---|",
        ]
        lines += [
            f"| {customer} | {event} | {metric} | {quantity} | {reason} |"
            for customer, event, metric, quantity, reason in invoicing.exceptions[:EXCEPTIONS_SHOWN]
        ]
    create_markdown_artifact(
        "\n".join(lines), key="billing-invoices", description=f"billing: invoices for {invoicing.period}"
    )
    logger = get_run_logger()
    logger.info(
        "%s: %d invoices issued, %d issued before; totals %s",
        invoicing.period,
        len(invoicing.issued),
        invoicing.already_issued,
        ", ".join(f"{currency} {total:,}" for currency, (_, total) in invoicing.totals_by_currency.items()) or "none",
    )
    if invoicing.exceptions:
        logger.warning(
            "%s: %d exceptions: usage not billed, or subscriptions without a priced plan (table billing.exceptions)",
            invoicing.period,
            len(invoicing.exceptions),
        )


# Exceptions listed in the artifact; the table holds all of them.
EXCEPTIONS_SHOWN = 50


PIPELINE_COMPLETED = "batchyard.pipeline.completed"


def completion_event(summary: RunSummary, flow_run_id: str) -> dict:
    """The arguments of `prefect.events.emit_event` saying that a pipeline's run completed: downstream deployments
    trigger on it. Prefect's own `prefect.flow-run.Completed` reaches triggers up to 15 minutes late when the run
    came from a cron schedule (../shared/STACK.md); this event is sent by the run itself, at once."""
    return pipeline_event(
        PIPELINE_COMPLETED,
        summary,
        flow_run_id,
        batches_loaded=len(summary.batches),
        rows_loaded=summary.rows_loaded,
        rows_rejected=summary.rows_rejected,
        marts_refreshed_days=summary.marts_refreshed_days,
    )


def pipeline_event(event: str, summary: RunSummary, flow_run_id: str, **payload: object) -> dict:
    """The arguments of `prefect.events.emit_event` for an event about a pipeline's run: on the resource
    `batchyard.pipeline.<pipeline>` that automations and triggers match, with the flow run as a related resource and
    the run's pipeline, flow run id, warehouse and source in the payload, before `payload`."""
    return {
        "event": event,
        "resource": {
            "prefect.resource.id": f"batchyard.pipeline.{summary.pipeline}",
            "prefect.resource.name": summary.pipeline,
            "batchyard.pipeline": summary.pipeline,
        },
        "related": [{"prefect.resource.id": f"prefect.flow-run.{flow_run_id}", "prefect.resource.role": "flow-run"}],
        "payload": {
            "pipeline": summary.pipeline,
            "flow_run_id": flow_run_id,
            "warehouse": summary.warehouse,
            "source": summary.source,
        }
        | payload,
    }


REJECTS_OVER_THRESHOLD_EVENT = "batchyard.pipeline.rejects-over-threshold"


def rejects_event(summary: RunSummary, flow_run_id: str) -> dict:
    """The arguments of `prefect.events.emit_event` saying that some of the run's batches rejected more than the
    threshold allows (they loaded): an automation alerts on it (deployments/automations.yaml)."""
    return pipeline_event(
        REJECTS_OVER_THRESHOLD_EVENT,
        summary,
        flow_run_id,
        threshold=summary.max_reject_rate,
        message=threshold_message(summary.over_threshold, summary.max_reject_rate),
        batches=[
            {
                "source": batch.source,
                "rows_in": batch.rows_in,
                "rows_rejected": batch.rows_rejected,
                "reject_rate": batch.rows_rejected / batch.rows_in,
            }
            for batch in summary.over_threshold
        ],
    )


def run_record(summary: RunSummary, flow_run_id: str, flow_run_name: str | None, finished_at: datetime) -> dict:
    """The run's row of meta.runs (column: value)."""
    problems = summary.problems
    return {
        "pipeline": summary.pipeline,
        "flow_run_id": flow_run_id,
        "flow_run_name": flow_run_name,
        "started_at": finished_at - timedelta(seconds=summary.seconds),
        "finished_at": finished_at,
        "state": summary.state,
        "reason": ". ".join(problems) if problems else None,
        "batches": sum(batch.status == "loaded" for batch in summary.batches),
        "batches_failed": len(summary.failures),
        "already_loaded": summary.already_loaded,
        "rows_in": summary.rows_in,
        "rows_loaded": summary.rows_loaded,
        "rows_rejected": summary.rows_rejected,
        "reject_rate": summary.reject_rate,
        "max_batch_reject_rate": summary.max_batch_reject_rate,
        "reject_rate_threshold": summary.max_reject_rate,
        "bytes_read": summary.bytes_read,
        "seconds": summary.seconds,
        "rows_per_second": summary.rows_per_second if summary.rows_in else None,
        "peak_memory_bytes": summary.peak_memory_bytes,
    }


def final_state(summary: RunSummary) -> State:
    """Completed; or Failed, once every other batch has loaded, naming the failed batches and those whose reject rate
    is over the threshold. Prefect has no Warning state type, and a custom state name would change the
    `prefect.flow-run.<name>` event that alerting on failed runs matches: so Failed, with the reason."""
    if summary.problems:
        return Failed(message=". ".join(summary.problems), data=summary)
    return Completed(message=f"{summary.rows_loaded:,} rows loaded, {summary.rows_rejected:,} rejected", data=summary)


def publish_audit(results: list[CheckResult], warehouse: str, upstream_flow_run_id: str | None) -> None:
    """A table artifact with one row per check, and a log line with the verdict."""
    rows = [
        {
            "component": result.component,
            "check": result.name,
            "verdict": "ok" if result.passed else "FAILED",
            "violations": result.violations,
            "examples": result.examples,
        }
        for result in results
    ]
    after = f" after flow run {upstream_flow_run_id}" if upstream_flow_run_id else ""
    create_table_artifact(rows, key="warehouse-audit", description=f"Audit of {warehouse}{after}")
    get_run_logger().info("%s%s: %s", warehouse, after, audit_verdict(results))


def audit_verdict(results: list[CheckResult]) -> str:
    failed = [
        f"{result.component}.{result.name} ({result.violations:,} rows)" for result in results if not result.passed
    ]
    if failed:
        return f"{len(failed)} of {len(results)} checks failed: " + ", ".join(failed)
    return f"all {len(results)} checks passed"


def audit_state(results: list[CheckResult]) -> State:
    """Completed when every check passed; Failed naming the broken invariants otherwise."""
    verdict = audit_verdict(results)
    if all(result.passed for result in results):
        return Completed(message=verdict, data=results)
    return Failed(message=verdict, data=results)


@dataclass(frozen=True)
class ReportSummary:
    """What a report run made: the period, the page, the sections shown and the headline figures."""

    period: str  # daily | weekly | monthly
    label: str
    first_day: str
    last_day: str
    path: str
    sections: list[str]
    figures: list[tuple[str, str]]


def summarize_report(report: Report, path: Path) -> ReportSummary:
    sections = [
        name
        for name, section in (
            ("traffic", report.traffic),
            ("sessions", report.sessions),
            ("revenue", report.sales),
            ("invoices", report.billing),
        )
        if section is not None
    ]
    return ReportSummary(
        period=report.period.kind,
        label=report.period.label,
        first_day=report.period.first_day.isoformat(),
        last_day=report.period.last_day.isoformat(),
        path=str(path),
        sections=sections,
        figures=key_figures(report),
    )


def render_report_markdown(summary: ReportSummary, as_of: str) -> str:
    uri = Path(summary.path).resolve().as_uri()
    lines = [
        f"# {summary.period.capitalize()} report {summary.label}",
        "",
        f"Period {summary.first_day} to {summary.last_day} (UTC); data as of {as_of}.",
        "",
        f"The report: [{Path(summary.path).name}]({uri}) (`{summary.path}` on the machine that ran this flow).",
        "",
    ]
    if summary.figures:
        lines += ["| figure | value |", "|---|---:|"]
        lines += [f"| {name} | {value} |" for name, value in summary.figures]
    else:
        lines.append("The warehouse holds no loaded access logs, sales or billing data yet: nothing to report.")
    lines += ["", f"Sections: {', '.join(summary.sections) or 'none'}."]
    return "\n".join(lines)


def publish_report(report: Report, path: Path) -> ReportSummary:
    """A markdown artifact with the key figures and a link to the page, an image artifact of its main chart (an SVG
    data URL, which the Prefect UI shows as an image without fetching anything), and a log line."""
    summary = summarize_report(report, path)
    as_of = report.as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if report.as_of else "no load yet"
    key = f"report-{summary.period}"
    create_markdown_artifact(
        render_report_markdown(summary, as_of), key=key, description=f"{summary.period} report {summary.label}"
    )
    image = chart_data_url(report)
    if image is not None:
        create_image_artifact(
            image_url=image, key=f"{key}-chart", description=f"{summary.period} report {summary.label}: main chart"
        )
    get_run_logger().info(
        "%s report %s written to %s: %s",
        summary.period,
        summary.label,
        summary.path,
        "; ".join(f"{name} {value}" for name, value in summary.figures) or "no data loaded yet",
    )
    return summary
