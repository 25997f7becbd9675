"""What a person sees at the end of a run: its summary as Prefect artifacts (a table of batches, markdown) and a
log line, the run's row of meta.runs, and its final state."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prefect.artifacts import (
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.logging import get_run_logger
from prefect.states import Completed, Failed, State

from tasks.core.settings import MAX_REJECT_RATE, REJECT_RATE_MIN_ROWS
from tasks.observability.monitoring import (
    COMPLETED,
    FAILED,
    REJECTS_OVER_THRESHOLD,
    batches_over_threshold,
    guard_rule,
    guarded_batch_reject_rate,
    percent,
    reject_rate,
    rejected_whole,
    threshold_message,
    threshold_percent,
)
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
    max_reject_rate: float = MAX_REJECT_RATE  # a loaded batch rejecting more than this share fails the run ...
    reject_rate_min_rows: int = REJECT_RATE_MIN_ROWS  # ... when it has at least this many rows
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
    def guarded_batch_reject_rate(self) -> float | None:
        """The worst reject rate among the batches the threshold applies to: those of at least
        `reject_rate_min_rows` rows, and those rejected whole."""
        return guarded_batch_reject_rate(self.batches, self.reject_rate_min_rows)

    @property
    def over_threshold(self) -> list[BatchOutcome]:
        """The loaded batches the threshold applies to (of at least `reject_rate_min_rows` rows, or rejected whole
        whatever their size) whose reject rate is over `max_reject_rate`: loaded and quarantined, but they fail the
        run."""
        return batches_over_threshold(self.batches, self.max_reject_rate, self.reject_rate_min_rows)

    @property
    def problems(self) -> list[str]:
        """Why the run is not Completed: its failed batches, then its batches over the reject-rate threshold."""
        problems = []
        if self.failures:
            problems.append(f"{len(self.failures)} batch(es) failed: " + "; ".join(self.failures))
        if self.over_threshold:
            problems.append(threshold_message(self.over_threshold, self.max_reject_rate, self.reject_rate_min_rows))
        return problems

    @property
    def state(self) -> str:
        """meta.runs.state: completed, failed (a batch failed), or rejects_over_threshold (every batch loaded)."""
        if self.failures:
            return FAILED
        return REJECTS_OVER_THRESHOLD if self.over_threshold else COMPLETED


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
            "error": batch.error or _guard_verdict(batch, summary),
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
        logger.error(
            "%s", threshold_message(summary.over_threshold, summary.max_reject_rate, summary.reject_rate_min_rows)
        )


def half_written_message(names: tuple[str, ...]) -> str:
    return (
        f"{len(names)} file(s) end in a half-written line, loaded up to their last complete line; the rest loads "
        f"once its line ends (or the file is rotated): {', '.join(names)}"
    )


def _guard_verdict(batch: BatchOutcome, summary: RunSummary) -> str:
    if batch not in summary.over_threshold:
        return ""
    return "rejected whole" if rejected_whole(batch) else "over the reject-rate threshold"


def _guarded_rate(batch: BatchOutcome, threshold: float) -> str:
    rate = percent(batch.rows_rejected / batch.rows_in, threshold)
    return f"{rate} (rejected whole)" if rejected_whole(batch) else rate


def _rate(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.2%}"


def _mebibytes(size: int | None) -> str:
    return "unknown" if size is None else f"{size / 2**20:,.0f} MiB"


def _total_status(summary: RunSummary) -> str:
    verdicts = [f"{len(summary.failures)} failed"] if summary.failures else []
    if summary.over_threshold:
        verdicts.append(f"{len(summary.over_threshold)} over the reject-rate threshold or rejected whole")
    return ", ".join(verdicts) or "ok"


def render_markdown(summary: RunSummary) -> str:
    lines = [
        f"# {summary.pipeline} run",
        "",
        f"Source `{summary.source}` into warehouse `{summary.warehouse}`.",
        "",
        # two narrow tables rather than one wide one: the UI's artifact pane is about 700 pixels wide
        "| rows in | loaded | rejected | reject rate |",
        "|---:|---:|---:|---:|",
        f"| {summary.rows_in:,} | {summary.rows_loaded:,} | {summary.rows_rejected:,} "
        f"| {_rate(summary.reject_rate) or '-'} |",
        "",
        "| batches loaded | already loaded | failed | seconds | rows/s | MB read | peak memory |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {sum(b.status == 'loaded' for b in summary.batches)} | {summary.already_loaded} | {len(summary.failures)} "
        f"| {summary.seconds:.1f} | {summary.rows_per_second:,.0f} | {summary.bytes_read / 1e6:,.1f} "
        f"| {_mebibytes(summary.peak_memory_bytes)} |",
        "",
        f"Reject-rate threshold per batch: {threshold_percent(summary.max_reject_rate)}"
        + (
            f" (batches of at least {summary.reject_rate_min_rows:,} rows, and any batch rejected whole)"
            if summary.reject_rate_min_rows > 1
            else ""
        )
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
            f"## Over {guard_rule(summary.max_reject_rate, summary.reject_rate_min_rows)}"
            + (" or rejected whole" if any(rejected_whole(batch) for batch in summary.over_threshold) else ""),
            "",
            "Loaded, with their rejects in `meta.rejects`; the run ends Failed.",
            "",
            "| batch | rows in | rejected | reject rate |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {batch.source} | {batch.rows_in:,} | {batch.rows_rejected:,} "
            f"| {_guarded_rate(batch, summary.max_reject_rate)} |"
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
    """A table artifact of the run's MapReduce counters, by Hadoop's names, their values with thousands separators
    as the summary writes them."""
    rows = [
        {
            "counter": COUNTER_NAMES.get(name) or f"Reduce output records ({name.removesuffix('_output_records')})",
            "value": f"{value:,}" if isinstance(value, int) else value,
        }
        for name, value in counters.items()
        if name in COUNTER_NAMES or name.endswith("_output_records") and name != "map_output_records"
    ]
    key = pipeline.replace("_", "-")
    create_table_artifact(rows, key=f"{key}-counters", description=f"{pipeline}: MapReduce counters of this run")


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
        "reject_rate_min_rows": summary.reject_rate_min_rows,
        "max_guarded_batch_reject_rate": summary.guarded_batch_reject_rate,
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
